//! The whole fleet in one process: six services wired together on OS-chosen ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::config::{FleetConfig, ServiceConfig, ServiceName};
use super::service::{RunningService, ServiceError, start};

/// All six services; each stops when the fleet is shut down or dropped.
#[derive(Debug)]
pub struct RunningFleet {
    services: BTreeMap<ServiceName, RunningService>,
}

/// Starts every service, dependencies first, each on `cfg.host` with a port from the OS.
pub async fn start_fleet(cfg: FleetConfig) -> Result<RunningFleet, ServiceError> {
    let mut services: BTreeMap<ServiceName, RunningService> = BTreeMap::new();
    for name in ServiceName::ALL {
        let mut sc = ServiceConfig::new(name, SocketAddr::new(cfg.host, 0));
        for &up in name.required_upstreams() {
            if let Some(s) = services.get(&up) {
                sc.upstreams.insert(up, s.url().to_owned());
            }
        }
        sc.otlp_endpoint = cfg.otlp_endpoint.clone();
        sc.instrumentation = cfg.instrumentation;
        sc.deployment_id = cfg.deployment_id.clone();
        sc.sampling = cfg.sampling;
        sc.log_output = cfg.log_output.clone();
        sc.upstream_timeout = cfg.upstream_timeout;
        sc.export_interval = cfg.export_interval;
        sc.dialect = cfg.dialect;
        // On error the services started so far are dropped, which stops them.
        let running = start(sc).await?;
        services.insert(name, running);
    }
    Ok(RunningFleet { services })
}

impl RunningFleet {
    /// The service's handle. Every name is present.
    pub fn service(&self, name: ServiceName) -> &RunningService {
        self.services
            .get(&name)
            .expect("start_fleet starts every ServiceName")
    }

    /// `http://ip:port` of a service.
    pub fn url(&self, name: ServiceName) -> &str {
        self.service(name).url()
    }

    /// Every service with its URL, in name order.
    pub fn urls(&self) -> Vec<(ServiceName, String)> {
        self.services
            .iter()
            .map(|(n, s)| (*n, s.url().to_owned()))
            .collect()
    }

    pub fn services(&self) -> impl Iterator<Item = &RunningService> {
        self.services.values()
    }

    /// Exports every service's buffered spans and log records now.
    pub async fn flush_telemetry(&self) {
        for s in self.services.values() {
            s.flush_telemetry().await;
        }
    }

    /// Stops every service, callers first so in-flight calls drain downstream.
    pub async fn shutdown(mut self) {
        for name in ServiceName::ALL.into_iter().rev() {
            if let Some(s) = self.services.remove(&name) {
                s.shutdown().await;
            }
        }
    }
}
