//! Starting the sample services for a run: one process per service (so process faults hit one
//! service) or all in one process, with a fault proxy on every link a network fault names.
//!
//! Links are proxied from the start (pass-through until the fault), because a service's
//! upstream URLs are fixed when it starts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fault::{FaultProxy, HttpFaultProxy, HttpProxyConfig, ProxyConfig};
use crate::scenario::{FaultAction, Instrumentation, Scenario, ServicesMode, ServicesSpec};
use crate::services::{self, ServiceName};
use crate::stack::process::ManagedProcess;

/// How long a service process may take to print its READY line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Starting or restarting services failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("unknown service {0:?}")]
    Unknown(String),
    #[error("cannot start service {name}")]
    Spawn {
        name: String,
        #[source]
        source: crate::stack::process::ProcessError,
    },
    #[error("service {name} did not become ready within {timeout:?}; log tail:\n{log}")]
    NotReady {
        name: String,
        timeout: Duration,
        log: String,
    },
    #[error("cannot start the fault proxy for {link}")]
    Proxy {
        link: String,
        #[source]
        source: crate::fault::FaultError,
    },
    #[error("cannot start the in-process fleet")]
    InProcess(#[source] crate::services::ServiceError),
    #[error("{0}")]
    Unsupported(String),
}

/// A link between two components that a network fault may act on.
pub type Link = (String, String);

struct ServiceProcess {
    /// The service this process runs (its key is `orders#2` for a replica).
    service: String,
    process: ManagedProcess,
    args: Vec<String>,
    addr: SocketAddr,
}

/// The running services of one scenario.
pub struct Fleet {
    exe: PathBuf,
    log_dir: PathBuf,
    /// By process key: the service name, or `name#N` for replica N of a replicated service.
    processes: BTreeMap<String, ServiceProcess>,
    /// Service → its process keys, replica 1 first.
    replicas: BTreeMap<String, Vec<String>>,
    in_process: Option<services::RunningFleet>,
    /// Service → base URL (of replica 1 when replicated).
    urls: BTreeMap<String, String>,
    proxies: BTreeMap<Link, FaultProxy>,
    /// Service → `host:port` Prometheus scrapes instead of the service itself (the proxy of
    /// a `prometheus -> service` link).
    scrape_via: BTreeMap<String, String>,
    /// HTTP fault proxies in front of external services (`services.fault-proxy`): the load
    /// goes through them, scrapes and admin calls do not.
    http_proxies: BTreeMap<String, HttpFaultProxy>,
}

/// Where the services send telemetry and how much they produce.
pub struct FleetSettings<'a> {
    pub exe: &'a Path,
    pub log_dir: &'a Path,
    pub otlp_http: &'a str,
    pub deployment_id: &'a str,
}

/// Services start in dependency order so each knows its upstreams' addresses.
const START_ORDER: &[&str] = &[
    "worker",
    "users",
    "products",
    "orders",
    "api-gateway",
    "frontend",
];

