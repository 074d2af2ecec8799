//! `gauntlet cluster up`: the local control plane in the foreground, for users without a
//! cluster. It prints the admin kubeconfig and runs until Ctrl-C or SIGTERM, then stops every
//! component and removes its directory.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{LocalControlPlane, LocalError, LocalOptions};
use crate::stack::process::ShutdownListener;

/// Options of `gauntlet cluster up`.
#[derive(Debug, clap::Args)]
pub struct ClusterUpArgs {
    /// Keep the run's files (certificates, kubeconfigs, logs, etcd data) in this directory
    /// (created; must be empty) instead of a temporary one. Removed on stop either way.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How long the start may take, until the fake node is Ready.
    #[arg(long, default_value = "180s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// A kwok configuration file to add (`ClusterLogs`, `ClusterPortForward`, `Stage`
    /// documents); repeatable.
    #[arg(long = "kwok-config", value_name = "FILE")]
    pub kwok_config: Vec<PathBuf>,
    /// Leave pods owned by a Job Running instead of letting them succeed at once (kwok).
    #[arg(long)]
    pub keep_job_pods_running: bool,
    /// Run a real node instead of kwok's fake one: Debian's containerd and a kubelet (root,
    /// cgroup v1), so pods run real containers. Pods must use `hostNetwork`; the image
    /// `gauntlet.local/gauntlet:<tag>` (this gauntlet binary) is imported, for
    /// `gauntlet run --workers N --worker-image IMAGE --worker-host-network`.
    #[arg(long, conflicts_with_all = ["kwok_config", "keep_job_pods_running"])]
    pub kubelet: bool,
}

/// `cluster up` failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterCliError {
    #[error("cannot read kwok configuration {path}")]
    KwokConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the local control plane did not start")]
    Start(#[source] LocalError),
    #[error("cannot find this gauntlet binary to make the node's image")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot write to stdout")]
    Output(#[source] std::io::Error),
}

/// Starts the plane, prints where it is, waits for SIGINT/SIGTERM and stops it. The caller
/// installs the signal handler (`cli::install_cleanup`).
pub async fn cluster_up(args: &ClusterUpArgs, out: &mut dyn Write) -> Result<(), ClusterCliError> {
    let mut kwok_config = Vec::new();
    for path in &args.kwok_config {
        let text = std::fs::read_to_string(path).map_err(|source| ClusterCliError::KwokConfig {
            path: path.clone(),
            source,
        })?;
        kwok_config.push(text);
    }
    let options = LocalOptions {
        dir: args.dir.clone(),
        kwok_config,
        job_pods_complete: !args.keep_job_pods_running,
        ready_timeout: args.timeout,
        kwok_crds: Vec::new(),
        kubelet: match args.kubelet {
            true => Some(super::KubeletOptions {
                gauntlet_binary: std::env::current_exe().map_err(ClusterCliError::CurrentExe)?,
            }),
            false => None,
        },
    };
    // Registered before starting, so a Ctrl-C during the start also ends in a clean stop.
    let mut shutdown = ShutdownListener::new();
    let plane = tokio::select! {
        r = LocalControlPlane::start(&options) => r.map_err(ClusterCliError::Start)?,
        _ = shutdown.requested() => return Ok(()),
    };
    let startup = plane.startup();
    let kubeconfig = plane.kubeconfig_path().display().to_string();
    let node = match plane.images() {
        Some(images) => format!(
            "{} (a real kubelet with containerd: pods must use hostNetwork; NetworkPolicies are not enforced)\n\
             \x20 image       {} (this gauntlet binary, imported; no registry)",
            plane.node_name(),
            images.gauntlet
        ),
        None => format!(
            "{} (kwok: pods are marked Running; no containers run, NetworkPolicies are not enforced)",
            plane.node_name()
        ),
    };
    let text = format!(
        "kubernetes control plane up in {:.1?} (API server ready after {:.1?}), {} MiB resident\n\
         \x20 server      {}\n\
         \x20 node        {node}\n\
         \x20 logs        {}\n\
         kubeconfig: {kubeconfig}\n\
         export KUBECONFIG={kubeconfig}\n\
         running; press Ctrl-C to stop\n",
        startup.node_ready,
        startup.api_ready,
        plane.rss_bytes() / (1024 * 1024),
        plane.server(),
        plane.log_dir().display(),
    );
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(ClusterCliError::Output)?;
    shutdown.requested().await;
    out.write_all(b"stopping the control plane\n")
        .map_err(ClusterCliError::Output)?;
    plane.stop().await;
    out.write_all(b"stopped\n").map_err(ClusterCliError::Output)
}
