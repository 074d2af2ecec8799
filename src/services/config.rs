//! Configuration of one sample service and of the whole fleet: names, listen address,
//! upstream URLs, OTLP endpoint, instrumentation level, sampling and where JSON logs go.
//!
//! Validation is pure (no I/O) and runs before anything binds a port.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::dialect::Dialect;

/// The six sample services. Their kebab-case names are the `service` label, the OTel
/// `service.name` and the CLI spelling.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceName {
    Frontend,
    ApiGateway,
    Users,
    Products,
    Orders,
    Worker,
}

impl ServiceName {
    /// Every service, in start order (dependencies first).
    pub const ALL: [ServiceName; 6] = [
        ServiceName::Worker,
        ServiceName::Users,
        ServiceName::Products,
        ServiceName::Orders,
        ServiceName::ApiGateway,
        ServiceName::Frontend,
    ];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Frontend => "frontend",
            ServiceName::ApiGateway => "api-gateway",
            ServiceName::Users => "users",
            ServiceName::Products => "products",
            ServiceName::Orders => "orders",
            ServiceName::Worker => "worker",
        }
    }

    /// The upstreams this service calls; each must be configured before it starts.
    pub fn required_upstreams(self) -> &'static [ServiceName] {
        match self {
            ServiceName::Frontend => &[ServiceName::ApiGateway],
            ServiceName::ApiGateway => &[
                ServiceName::Users,
                ServiceName::Products,
                ServiceName::Orders,
            ],
            ServiceName::Orders => &[ServiceName::Worker],
            ServiceName::Users | ServiceName::Products | ServiceName::Worker => &[],
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service {name:?} (known: frontend, api-gateway, users, products, orders, worker)")]
pub struct UnknownService {
    pub name: String,
}

impl FromStr for ServiceName {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownService { name: s.to_owned() })
    }
}

/// How much telemetry a service produces (for overhead A/B runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Instrumentation {
    /// No metrics recording, no spans, no logs, no OTLP.
    Off,
    /// Prometheus metrics only.
    Metrics,
    /// Metrics, traces (OTLP), JSON logs and OTLP logs.
    #[default]
    Full,
}

impl Instrumentation {
    pub fn metrics(self) -> bool {
        matches!(self, Instrumentation::Metrics | Instrumentation::Full)
    }

    pub fn traces(self) -> bool {
        self == Instrumentation::Full
    }
}

/// Which traces are recorded and exported.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TraceSampling {
    /// Follow the caller's sampled flag; sample every root (the default).
    #[default]
    ParentBasedAlwaysOn,
    /// Follow the caller's sampled flag; sample roots with this probability.
    ParentBasedRatio(f64),
    /// Decide from the trace id alone with this probability, ignoring the caller's flag; every
    /// hop decides the same way for one trace id, so sampled traces stay complete.
    TraceIdRatio(f64),
}

/// A `--sampling` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sampling {text:?}: use always-on, parent-ratio=R or ratio=R with 0 <= R <= 1")]
pub struct InvalidSampling {
    pub text: String,
}

impl FromStr for TraceSampling {
    type Err = InvalidSampling;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidSampling { text: s.to_owned() };
        let ratio = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(err)
        };
        if s == "always-on" {
            Ok(TraceSampling::ParentBasedAlwaysOn)
        } else if let Some(v) = s.strip_prefix("parent-ratio=") {
            Ok(TraceSampling::ParentBasedRatio(ratio(v)?))
        } else if let Some(v) = s.strip_prefix("ratio=") {
            Ok(TraceSampling::TraceIdRatio(ratio(v)?))
        } else {
            Err(err())
        }
    }
}

impl fmt::Display for TraceSampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceSampling::ParentBasedAlwaysOn => f.write_str("always-on"),
            TraceSampling::ParentBasedRatio(r) => write!(f, "parent-ratio={r}"),
            TraceSampling::TraceIdRatio(r) => write!(f, "ratio={r}"),
        }
    }
}