impl Fleet {
    /// Starts the scenario's services.
    pub async fn start(
        scenario: &Scenario,
        settings: &FleetSettings<'_>,
    ) -> Result<Self, FleetError> {
        let mut fleet = Fleet {
            exe: settings.exe.to_path_buf(),
            log_dir: settings.log_dir.to_path_buf(),
            processes: BTreeMap::new(),
            replicas: BTreeMap::new(),
            in_process: None,
            urls: BTreeMap::new(),
            proxies: BTreeMap::new(),
            scrape_via: BTreeMap::new(),
            http_proxies: BTreeMap::new(),
        };
        let spec = &scenario.services;
        match spec.mode {
            ServicesMode::External => {
                fleet.urls = spec.endpoints.clone();
                for (name, p) in &spec.fault_proxies {
                    let proxy = HttpFaultProxy::start(HttpProxyConfig::new(p.listen, p.upstream))
                        .await
                        .map_err(|source| FleetError::Proxy {
                            link: format!("callers -> {name}"),
                            source,
                        })?;
                    tracing::info!(service = %name, listen = %proxy.local_addr(), upstream = %p.upstream, "http fault proxy in place");
                    fleet.http_proxies.insert(name.clone(), proxy);
                }
                return Ok(fleet);
            }
            ServicesMode::InProcess => {
                if scenario
                    .faults
                    .iter()
                    .any(|f| f.action.kind().starts_with("network-"))
                {
                    return Err(FleetError::Unsupported(
                        "network faults need `services.mode: per-process` (links are proxied between processes)".into(),
                    ));
                }
                let cfg = services::FleetConfig {
                    otlp_endpoint: Some(settings.otlp_http.to_string()),
                    instrumentation: instrumentation(spec.instrumentation),
                    deployment_id: settings.deployment_id.to_string(),
                    export_interval: spec.export_interval,
                    dialect: spec.dialect,
                    // Validated when the scenario was read.
                    sampling: spec
                        .sampling
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_default(),
                    ..services::FleetConfig::default()
                };
                let running = services::start_fleet(cfg)
                    .await
                    .map_err(FleetError::InProcess)?;
                for (name, url) in running.urls() {
                    fleet.urls.insert(name.as_str().to_string(), url);
                }
                fleet.in_process = Some(running);
                return Ok(fleet);
            }
            ServicesMode::PerProcess => {}
        }

        let links: BTreeSet<Link> = scenario
            .faults
            .iter()
            .filter_map(|f| match &f.action {
                FaultAction::NetworkDelay { from, to, .. }
                | FaultAction::NetworkBandwidth { from, to, .. }
                | FaultAction::NetworkBlackhole { from, to }
                | FaultAction::NetworkReset { from, to } => Some((from.clone(), to.clone())),
                _ => None,
            })
            .collect();
        for (from, to) in &links {
            if from == "collector" && to == "log-store" {
                // Interposed by the stack itself (`StackConfig::interpose_log_store`).
                continue;
            }
            let service_from = spec.names.contains(from);
            let scrape = from == "prometheus" && spec.names.contains(to);
            let supported =
                scrape || service_from && (spec.names.contains(to) || to == "collector");
            if !supported {
                return Err(FleetError::Unsupported(format!(
                    "network faults on {from} -> {to} cannot be interposed (supported: service -> upstream, service -> collector, prometheus -> service, collector -> log-store)"
                )));
            }
        }

        let wanted: BTreeSet<&str> = spec.names.iter().map(String::as_str).collect();
        for name in START_ORDER.iter().filter(|n| wanted.contains(**n)) {
            let service: ServiceName = name
                .parse()
                .map_err(|_| FleetError::Unknown(name.to_string()))?;
            let mut args = service_args(name, spec, settings.deployment_id);
            let otlp = match links.get(&(name.to_string(), "collector".to_string())) {
                Some(link) => fleet.proxy_for(link, settings.otlp_http).await?,
                None => settings.otlp_http.to_string(),
            };
            args.extend(["--otlp-endpoint".into(), otlp]);
            for dep in service.required_upstreams() {
                let dep_name = dep.as_str().to_string();
                // Every replica of the upstream, which this service calls in turn.
                let replica_urls = fleet.replica_urls(&dep_name, None);
                let Some(url) = (!replica_urls.is_empty()).then(|| replica_urls.join(",")) else {
                    return Err(FleetError::Unsupported(format!(
                        "service {name} needs {dep_name}, which `services.only` leaves out"
                    )));
                };
                let link = (name.to_string(), dep_name.clone());
                let url = if links.contains(&link) {
                    fleet.proxy_for(&link, &url).await?
                } else {
                    url
                };
                args.push("--upstream".into());
                args.push(format!("{dep_name}={url}"));
            }
            let count = spec.replicas_of(name);
            for replica in 1..=count {
                let key = if count > 1 {
                    format!("{name}#{replica}")
                } else {
                    name.to_string()
                };
                let (process, addr) = fleet.spawn(&key, name, &args, "127.0.0.1:0").await?;
                fleet
                    .urls
                    .entry(name.to_string())
                    .or_insert_with(|| format!("http://{addr}"));
                fleet
                    .replicas
                    .entry(name.to_string())
                    .or_default()
                    .push(key.clone());
                fleet.processes.insert(
                    key,
                    ServiceProcess {
                        service: name.to_string(),
                        process,
                        args: args.clone(),
                        addr,
                    },
                );
            }
        }
        // Prometheus scrapes these services through a proxy, so a fault can cut monitoring
        // off from a healthy service.
        for link in links.iter().filter(|(from, _)| from == "prometheus") {
            let Some(url) = fleet.urls.get(&link.1).cloned() else {
                continue;
            };
            let proxied = fleet.proxy_for(link, &url).await?;
            fleet.scrape_via.insert(
                link.1.clone(),
                proxied.trim_start_matches("http://").to_string(),
            );
        }
        Ok(fleet)
    }

