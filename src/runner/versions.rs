//! `gauntlet run --prometheus-version V` and `--matrix`: which Prometheus/Alertmanager
//! pairing each scenario runs against. The flag replaces the scenarios' own
//! `stack.prometheus-version`; the matrix runs every scenario once per provisioned pairing,
//! oldest first, so the reports can set the verdicts side by side.

use crate::scenario::{Provider, Scenario};
use crate::stack::PrometheusVersion;

/// Why the requested versions cannot run (the user's input: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("--prometheus-version {0:?}: unknown version (known: {known})", known = PrometheusVersion::known())]
    Unknown(String),
    #[error("--prometheus-version {version}: Prometheus {version} (with Alertmanager {am}) is not provisioned here: {why}", am = version.alertmanager())]
    NotProvisioned {
        version: PrometheusVersion,
        why: String,
    },
    #[error(
        "--prometheus-version only applies to stacks gauntlet starts; scenario {scenario:?} uses provider `{provider}`, which keeps its own Prometheus"
    )]
    NotStarted { scenario: String, provider: String },
    #[error(
        "--matrix: no Prometheus version is provisioned here ({why}); run scripts/provision.sh"
    )]
    NoneAvailable { why: String },
}

/// The scenario with another pairing: the version and the config notes that go with it.
pub fn with_version(scenario: &Scenario, version: PrometheusVersion) -> Scenario {
    let mut s = scenario.clone();
    let old = s.stack.prometheus_version.config_notes();
    s.stack.config_notes.retain(|n| !old.contains(n));
    s.stack.config_notes.extend(version.config_notes());
    s.stack.prometheus_version = version;
    s
}

fn starts_its_stack(s: &Scenario) -> bool {
    matches!(s.stack.provider, Provider::Native | Provider::Compose)
}

/// The runs to make: each scenario with `--prometheus-version` applied, or with `--matrix`
/// once per provisioned version (scenarios on a stack gauntlet does not start run once, as
/// they are). Also returns a warning to print when the matrix has a single column.
pub fn plan(
    scenarios: &[Scenario],
    version: Option<&str>,
    matrix: bool,
) -> Result<(Vec<Scenario>, Option<String>), VersionError> {
    if matrix {
        let available = PrometheusVersion::available();
        if available.is_empty() {
            let why = PrometheusVersion::DEFAULT.missing().unwrap_or_default();
            return Err(VersionError::NoneAvailable { why });
        }
        let warning = (available.len() < PrometheusVersion::ALL.len()).then(|| {
            let missing: Vec<String> = PrometheusVersion::ALL
                .into_iter()
                .filter_map(|v| v.missing().map(|why| format!("{v}: {why}")))
                .collect();
            format!(
                "--matrix: only Prometheus {} is provisioned here, so there is nothing to compare ({})",
                available
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                missing.join("; ")
            )
        });
        let mut runs = Vec::new();
        for s in scenarios {
            if starts_its_stack(s) {
                runs.extend(available.iter().map(|v| with_version(s, *v)));
            } else {
                runs.push(s.clone());
            }
        }
        return Ok((runs, warning));
    }
    let Some(text) = version else {
        return Ok((scenarios.to_vec(), None));
    };
    let version =
        PrometheusVersion::parse(text).ok_or_else(|| VersionError::Unknown(text.to_string()))?;
    if let Some(why) = version.missing() {
        return Err(VersionError::NotProvisioned { version, why });
    }
    scenarios
        .iter()
        .map(|s| {
            if starts_its_stack(s) {
                Ok(with_version(s, version))
            } else {
                Err(VersionError::NotStarted {
                    scenario: s.name.clone(),
                    provider: format!("{:?}", s.stack.provider).to_lowercase(),
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|runs| (runs, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let text = "name: v\nload: { rate: 10/s, duration: 30s }\n";
        crate::scenario::validate_text(std::path::Path::new("v.yaml"), text).expect("valid")
    }

    #[test]
    fn a_version_brings_its_config_notes_and_takes_them_away() {
        let s = scenario();
        assert_eq!(s.stack.prometheus_version, PrometheusVersion::V2_42);
        let three = with_version(&s, PrometheusVersion::V3_16);
        assert_eq!(three.stack.prometheus_version, PrometheusVersion::V3_16);
        assert!(
            three
                .stack
                .config_notes
                .iter()
                .any(|n| n.contains("fallback_scrape_protocol")),
            "{:?}",
            three.stack.config_notes
        );
        let back = with_version(&three, PrometheusVersion::V2_42);
        assert_eq!(back.stack.config_notes, s.stack.config_notes);
    }

    #[test]
    fn unknown_versions_are_refused_by_name() {
        let err = plan(&[scenario()], Some("9.9"), false).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "--prometheus-version \"9.9\": unknown version (known: 2.42, 3.16)"
        );
    }
}
