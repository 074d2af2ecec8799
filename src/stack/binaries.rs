//! Finding the stack's executables and their versions.
//!
//! Search order per component: an explicit environment variable (`GAUNTLET_PROMETHEUS`,
//! `GAUNTLET_ALERTMANAGER`, `GAUNTLET_JAEGER`, `GAUNTLET_VICTORIA_LOGS`, `GAUNTLET_OPENSEARCH`), then
//! `$GAUNTLET_HOME/bin` (where `scripts/provision.sh` builds Jaeger and VictoriaLogs), then
//! `PATH`. Binaries built from source may carry no release version, so provisioning writes a
//! `<binary>.version` stamp next to them and that is what is reported.
//!
//! Every binary the native stack runs is under a permissive licence (see [`Binary::licence`]);
//! Loki, Grafana and Tempo are AGPL and are never built or run here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::config::gauntlet_home;

/// An executable the native stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binary {
    Prometheus,
    Alertmanager,
    Jaeger,
    VictoriaLogs,
    /// gauntlet's OpenSearch launcher (a wrapper running the Maven-built jar); optional:
    /// only `stack.trace-store: opensearch` needs it, so it is not in [`Binary::ALL`].
    OpenSearch,
}

impl Binary {
    /// Binaries only some stacks need, found when asked for.
    pub const OPTIONAL: [Binary; 1] = [Binary::OpenSearch];

    /// Every binary the native stack always needs, in display order.
    pub const ALL: [Binary; 4] = [
        Binary::Prometheus,
        Binary::Alertmanager,
        Binary::Jaeger,
        Binary::VictoriaLogs,
    ];

    /// Short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Binary::Prometheus => "prometheus",
            Binary::Alertmanager => "alertmanager",
            Binary::Jaeger => "jaeger",
            Binary::VictoriaLogs => "victoria-logs",
            Binary::OpenSearch => "opensearch",
        }
    }

    /// The environment variable that overrides the path.
    pub fn env_var(self) -> &'static str {
        match self {
            Binary::Prometheus => "GAUNTLET_PROMETHEUS",
            Binary::Alertmanager => "GAUNTLET_ALERTMANAGER",
            Binary::Jaeger => "GAUNTLET_JAEGER",
            Binary::VictoriaLogs => "GAUNTLET_VICTORIA_LOGS",
            Binary::OpenSearch => "GAUNTLET_OPENSEARCH",
        }
    }

    /// File names looked up in `$GAUNTLET_HOME/bin` and `PATH` (Debian names Alertmanager
    /// `prometheus-alertmanager`).
    fn file_names(self) -> &'static [&'static str] {
        match self {
            Binary::Prometheus => &["prometheus"],
            Binary::Alertmanager => &["prometheus-alertmanager", "alertmanager"],
            Binary::Jaeger => &["jaeger"],
            // Upstream release archives name it `victoria-logs-prod`.
            Binary::VictoriaLogs => &["victoria-logs", "victoria-logs-prod"],
            Binary::OpenSearch => &["opensearch-launcher"],
        }
    }

    /// How to get it when missing.
    pub fn install_hint(self) -> &'static str {
        match self {
            Binary::Prometheus | Binary::Alertmanager => {
                "run scripts/provision.sh (apt-get install prometheus prometheus-alertmanager)"
            }
            Binary::Jaeger | Binary::VictoriaLogs => {
                "run scripts/provision.sh (builds it from tools/go into $GAUNTLET_HOME/bin)"
            }
            Binary::OpenSearch => {
                "run scripts/provision.sh (builds tools/java/opensearch-launcher with Maven on Java 17)"
            }
        }
    }

    /// The upstream project's licence (SPDX id), shown by `gauntlet doctor`: the project only
    /// runs permissively licensed components.
    pub fn licence(self) -> &'static str {
        match self {
            Binary::Prometheus
            | Binary::Alertmanager
            | Binary::Jaeger
            | Binary::VictoriaLogs
            | Binary::OpenSearch => "Apache-2.0",
        }
    }

    /// Finds the executable, or says where it looked.
    pub fn find(self) -> Result<PathBuf, String> {
        find_exe(self.env_var(), self.file_names(), self.install_hint())
    }
}

/// Finds an executable: `$env` when set, else the first of `files` in `$GAUNTLET_HOME/bin`,
/// then `PATH`; or says where it looked (with `hint` on how to get it).
pub fn find_exe(env: &str, files: &[&str], hint: &str) -> Result<PathBuf, String> {
    find_executable(files, Some(env), hint)
}