    async fn proxy_for(&mut self, link: &Link, upstream_url: &str) -> Result<String, FleetError> {
        let link_text = format!("{} -> {}", link.0, link.1);
        let upstream = host_port(upstream_url)
            .ok_or_else(|| FleetError::Unsupported(format!("cannot proxy {upstream_url}")))?;
        let proxy = FaultProxy::start(ProxyConfig::new(upstream))
            .await
            .map_err(|source| FleetError::Proxy {
                link: link_text,
                source,
            })?;
        let url = format!("http://{}", proxy.local_addr());
        self.proxies.insert(link.clone(), proxy);
        Ok(url)
    }

    /// Starts process `key` running service `name`.
    async fn spawn(
        &self,
        key: &str,
        name: &str,
        args: &[String],
        listen: &str,
    ) -> Result<(ManagedProcess, SocketAddr), FleetError> {
        let mut command = std::process::Command::new(&self.exe);
        command.args(args).args(["--listen", listen]);
        // A restarted service appends to the same log: only READY lines after this count.
        let log_path = self.log_dir.join(format!("{key}.log"));
        let offset = std::fs::metadata(&log_path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let process = ManagedProcess::spawn(key, command, &self.log_dir).map_err(|source| {
            FleetError::Spawn {
                name: key.to_string(),
                source,
            }
        })?;
        let addr = wait_ready(name, process.log_path(), offset)
            .await
            .map_err(|log| FleetError::NotReady {
                name: key.to_string(),
                timeout: READY_TIMEOUT,
                log,
            })?;
        Ok((process, addr))
    }

    /// Base URL of each service, as clients reach it directly (never through a proxy).
    pub fn urls(&self) -> &BTreeMap<String, String> {
        &self.urls
    }

    /// Where the load reaches a service: its HTTP fault proxy when it has one, else the
    /// service itself.
    pub fn load_url(&self, name: &str) -> Option<String> {
        match self.http_proxies.get(name) {
            Some(p) => Some(format!("http://{}", p.local_addr())),
            None => self.urls.get(name).cloned(),
        }
    }

    /// The HTTP fault proxy in front of an external service.
    pub fn http_proxy(&self, name: &str) -> Option<&HttpFaultProxy> {
        self.http_proxies.get(name)
    }

    /// `host:port` scrape targets per service, one per replica.
    pub fn scrape_targets(&self) -> Vec<(String, Vec<String>)> {
        self.urls
            .keys()
            .map(|name| {
                let targets = match self.scrape_via.get(name) {
                    Some(proxy) => vec![proxy.clone()],
                    None => self
                        .replica_urls(name, None)
                        .iter()
                        .map(|url| {
                            url.trim_start_matches("http://")
                                .trim_end_matches('/')
                                .to_string()
                        })
                        .collect(),
                };
                (name.clone(), targets)
            })
            .collect()
    }

    /// The base URL of every replica of a service, or of one (`replica`, 1-based).
    pub fn replica_urls(&self, service: &str, replica: Option<u32>) -> Vec<String> {
        let Some(keys) = self.replicas.get(service) else {
            // In-process and external services: one instance each.
            return match (self.urls.get(service), replica) {
                (Some(url), None | Some(1)) => vec![url.clone()],
                _ => Vec::new(),
            };
        };
        self.replica_keys(keys, replica)
            .filter_map(|k| self.processes.get(k))
            .map(|p| format!("http://{}", p.addr))
            .collect()
    }

    /// `(process key, pid)` of every replica of a per-process service, or of one.
    pub fn replica_pids(&self, service: &str, replica: Option<u32>) -> Vec<(String, u32)> {
        let Some(keys) = self.replicas.get(service) else {
            return Vec::new();
        };
        self.replica_keys(keys, replica)
            .filter_map(|k| self.processes.get(k).map(|p| (k.clone(), p.process.pid())))
            .collect()
    }

    fn replica_keys<'a>(
        &self,
        keys: &'a [String],
        replica: Option<u32>,
    ) -> impl Iterator<Item = &'a String> {
        keys.iter().enumerate().filter_map(move |(i, k)| {
            let wanted = replica.is_none_or(|r| usize::try_from(r).ok() == Some(i + 1));
            wanted.then_some(k)
        })
    }

    /// Every per-process service's process id.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.values().map(|p| p.process.pid()).collect()
    }

    /// The proxy on a link, if a network fault names it.
    pub fn proxy(&self, from: &str, to: &str) -> Option<&FaultProxy> {
        self.proxies.get(&(from.to_string(), to.to_string()))
    }

    /// Starts a per-process service (by process key: `orders`, or `orders#2` for a replica)
    /// again on its old address (after a kill or a crash), so scrape targets and upstream
    /// URLs stay valid.
    pub async fn restart(&mut self, key: &str) -> Result<(), FleetError> {
        let Some(old) = self.processes.remove(key) else {
            return Err(FleetError::Unknown(key.to_string()));
        };
        let ServiceProcess {
            service,
            mut process,
            args,
            addr,
        } = old;
        process.stop().await;
        let (process, new_addr) = self.spawn(key, &service, &args, &addr.to_string()).await?;
        self.processes.insert(
            key.to_string(),
            ServiceProcess {
                service,
                process,
                args,
                addr: new_addr,
            },
        );
        Ok(())
    }

    /// Stops every service and proxy.
    pub async fn stop(mut self) {
        let stops = self.processes.values_mut().map(|p| p.process.stop());
        futures::future::join_all(stops).await;
        if let Some(fleet) = self.in_process.take() {
            fleet.shutdown().await;
        }
        self.proxies.clear();
        self.http_proxies.clear();
    }
}

