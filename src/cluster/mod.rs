//! Kubernetes mode: run against a cluster, inject faults through the Kubernetes API, and
//! distribute load as Jobs.
//!
//! - [`api`]: every API request as data ([`ApiCall`]), names, selectors, the live sender
//! - [`guard`]: the `gauntlet.io/chaos=enabled` opt-in, dry-run mode and the fault plan
//! - [`faults`]: pod-kill, scale-to-zero, rollout-restart, network-partition with rollback
//! - [`discover`]: find Prometheus, Alertmanager, Jaeger, Loki/VictoriaLogs, Grafana Services
//!   and port-forward to them through the API
//! - [`local`]: a real control plane on this machine (etcd, kube-apiserver, controllers,
//!   scheduler, kwok) for tests and `gauntlet cluster up`
//! - [`workers`]: distributed load as a Kubernetes Job, the exact merge of worker results,
//!   and the `load-worker` entry point
//!
//! The templates users apply live in `deploy/` (RBAC, the load-worker Job, scenarios).

pub mod api;
pub mod discover;
pub mod faults;
pub mod guard;
pub mod local;
pub mod workers;

pub use api::{ApiCall, ApiError, Method, Name, Selector, Workload, WorkloadKind, connect};
pub use discover::{Component, ForwardLimits, PortForwards};
pub use faults::{Injection, KubeFault, KubeFaultError, KubeFaults};
pub use guard::{GuardError, Mode, PlanError, PlannedAction, Refusal, plan, render_plan};
pub use local::{
    KubeBinaries, KubeletOptions, LocalControlPlane, LocalError, LocalOptions, StartupTimes,
};
pub use workers::{
    DistributedLoad, DistributedReport, JobConfig, LoadWorkerArgs, MergedLoad, WorkerError,
    WorkerLine, WorkerPlan, merge, run_load_worker,
};