/// Where the one-JSON-line-per-request logs go (only at [`Instrumentation::Full`]).
#[derive(Debug, Clone, Default)]
pub enum LogOutput {
    /// Standard output (what the CLI uses).
    #[default]
    Stdout,
    /// Format each line, then drop it (benchmarks: same cost, quiet terminal).
    Discard,
    /// Keep lines in memory (tests).
    Capture(LogCapture),
    /// Do not produce JSON lines at all.
    Off,
}

/// Lines kept by [`LogOutput::Capture`], shared between the service and its reader.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<String>>>,
}

impl LogCapture {
    /// Most lines kept; later ones are dropped so a long run cannot exhaust memory.
    pub const MAX_LINES: usize = 200_000;

    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() < Self::MAX_LINES {
            lines.push(line);
        }
    }

    /// A copy of every line captured so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Configuration of one service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: ServiceName,
    /// Address to bind; port 0 lets the OS choose.
    pub listen: SocketAddr,
    /// Base URLs (`http://127.0.0.1:1234`) of the services this one calls; replicas of one
    /// upstream as a comma-separated list, called in turn (round-robin).
    pub upstreams: BTreeMap<ServiceName, String>,
    /// OTLP/HTTP base URL (e.g. `http://127.0.0.1:4318`); `/v1/traces` and `/v1/logs` are
    /// appended. `None`: spans and log records are still made (ids in logs, exemplars) but
    /// not exported.
    pub otlp_endpoint: Option<String>,
    pub instrumentation: Instrumentation,
    /// Resource attribute `deployment.id`.
    pub deployment_id: String,
    pub sampling: TraceSampling,
    pub log_output: LogOutput,
    /// Deadline of each call to an upstream (a hung upstream then yields 504).
    pub upstream_timeout: Duration,
    /// How often batched spans and log records are exported.
    pub export_interval: Duration,
    /// The names the HTTP metrics are exposed under.
    pub dialect: Dialect,
}

impl ServiceConfig {
    /// Defaults: full instrumentation, no OTLP export, JSON logs on stdout, 5 s upstream
    /// timeout, 1 s export interval.
    pub fn new(name: ServiceName, listen: SocketAddr) -> Self {
        Self {
            name,
            listen,
            upstreams: BTreeMap::new(),
            otlp_endpoint: None,
            instrumentation: Instrumentation::Full,
            deployment_id: "local".to_owned(),
            sampling: TraceSampling::default(),
            log_output: LogOutput::Stdout,
            upstream_timeout: Duration::from_secs(5),
            export_interval: Duration::from_secs(1),
            dialect: Dialect::default(),
        }
    }

    /// Every problem with this configuration, without touching the network.
    pub fn validate(&self) -> Result<ValidatedUpstreams, ConfigError> {
        let mut problems = Vec::new();
        let mut upstreams = BTreeMap::new();
        for &needed in self.name.required_upstreams() {
            match self.upstreams.get(&needed) {
                None => problems.push(format!("missing upstream {needed}")),
                Some(urls) => {
                    let mut replicas = Vec::new();
                    for url in urls.split(',') {
                        match parse_base_url(url) {
                            Ok(u) => replicas.push(u),
                            Err(why) => problems.push(format!("upstream {needed}: {why}")),
                        }
                    }
                    upstreams.insert(needed, replicas);
                }
            }
        }
        for extra in self.upstreams.keys() {
            if !self.name.required_upstreams().contains(extra) {
                problems.push(format!("{} does not call {extra}", self.name));
            }
        }
        if let Some(ep) = &self.otlp_endpoint
            && let Err(why) = parse_base_url(ep)
        {
            problems.push(format!("otlp endpoint: {why}"));
        }
        match self.sampling {
            TraceSampling::ParentBasedRatio(r) | TraceSampling::TraceIdRatio(r)
                if !(0.0..=1.0).contains(&r) =>
            {
                problems.push(format!("sampling ratio {r} is outside 0..=1"));
            }
            _ => {}
        }
        if self.deployment_id.is_empty() {
            problems.push("deployment id is empty".to_owned());
        }
        if problems.is_empty() {
            Ok(ValidatedUpstreams(upstreams))
        } else {
            Err(ConfigError {
                service: self.name,
                problems,
            })
        }
    }
}

/// Upstream base URLs that passed validation (no trailing slash), one per replica.
#[derive(Debug, Clone)]
pub struct ValidatedUpstreams(pub(crate) BTreeMap<ServiceName, Vec<String>>);

