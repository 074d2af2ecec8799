//! Before a stack starts, its rule files go through `promtool check rules` of the same
//! Prometheus version: a rule that version refuses (3.x dropped `holt_winters`, changed
//! regex and duration parsing) is reported as what it is, with promtool's words, instead of a
//! Prometheus that exits before becoming ready.

use std::path::PathBuf;
use std::time::Duration;

use crate::stack::PrometheusVersion;
use crate::stack::versions::Tool;

/// How long `promtool check rules` may take (it parses files, nothing more).
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of promtool's output goes into the error.
const OUTPUT_LIMIT: usize = 4_000;

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub enum RuleCheck {
    /// promtool accepted every file.
    Passed { promtool: PathBuf },
    /// This version has no promtool here: Prometheus itself validates the files at start.
    NoPromtool(String),
}

/// Runs `promtool check rules` of `version` on `files` (the copies the stack will load).
/// `Err` carries promtool's output when it refused them, or why it could not run.
pub async fn check_rules(
    version: PrometheusVersion,
    files: &[PathBuf],
) -> Result<RuleCheck, String> {
    let promtool = match version.find(Tool::Promtool) {
        Ok(p) => p,
        Err(why) => return Ok(RuleCheck::NoPromtool(why)),
    };
    if files.is_empty() {
        return Ok(RuleCheck::Passed { promtool });
    }
    let output = tokio::time::timeout(
        CHECK_TIMEOUT,
        tokio::process::Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .args(files)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| {
        format!(
            "{} check rules did not finish in {CHECK_TIMEOUT:?}",
            promtool.display()
        )
    })?
    .map_err(|e| format!("cannot run {}: {e}", promtool.display()))?;
    if output.status.success() {
        return Ok(RuleCheck::Passed { promtool });
    }
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if text.len() > OUTPUT_LIMIT {
        let mut cut = OUTPUT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n…");
    }
    Err(format!(
        "Prometheus {version}'s promtool ({}) refuses the rule files ({}):\n{}",
        promtool.display(),
        output.status,
        text.trim_end()
    ))
}
