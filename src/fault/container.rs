//! Container faults through the Docker Engine API (bollard, as re-exported by testcontainers;
//! <https://docs.docker.com/reference/api/engine/>): stop, pause, kill — rolled back with
//! start, unpause, start.
//!
//! The daemon is found the usual way (`DOCKER_HOST=unix://…`, else `/var/run/docker.sock`).

use super::guard::{FaultError, FaultGuard, FaultRegistry};
use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::{
    KillContainerOptions, StartContainerOptions, StopContainerOptions,
};

/// What to do to the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerAction {
    /// `docker stop` with a grace period (seconds) before SIGKILL; rollback starts it.
    Stop { grace_secs: i32 },
    /// `docker pause` (cgroup freezer); rollback unpauses it.
    Pause,
    /// `docker kill` with a signal name (e.g. `SIGKILL`); rollback starts it.
    Kill { signal: String },
}

impl ContainerAction {
    fn name(&self) -> &'static str {
        match self {
            ContainerAction::Stop { .. } => "stop",
            ContainerAction::Pause => "pause",
            ContainerAction::Kill { .. } => "kill",
        }
    }
}

/// A Docker daemon to inject container faults through.
#[derive(Debug, Clone)]
pub struct ContainerFaults {
    docker: Docker,
}

fn err(
    container: &str,
    action: &'static str,
) -> impl FnOnce(testcontainers::bollard::errors::Error) -> FaultError {
    let container = container.to_owned();
    move |e| FaultError::Container {
        container,
        action,
        source: Box::new(e),
    }
}

impl ContainerFaults {
    /// Connects to the local daemon (no request is made yet).
    pub fn connect() -> Result<Self, FaultError> {
        let docker = Docker::connect_with_local_defaults().map_err(err("-", "connect"))?;
        Ok(ContainerFaults { docker })
    }

    /// Wraps an existing client.
    pub fn with_client(docker: Docker) -> Self {
        ContainerFaults { docker }
    }

    /// `GET /_ping`: is the daemon answering?
    pub async fn ping(&self) -> Result<(), FaultError> {
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(err("-", "ping"))
    }

    /// Applies `action` to `container` (name or id) and returns the guard that reverts it.
    pub async fn inject(
        &self,
        registry: &FaultRegistry,
        container: &str,
        action: ContainerAction,
    ) -> Result<FaultGuard, FaultError> {
        let name = action.name();
        match &action {
            ContainerAction::Stop { grace_secs } => self
                .docker
                .stop_container(
                    container,
                    Some(StopContainerOptions {
                        t: Some(*grace_secs),
                        signal: None,
                    }),
                )
                .await
                .map_err(err(container, "stop"))?,
            ContainerAction::Pause => self
                .docker
                .pause_container(container)
                .await
                .map_err(err(container, "pause"))?,
            ContainerAction::Kill { signal } => self
                .docker
                .kill_container(
                    container,
                    Some(KillContainerOptions {
                        signal: signal.clone(),
                    }),
                )
                .await
                .map_err(err(container, "kill"))?,
        }
        let docker = self.docker.clone();
        let id = container.to_owned();
        Ok(
            registry.register(format!("{name} container {container}"), move || {
                Box::pin(async move {
                    match action {
                        ContainerAction::Pause => docker
                            .unpause_container(&id)
                            .await
                            .map_err(err(&id, "unpause")),
                        ContainerAction::Stop { .. } | ContainerAction::Kill { .. } => docker
                            .start_container(&id, None::<StartContainerOptions>)
                            .await
                            .map_err(err(&id, "start")),
                    }
                })
            }),
        )
    }
}
