//! The stack of a run as the runner sees it: started by gauntlet (native processes, compose
//! containers) or attached to (external URLs, a Kubernetes cluster through port-forwards),
//! and what it offers faults to act on.

use std::collections::BTreeMap;

use super::attach::{Backends, KubeStack};
use super::fleet::Fleet;
use crate::cluster::KubeFaults;
use crate::error_chain;
use crate::fault::{FaultProxy, FaultTargets};
use crate::report::{Component, ComponentKind};
use crate::stack::NativeStack;
use crate::stack::compose::ComposeStack;

pub(super) enum StackHandle {
    Native(NativeStack),
    Compose(ComposeStack),
    External(Backends, Vec<Component>),
    Kubernetes(Box<KubeStack>),
}

impl StackHandle {
    pub fn backends(&self) -> Backends {
        match self {
            StackHandle::Native(s) => Backends::from(s.urls()),
            StackHandle::Compose(s) => Backends::from(s.urls()),
            StackHandle::External(b, _) => b.clone(),
            StackHandle::Kubernetes(k) => k.backends.clone(),
        }
    }

    /// Whether gauntlet runs (and so configures) this stack.
    pub fn is_owned(&self) -> bool {
        matches!(self, StackHandle::Native(_) | StackHandle::Compose(_))
    }

    /// Points the stack's Prometheus at a service's metrics endpoints (one per replica),
    /// labelled with the scrape job the scenario names.
    pub fn set_service_targets(
        &self,
        service: &str,
        job: &str,
        targets: &[String],
    ) -> Result<(), String> {
        let error = |e: crate::stack::NativeError| error_chain(&e);
        match self {
            StackHandle::Native(s) => s
                .set_service_job_targets(service, job, targets)
                .map_err(error),
            StackHandle::Compose(s) => s
                .set_service_job_targets(service, job, targets)
                .map_err(error),
            StackHandle::External(..) | StackHandle::Kubernetes(_) => Err(format!(
                "cannot add scrape targets for {service} to a stack gauntlet does not run"
            )),
        }
    }

    pub fn kube(&self) -> Option<&KubeStack> {
        match self {
            StackHandle::Kubernetes(k) => Some(k),
            _ => None,
        }
    }

    /// Starts a stack component again after a kill fault (native processes; containers are
    /// started again by their fault's own rollback).
    pub async fn restart_component(&self, component: &str) -> Result<(), String> {
        match self {
            StackHandle::Native(s) => s
                .restart_component(component)
                .await
                .map_err(|e| error_chain(&e)),
            _ => Err(format!(
                "cannot restart {component}: it is not a process gauntlet runs"
            )),
        }
    }

    /// Alertmanager notifies gauntlet's webhook in stacks gauntlet configures, and in others
    /// only where their owner points a receiver at `webhook-listen`.
    pub fn notifications_unavailable(&self, webhook_listen: bool) -> Option<String> {
        match self {
            StackHandle::Native(_) | StackHandle::Compose(_) => None,
            StackHandle::External(..) | StackHandle::Kubernetes(_) if webhook_listen => None,
            StackHandle::External(..) | StackHandle::Kubernetes(_) => Some(
                "a running stack's Alertmanager notifies its own receivers: set `stack.webhook-listen` and point a receiver at it".into(),
            ),
        }
    }

    pub async fn stop(self) {
        match self {
            StackHandle::Native(s) => s.stop().await,
            StackHandle::Compose(s) => s.stop().await,
            // Nothing was started; dropping the forwards closes them.
            StackHandle::External(..) | StackHandle::Kubernetes(_) => {}
        }
    }

    /// The components for the reports.
    pub fn components(&self) -> Vec<Component> {
        let (kind, components) = match self {
            StackHandle::Native(s) => (ComponentKind::Native, s.components()),
            StackHandle::Compose(s) => (ComponentKind::Container, s.components()),
            StackHandle::External(_, components) => return components.clone(),
            StackHandle::Kubernetes(k) => return k.components.clone(),
        };
        components
            .iter()
            .map(|c| Component {
                name: c.name.clone(),
                version: Some(c.version.clone()).filter(|v| !v.is_empty()),
                real: c.real,
                kind: if c.real { kind } else { ComponentKind::Tap },
                note: Some(c.implementation.clone()),
            })
            .collect()
    }
}

/// What faults act on in a run: the services gauntlet started and the stack.
pub(super) struct RunTargets<'a> {
    pub fleet: &'a Fleet,
    pub stack: &'a StackHandle,
}

impl FaultTargets for RunTargets<'_> {
    fn service_urls(&self, service: &str, replica: Option<u32>) -> Vec<String> {
        self.fleet.replica_urls(service, replica)
    }

    fn processes(&self, target: &str, replica: Option<u32>) -> Vec<(String, u32)> {
        let services = self.fleet.replica_pids(target, replica);
        if !services.is_empty() {
            return services;
        }
        match self.stack {
            StackHandle::Native(s) => s
                .component_pid(target)
                .map(|pid| (target.to_string(), pid))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn container(&self, name: &str) -> Option<String> {
        let StackHandle::Compose(s) = self.stack else {
            return None;
        };
        let by_service: BTreeMap<String, String> = s.container_ids().into_iter().collect();
        by_service
            .get(name)
            .cloned()
            .or_else(|| s.component_container(name))
    }

    fn link(&self, from: &str, to: &str) -> Option<&FaultProxy> {
        if from == "collector" && to == "log-store" {
            match self.stack {
                StackHandle::Native(s) => s.log_store_proxy(),
                _ => None,
            }
        } else {
            self.fleet.proxy(from, to)
        }
    }

    fn kube_faults(&self) -> Option<&KubeFaults> {
        self.stack.kube().map(|k| &k.faults)
    }

    fn http_proxy(&self, service: &str) -> Option<&crate::fault::HttpFaultProxy> {
        self.fleet.http_proxy(service)
    }
}