fn instrumentation(level: Instrumentation) -> services::Instrumentation {
    match level {
        Instrumentation::Off => services::Instrumentation::Off,
        Instrumentation::Metrics => services::Instrumentation::Metrics,
        Instrumentation::Full => services::Instrumentation::Full,
    }
}

fn instrumentation_flag(level: Instrumentation) -> &'static str {
    match level {
        Instrumentation::Off => "off",
        Instrumentation::Metrics => "metrics",
        Instrumentation::Full => "full",
    }
}

/// `http://127.0.0.1:4318/x` → 127.0.0.1:4318.
fn host_port(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next()?.parse().ok()
}

/// The `gauntlet services` arguments every process of `name` gets, before its links.
pub(super) fn service_args(name: &str, spec: &ServicesSpec, deployment_id: &str) -> Vec<String> {
    let mut args = vec![
        "services".to_string(),
        "--only".into(),
        name.to_string(),
        "--instrumentation".into(),
        instrumentation_flag(spec.instrumentation).into(),
        "--export-interval".into(),
        format!("{}ms", spec.export_interval.as_millis()),
        "--deployment-id".into(),
        deployment_id.to_string(),
        "--dialect".into(),
        spec.dialect.as_str().into(),
    ];
    if let Some(sampling) = &spec.sampling {
        args.extend(["--sampling".into(), sampling.clone()]);
    }
    args
}

/// Waits for `READY <name> <url>` in the service's log; returns its address or the log tail.
async fn wait_ready(name: &str, log: &Path, offset: usize) -> Result<SocketAddr, String> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let prefix = format!("READY {name} ");
    loop {
        let all = std::fs::read_to_string(log).unwrap_or_default();
        let text = all.get(offset..).unwrap_or_default();
        if let Some(url) = text.lines().rev().find_map(|l| l.strip_prefix(&prefix))
            && let Some(addr) = host_port(url.trim())
        {
            return Ok(addr);
        }
        if tokio::time::Instant::now() >= deadline {
            let tail: String = text
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(tail);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
