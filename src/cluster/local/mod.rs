//! A real Kubernetes control plane on this machine, for tests and for users without a cluster:
//! etcd, kube-apiserver (client certificates, `--authorization-mode=Node,RBAC`),
//! kube-controller-manager, kube-scheduler, and either kwok as the kubelet stand-in with one
//! fake node, or ([`LocalOptions::kubelet`]) a real node: containerd and a kubelet
//! ([`node`]) running images made from the gauntlet binary ([`image`]).
//! `scripts/provision.sh` builds the binaries into `$GAUNTLET_HOME/bin`.
//!
//! Everything binds 127.0.0.1 on OS-chosen ports, runs as [`ManagedProcess`]es (own process
//! groups, killed on stop, drop, panic and signals) and keeps its files in one run directory
//! that [`LocalControlPlane::stop`] and `Drop` remove.
//!
//! What is real: the API server, its storage, authentication, RBAC and admission, the
//! controllers (Deployments, ReplicaSets, StatefulSets, Jobs, namespaces, ServiceAccount
//! tokens, garbage collection) and scheduling. What is simulated with kwok: pods are marked
//! Running without running containers. With the real node, pods are containers but must use
//! `hostNetwork`. Either way there is no CNI, so NetworkPolicies are stored but not enforced.

pub mod cli;
pub mod image;
mod kwok;
pub mod node;
mod pki;
mod plane;

pub use plane::{KubeBinaries, KubeletOptions, LocalControlPlane, LocalOptions, StartupTimes};

use std::path::PathBuf;

/// Starting or using the local control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A binary is not installed: tests report this as skipped (failed under
    /// `GAUNTLET_REQUIRE_STACK=1`).
    #[error("{0}")]
    MissingBinary(String),
    #[error("openssl failed at `openssl {step}`: {detail}")]
    Openssl { step: String, detail: String },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run directory {0} exists and is not empty")]
    DirNotEmpty(PathBuf),
    #[error(transparent)]
    Port(#[from] crate::stack::ports::PortError),
    #[error(transparent)]
    Process(#[from] crate::stack::ProcessError),
    #[error("{component} {problem}; log {log}:\n{log_tail}")]
    NotReady {
        component: String,
        problem: String,
        log: PathBuf,
        log_tail: String,
    },
    #[error("cannot build the HTTP client for readiness checks")]
    HttpClient(#[source] reqwest::Error),
    #[error("kubernetes client for {kubeconfig}")]
    Client {
        kubeconfig: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    InvalidName(#[from] crate::cluster::api::InvalidName),
    #[error(
        "kwok cannot read {0} from the API (known: Logs, ClusterLogs, PortForward, ClusterPortForward)"
    )]
    KwokKind(String),
    #[error("the TokenRequest for service account {0} answered without a token")]
    NoToken(String),
    #[error("{what}")]
    Api {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
}
