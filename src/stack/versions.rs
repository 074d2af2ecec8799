//! Which Prometheus (and the Alertmanager that goes with it) a stack runs.
//!
//! Two pairings exist: Debian's Prometheus 2.42 with Alertmanager 0.25 (the packages, the
//! default), and Prometheus 3.16 with Alertmanager 0.31, which `scripts/provision.sh` builds
//! from `tools/go/prometheus3` and `tools/go/alertmanager` into `$GAUNTLET_HOME/bin` under
//! versioned names (`prometheus-3.16`, `promtool-3.16`, `alertmanager-0.31`, `amtool-0.31`)
//! so they sit beside the packages. A scenario picks one with `stack.prometheus-version`,
//! `gauntlet run --prometheus-version` overrides it, and `gauntlet run --matrix` runs every
//! pairing that is provisioned.

use std::path::PathBuf;

use serde::Serialize;

use super::binaries::{Binary, find_executable};

/// A Prometheus version gauntlet can run, with its Alertmanager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PrometheusVersion {
    /// Debian 12's packages: Prometheus 2.42, Alertmanager 0.25.
    #[serde(rename = "2.42")]
    V2_42,
    /// Built by `scripts/provision.sh`: Prometheus 3.16, Alertmanager 0.31.
    #[serde(rename = "3.16")]
    V3_16,
}

/// A tool of one pairing: the two servers and their command-line checkers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Prometheus,
    Promtool,
    Alertmanager,
    Amtool,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Prometheus => "prometheus",
            Tool::Promtool => "promtool",
            Tool::Alertmanager => "alertmanager",
            Tool::Amtool => "amtool",
        }
    }
}

impl PrometheusVersion {
    /// Every version, oldest first (the order of matrix columns).
    pub const ALL: [PrometheusVersion; 2] = [PrometheusVersion::V2_42, PrometheusVersion::V3_16];

    /// What a scenario runs when it names no version: the Debian packages.
    pub const DEFAULT: PrometheusVersion = PrometheusVersion::V2_42;

    /// `2.42`, `3.16`: what scenarios and the CLI write.
    pub fn as_str(self) -> &'static str {
        match self {
            PrometheusVersion::V2_42 => "2.42",
            PrometheusVersion::V3_16 => "3.16",
        }
    }

    /// The Alertmanager version that runs with it.
    pub fn alertmanager(self) -> &'static str {
        match self {
            PrometheusVersion::V2_42 => "0.25",
            PrometheusVersion::V3_16 => "0.31",
        }
    }

    /// Reads `2.42` or `3.16` (a patch number is accepted and ignored: `3.16.0`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches('v');
        let minor = match text.split('.').collect::<Vec<_>>().as_slice() {
            [major, minor] | [major, minor, _] => format!("{major}.{minor}"),
            _ => return None,
        };
        Self::ALL.into_iter().find(|v| v.as_str() == minor)
    }

    /// The known versions, for hints: `2.42, 3.16`.
    pub fn known() -> String {
        Self::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Prometheus 3 fails a scrape whose `Content-Type` it cannot map to a protocol unless
    /// the scrape config names a fallback (2.x assumed the text format).
    pub fn needs_fallback_scrape_protocol(self) -> bool {
        self == PrometheusVersion::V3_16
    }

    /// What gauntlet sets in its own rendered configuration for this version, shown with
    /// the scenario's config notes in every report.
    pub fn config_notes(self) -> Vec<String> {
        if self.needs_fallback_scrape_protocol() {
            vec![format!(
                "prometheus {}: the scrape config sets fallback_scrape_protocol: PrometheusText0.0.4 \
                 (Prometheus 3 fails a scrape whose Content-Type names no format it knows; 2.x assumed the text format)",
                self.as_str()
            )]
        } else {
            Vec::new()
        }
    }

    /// Where the executable of `tool` is for this version, or where gauntlet looked.
    ///
    /// 2.42 is whatever the unversioned lookup finds (`GAUNTLET_PROMETHEUS`, `prometheus` in
    /// `$GAUNTLET_HOME/bin` or `PATH`: Debian's package). 3.16 is only ever the provisioned
    /// build under its versioned name, so an unversioned `prometheus` of another release is
    /// never mistaken for it.
    pub fn find(self, tool: Tool) -> Result<PathBuf, String> {
        match (self, tool) {
            (PrometheusVersion::V2_42, Tool::Prometheus) => Binary::Prometheus.find(),
            (PrometheusVersion::V2_42, Tool::Alertmanager) => Binary::Alertmanager.find(),
            (PrometheusVersion::V2_42, Tool::Promtool | Tool::Amtool) => find_executable(
                &[tool.name()],
                None,
                "run scripts/provision.sh (apt-get install prometheus prometheus-alertmanager)",
            ),
            (PrometheusVersion::V3_16, _) => {
                let version = match tool {
                    Tool::Prometheus | Tool::Promtool => self.as_str(),
                    Tool::Alertmanager | Tool::Amtool => self.alertmanager(),
                };
                let name = format!("{}-{version}", tool.name());
                find_executable(
                    &[name.as_str()],
                    None,
                    "run scripts/provision.sh (builds Prometheus 3.16 and Alertmanager 0.31 from tools/go into $GAUNTLET_HOME/bin)",
                )
            }
        }
    }

    /// Whether both servers of this pairing are installed (`None`), or why not.
    pub fn missing(self) -> Option<String> {
        [Tool::Prometheus, Tool::Alertmanager]
            .into_iter()
            .find_map(|t| self.find(t).err())
    }

    /// The versions whose servers are installed here, oldest first.
    pub fn available() -> Vec<PrometheusVersion> {
        Self::ALL
            .into_iter()
            .filter(|v| v.missing().is_none())
            .collect()
    }
}

impl std::fmt::Display for PrometheusVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_what_users_write() {
        assert_eq!(
            PrometheusVersion::parse("3.16"),
            Some(PrometheusVersion::V3_16)
        );
        assert_eq!(
            PrometheusVersion::parse("v3.16.0"),
            Some(PrometheusVersion::V3_16)
        );
        assert_eq!(
            PrometheusVersion::parse("2.42"),
            Some(PrometheusVersion::V2_42)
        );
        for bad in ["3", "3.1", "2.53", "", "three"] {
            assert_eq!(PrometheusVersion::parse(bad), None, "{bad}");
        }
        assert_eq!(PrometheusVersion::known(), "2.42, 3.16");
        assert_eq!(PrometheusVersion::V3_16.alertmanager(), "0.31");
    }
}
