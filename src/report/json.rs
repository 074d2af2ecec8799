//! `results.json`: the versioned, schema-described form of [`RunResults`]
//! (schema: `fixtures/report.schema.json`). Written pretty-printed; read back with the
//! version checked first so an old gauntlet gives a clear error on a newer file.

use std::path::Path;

use super::model::{FORMAT_VERSION, RunResults};
use super::output::ReportError;

/// File name used inside a report directory.
pub const RESULTS_FILE: &str = "results.json";

/// Serializes `results` as pretty JSON with a trailing newline.
pub fn to_string(results: &RunResults) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(results).map_err(ReportError::Serialize)?;
    s.push('\n');
    Ok(s)
}

/// Writes `results` to `path` (pretty JSON).
pub fn write(path: &Path, results: &RunResults) -> Result<(), ReportError> {
    let text = to_string(results)?;
    super::output::write_file(path, text.as_bytes())
}

/// Parses a `results.json` document; `origin` names it in errors.
pub fn from_str(text: &str, origin: &Path) -> Result<RunResults, ReportError> {
    // Check the version before the shape, so a future format fails with the real reason
    // instead of an unknown-field error.
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<u32>,
    }
    let version: Version = serde_json::from_str(text).map_err(|e| ReportError::Parse {
        path: origin.to_path_buf(),
        field: String::new(),
        source: e,
    })?;
    match version.format_version {
        Some(FORMAT_VERSION) => {}
        found => {
            return Err(ReportError::UnsupportedVersion {
                path: origin.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| ReportError::Parse {
        path: origin.to_path_buf(),
        field: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// Reads a `results.json` file.
pub fn read(path: &Path) -> Result<RunResults, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_str(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Environment, HostFacts};
    use std::path::PathBuf;

    fn minimal() -> RunResults {
        RunResults::new(
            std::time::SystemTime::UNIX_EPOCH,
            Environment {
                components: vec![],
                host: HostFacts {
                    os: "linux".into(),
                    arch: "x86_64".into(),
                    kernel: None,
                    cores: 2,
                },
            },
        )
    }

    #[test]
    fn round_trips() {
        let r = minimal();
        let text = to_string(&r).expect("serializable");
        assert_eq!(from_str(&text, Path::new("x")).expect("parses"), r);
    }

    #[test]
    fn newer_version_is_refused_with_the_reason() {
        let text = to_string(&minimal())
            .expect("serializable")
            .replace("\"format_version\": 3", "\"format_version\": 7");
        let err = from_str(&text, Path::new("r.json")).expect_err("must refuse");
        assert_eq!(
            err.to_string(),
            "r.json: results format version 7 is not supported (this gauntlet reads version 3)"
        );
    }

    #[test]
    fn parse_errors_name_the_field() {
        let text = to_string(&minimal())
            .expect("serializable")
            .replace("\"cores\": 2", "\"cores\": \"two\"");
        let err = from_str(&text, &PathBuf::from("r.json")).expect_err("must refuse");
        let msg = err.to_string();
        assert!(msg.contains("environment.host.cores"), "{msg}");
    }
}