fn parse_base_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("invalid url {text:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("url {text:?} is not http(s)"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Every problem found in a [`ServiceConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration of {service}: {}", problems.join("; "))]
pub struct ConfigError {
    pub service: ServiceName,
    pub problems: Vec<String>,
}

/// Configuration of the whole fleet in one process.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Address every service binds (each on a port the OS picks).
    pub host: IpAddr,
    pub otlp_endpoint: Option<String>,
    pub instrumentation: Instrumentation,
    pub deployment_id: String,
    pub sampling: TraceSampling,
    pub log_output: LogOutput,
    pub upstream_timeout: Duration,
    pub export_interval: Duration,
    pub dialect: Dialect,
}

impl Default for FleetConfig {
    fn default() -> Self {
        let base = ServiceConfig::new(ServiceName::Frontend, SocketAddr::from(([0, 0, 0, 0], 0)));
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            otlp_endpoint: None,
            instrumentation: base.instrumentation,
            deployment_id: base.deployment_id,
            sampling: base.sampling,
            log_output: base.log_output,
            upstream_timeout: base.upstream_timeout,
            export_interval: base.export_interval,
            dialect: base.dialect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_kebab_case() {
        for n in ServiceName::ALL {
            assert_eq!(n.as_str().parse::<ServiceName>(), Ok(n));
            assert_eq!(serde_json::to_string(&n).expect("ser"), format!("\"{n}\""));
        }
        assert_eq!(ServiceName::ApiGateway.as_str(), "api-gateway");
        let err = "cart".parse::<ServiceName>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown service \"cart\" (known: frontend, api-gateway, users, products, orders, worker)"
        );
    }

    #[test]
    fn validation_lists_every_problem() {
        let mut cfg = ServiceConfig::new(
            ServiceName::ApiGateway,
            "127.0.0.1:0".parse().expect("addr"),
        );
        cfg.upstreams.insert(ServiceName::Users, "not a url".into());
        cfg.upstreams
            .insert(ServiceName::Worker, "http://127.0.0.1:1".into());
        cfg.otlp_endpoint = Some("ftp://x".into());
        let err = cfg.validate().expect_err("invalid");
        assert_eq!(
            err.problems,
            vec![
                "upstream users: invalid url \"not a url\": relative URL without a base".to_owned(),
                "missing upstream products".to_owned(),
                "missing upstream orders".to_owned(),
                "api-gateway does not call worker".to_owned(),
                "otlp endpoint: url \"ftp://x\" is not http(s)".to_owned(),
            ]
        );
    }

    #[test]
    fn an_upstream_may_list_its_replicas() {
        let mut cfg = ServiceConfig::new(ServiceName::Orders, "127.0.0.1:0".parse().expect("addr"));
        cfg.upstreams.insert(
            ServiceName::Worker,
            "http://127.0.0.1:1/,http://127.0.0.1:2".into(),
        );
        let ok = cfg.validate().expect("valid");
        assert_eq!(
            ok.0.get(&ServiceName::Worker).map(Vec::as_slice),
            Some(
                &[
                    "http://127.0.0.1:1".to_owned(),
                    "http://127.0.0.1:2".to_owned()
                ][..]
            )
        );
        cfg.upstreams
            .insert(ServiceName::Worker, "http://127.0.0.1:1,nope".into());
        let err = cfg.validate().expect_err("a bad replica url");
        assert_eq!(
            err.problems,
            vec!["upstream worker: invalid url \"nope\": relative URL without a base".to_owned()]
        );
    }

    #[test]
    fn sampling_parses() {
        assert_eq!("always-on".parse(), Ok(TraceSampling::ParentBasedAlwaysOn));
        assert_eq!(
            "parent-ratio=0.1".parse(),
            Ok(TraceSampling::ParentBasedRatio(0.1))
        );
        assert_eq!("ratio=1".parse(), Ok(TraceSampling::TraceIdRatio(1.0)));
        assert!("ratio=2".parse::<TraceSampling>().is_err());
        assert!("sometimes".parse::<TraceSampling>().is_err());
    }
}
