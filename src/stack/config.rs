//! What a stack is started with ([`StackConfig`]) and where gauntlet keeps its own files
//! (`GAUNTLET_HOME`, default `~/.cache/gauntlet`: provisioned binaries in `bin/`, `stack up`
//! state in `state/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

/// Environment variable naming gauntlet's cache/state directory.
pub const GAUNTLET_HOME_ENV: &str = "GAUNTLET_HOME";

/// `$GAUNTLET_HOME`, else `$HOME/.cache/gauntlet`, else `/tmp/gauntlet`.
pub fn gauntlet_home() -> PathBuf {
    if let Some(home) = std::env::var_os(GAUNTLET_HOME_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Path::new(&home).join(".cache").join("gauntlet"),
        None => PathBuf::from("/tmp/gauntlet"),
    }
}

/// Inputs of a native stack: intervals, rules, scrape targets, webhook receivers.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Prometheus `global.scrape_interval` (also the collector's span-metrics flush interval).
    pub scrape_interval: Duration,
    /// Prometheus `global.evaluation_interval`.
    pub evaluation_interval: Duration,
    /// Alertmanager route `group_wait`.
    pub group_wait: Duration,
    /// Alertmanager route `group_interval`.
    pub group_interval: Duration,
    /// Alertmanager route `repeat_interval`.
    pub repeat_interval: Duration,
    /// Prometheus rule files, used in place (made absolute).
    pub rule_files: Vec<PathBuf>,
    /// Extra scrape targets known before start, as `(job, ["host:port", …])`; more can be set
    /// later with `set_targets`.
    pub scrape_targets: Vec<(String, Vec<String>)>,
    /// Alertmanager webhook receivers by name; the template uses `{{<name>_webhook_url}}`
    /// (`pager`, `chat`). A receiver the template needs but that is missing here gets a URL
    /// nobody listens on (notifications fail and Alertmanager logs it).
    pub webhook_receivers: BTreeMap<String, Url>,
    /// The user's Alertmanager config, run as written with every receiver redirected to its
    /// `webhook_receivers` URL (see [`super::alertmanager`]); `None` renders gauntlet's
    /// template.
    pub alertmanager_config: Option<PathBuf>,
    /// Route timings the scenario set explicitly; with `alertmanager_config` they replace the
    /// tree's values (the template always takes `group_wait` and the others above).
    pub route_overrides: super::alertmanager::RouteTimings,
    /// The `fixtures/stack` directory holding the config templates.
    pub fixtures_dir: PathBuf,
    /// Where component logs go; `None` puts them in the run's temp dir (deleted on stop).
    pub log_dir: Option<PathBuf>,
    /// How long each component may take to become ready.
    pub ready_timeout: Duration,
    /// The collector's batch timeout (`stack.telemetry-flush`): how long spans and logs wait
    /// in the collector before export.
    pub telemetry_flush: Duration,
    /// Jaeger in-memory store capacity.
    pub max_traces: u32,
    /// Route the collector's log export through a fault proxy (native provider), so a
    /// scenario can take the log store away from the pipeline.
    pub interpose_log_store: bool,
    /// `relabel_configs` of the services' scrape config, rendered as written (each a
    /// Prometheus `relabel_config` object).
    pub service_relabel_configs: Vec<serde_json::Value>,
    /// `metric_relabel_configs` of the services' scrape config, rendered as written.
    pub service_metric_relabel_configs: Vec<serde_json::Value>,
    /// Which Prometheus (and Alertmanager) to run: Debian's 2.42 or the provisioned 3.16.
    pub prometheus_version: super::versions::PrometheusVersion,
    /// Where Jaeger keeps spans (`stack.trace-store`; OpenSearch in the native stack only).
    pub trace_store: super::opensearch::TraceStore,
}

impl StackConfig {
    /// Compressed test intervals (1 s scrape and evaluation, 1 s group wait), the smoke rule
    /// file (`test-rules/smoke.yml`, kept out of the shipped rules), no receivers.
    pub fn for_tests() -> Self {
        let fixtures_dir = default_fixtures_dir();
        Self {
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            group_wait: Duration::from_secs(1),
            group_interval: Duration::from_secs(1),
            repeat_interval: Duration::from_secs(3600),
            rule_files: vec![fixtures_dir.join("test-rules/smoke.yml")],
            scrape_targets: Vec::new(),
            webhook_receivers: BTreeMap::new(),
            alertmanager_config: None,
            route_overrides: super::alertmanager::RouteTimings::default(),
            fixtures_dir,
            log_dir: None,
            ready_timeout: Duration::from_secs(30),
            // Short, so trace and log tests wait little; scenarios give their own.
            telemetry_flush: Duration::from_millis(200),
            max_traces: 100_000,
            interpose_log_store: false,
            service_relabel_configs: Vec::new(),
            service_metric_relabel_configs: Vec::new(),
            prometheus_version: super::versions::PrometheusVersion::DEFAULT,
            trace_store: super::opensearch::TraceStore::Memory,
        }
    }
}

impl Default for StackConfig {
    fn default() -> Self {
        Self::for_tests()
    }
}

/// `fixtures/stack` next to the crate when run from a checkout, else `./fixtures/stack`.
pub fn default_fixtures_dir() -> PathBuf {
    let in_checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stack");
    if in_checkout.is_dir() {
        in_checkout
    } else {
        PathBuf::from("fixtures/stack")
    }
}

/// Formats a duration the way Prometheus, Alertmanager and Go accept it (`1s`, `250ms`, `2m`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_for_go() {
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_secs(3600)), "60m");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn test_config_points_at_real_fixtures() {
        let c = StackConfig::for_tests();
        assert!(
            c.fixtures_dir
                .join("prometheus/prometheus.yml.tmpl")
                .is_file()
        );
        assert!(c.rule_files.iter().all(|f| f.is_file()));
    }
}