/// [`find_exe`] for tools that may have no environment override (`env_var: None`).
pub fn find_executable(
    names: &[&str],
    env_var: Option<&str>,
    hint: &str,
) -> Result<PathBuf, String> {
    let mut dirs = vec![gauntlet_home().join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let env_var = env_var.filter(|v| !v.is_empty());
    find_in(
        env_var.and_then(std::env::var_os),
        &dirs,
        env_var.unwrap_or_default(),
        names,
        hint,
    )
}

pub(crate) fn find_in(
    override_path: Option<std::ffi::OsString>,
    dirs: &[PathBuf],
    env: &str,
    files: &[&str],
    hint: &str,
) -> Result<PathBuf, String> {
    if let Some(path) = override_path.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "{env}={} is not an executable file",
                path.display()
            ))
        };
    }
    for dir in dirs {
        for name in files {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    let env = if env.is_empty() {
        String::new()
    } else {
        format!("${env} , ")
    };
    Err(format!(
        "{} not found in {env}{} or PATH; {hint}",
        files.join(" or "),
        dirs.first()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The version of the executable at `path`: the provisioning stamp `<path>.version` when
/// present, else the first non-empty line of `<path> --version` (stdout or stderr), cached
/// per path for the life of the process.
pub async fn version_of(binary: Binary, path: &Path) -> String {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(path)
    {
        return v.clone();
    }
    let version = query_version(binary, path).await;
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(path.to_path_buf(), version.clone());
    version
}

async fn query_version(binary: Binary, path: &Path) -> String {
    let arg = match binary {
        Binary::Jaeger => "version",
        Binary::VictoriaLogs => "-version",
        // The launcher has no version flag; provisioning always writes its stamp.
        Binary::OpenSearch => "--version",
        Binary::Prometheus | Binary::Alertmanager => "--version",
    };
    // Prometheus and Alertmanager print their release (`3.16.0`) even when built by
    // provisioning (it sets prometheus/common's version variables), which reports compare
    // across versions; the stamp is the fallback.
    if matches!(binary, Binary::Prometheus | Binary::Alertmanager) {
        let version = version_from_flag(path, arg).await;
        if !version.starts_with("unknown") {
            return version;
        }
    }
    version_with(path, arg).await
}

/// The version of the executable at `path`: the provisioning stamp `<path>.version` when
/// present, else the first non-empty line of `<path> <arg>` (stdout or stderr).
pub async fn version_with(path: &Path, arg: &str) -> String {
    let mut stamp = path.as_os_str().to_owned();
    stamp.push(".version");
    if let Ok(text) = tokio::fs::read_to_string(PathBuf::from(stamp)).await
        && let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty())
    {
        return line.to_string();
    }
    version_from_flag(path, arg).await
}

/// The first non-empty line of `<path> <arg>` (stdout or stderr), or `unknown (why)`.
async fn version_from_flag(path: &Path, arg: &str) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new(path)
            .arg(arg)
            .kill_on_drop(true)
            .output(),
    )
    .await;
    match output {
        Ok(Ok(out)) => {
            let text = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(parse_version_line)
                .unwrap_or_else(|| "unknown".to_string())
        }
        Ok(Err(e)) => format!("unknown ({e})"),
        Err(_) => format!("unknown ({arg} timed out)"),
    }
}

/// `prometheus, version 2.42.0+ds (branch: …)` → `2.42.0+ds`; other lines are kept whole.
fn parse_version_line(line: &str) -> String {
    match line.split_once(", version ") {
        Some((_, rest)) => rest.split_whitespace().next().unwrap_or(rest).to_string(),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_style_version_lines() {
        assert_eq!(
            parse_version_line(
                "prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)"
            ),
            "2.42.0+ds"
        );
        assert_eq!(parse_version_line("v1.2.3"), "v1.2.3");
    }

    #[tokio::test]
    async fn stamp_file_wins_over_version_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("jaeger");
        std::fs::write(&bin, "#!/bin/sh\necho from-flag\n").expect("write");
        std::fs::write(dir.path().join("jaeger.version"), "\njaeger v1.76.0\n").expect("write");
        assert_eq!(version_of(Binary::Jaeger, &bin).await, "jaeger v1.76.0");
    }

    #[tokio::test]
    async fn version_flag_output_is_parsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("fakeprom");
        std::fs::write(
            &bin,
            "#!/bin/sh\necho 'fakeprom, version 9.9.9 (branch: x)' >&2\n",
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(version_of(Binary::Prometheus, &bin).await, "9.9.9");
    }
}
