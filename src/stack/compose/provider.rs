//! The compose provider: runs the services of a compose file (our subset, see
//! [`super::file`]) as containers through testcontainers' `GenericImage` with host networking,
//! against a Docker daemon gauntlet starts if none answers.
//!
//! Configs, ports and URLs come from the same rendering as the native provider, so a compose
//! stack and a native stack differ only in how each component process is run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};

use super::docker::{DockerDaemon, DockerError, build_binary_image};
use super::file::{ComposeFile, ComposeFileError, PlannedService};
use crate::stack::native::{self, NativeBinaries, NativeError};
use crate::stack::running::{ComponentInfo, StackUrls, describe_components};

/// Starting or driving the compose stack failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    File(#[from] ComposeFileError),
    #[error(transparent)]
    Native(#[from] NativeError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("service {service} (image {image}) did not start")]
    Start {
        service: String,
        image: String,
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },
    #[error("service {service} {problem}; container output:\n{output}")]
    Service {
        service: String,
        problem: String,
        output: String,
    },
    #[error("service {service} has an invalid readiness URL {url:?}")]
    ReadyUrl { service: String, url: String },
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

struct Running {
    service: String,
    /// The stack component it runs (`prometheus`, `otel-collector`, …), if any.
    component: Option<String>,
    container: ContainerAsync<GenericImage>,
    ready: Vec<Url>,
}

/// A stack running as containers; removed on `stop()` or `Drop`.
pub struct ComposeStack {
    // Containers go first so they are removed before the daemon handle and the run dir drop.
    containers: Vec<Running>,
    daemon: Arc<DockerDaemon>,
    run_dir: Option<tempfile::TempDir>,
    run_path: PathBuf,
    targets_dir: PathBuf,
    urls: StackUrls,
    components: Vec<ComponentInfo>,
    startup: Duration,
}

impl std::fmt::Debug for ComposeStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposeStack")
            .field("run_dir", &self.run_path)
            .field("urls", &self.urls)
            .field("containers", &self.container_ids())
            .finish_non_exhaustive()
    }
}

impl ComposeStack {
    /// Builds the local images the file asks for, starts every service in dependency order
    /// and waits until all are ready (each within `config.ready_timeout`).
    pub async fn start(
        config: &crate::stack::StackConfig,
        compose_file: &Path,
    ) -> Result<Self, ComposeError> {
        let started = Instant::now();
        // No container image of OpenSearch can be built here; `gauntlet check` refuses this
        // too, so only a caller bypassing validation gets here.
        if config.trace_store != crate::stack::TraceStore::Memory {
            return Err(NativeError::TraceStoreUnsupported {
                store: config.trace_store,
                provider: "provider compose",
            }
            .into());
        }
        let binaries = NativeBinaries::find_for(config.prometheus_version)?;
        let prepared = native::prepare(config, &binaries)?;
        let vars = variables(&prepared.run_path, &prepared.urls);
        let file = ComposeFile::load(compose_file)?;
        let plan = file.plan(&compose_file.display().to_string(), &vars)?;
        let daemon = DockerDaemon::acquire().await?;

        let mut built = BTreeSet::new();
        for svc in &plan {
            if let Some(b) = svc.binary {
                let image = format!("{}:{}", svc.image_name, svc.image_tag);
                if built.insert(image.clone()) {
                    build_binary_image(&image, binaries.path(b)).await?;
                }
            }
        }

        let run_id = prepared
            .run_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
            .to_lowercase();
        let mut containers = Vec::with_capacity(plan.len());
        for svc in &plan {
            let launch = svc
                .component
                .as_deref()
                .and_then(|c| prepared.launches.iter().find(|l| l.component == c));
            let cmd: Vec<String> = match (&svc.command, launch) {
                (Some(c), _) => c.clone(),
                (None, Some(l)) => l
                    .args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                (None, None) => Vec::new(),
            };
            let mut ready = launch.map(|l| l.ready.clone()).unwrap_or_default();
            if let Some(u) = &svc.ready {
                ready.push(Url::parse(u).map_err(|_| ComposeError::ReadyUrl {
                    service: svc.name.clone(),
                    url: u.clone(),
                })?);
            }
            let container = start_service(svc, cmd, &run_id).await?;
            containers.push(Running {
                service: svc.name.clone(),
                component: svc.component.clone(),
                container,
                ready,
            });
        }
        let (ready, versions) = tokio::join!(
            wait_ready(&containers, config.ready_timeout),
            binaries.versions()
        );
        ready?;
        let components = native::component_infos(
            &prepared.urls,
            &versions,
            " in a container (compose)",
            |_| None,
        );
        let startup = started.elapsed();
        tracing::info!(?startup, "compose stack ready");
        Ok(Self {
            containers,
            daemon,
            run_dir: Some(prepared.run_dir),
            run_path: prepared.run_path,
            targets_dir: prepared.targets_dir,
            urls: prepared.urls,
            components,
            startup,
        })
    }

    /// Where each component answers.
    pub fn urls(&self) -> &StackUrls {
        &self.urls
    }

    /// The components and their versions.
    pub fn components(&self) -> &[ComponentInfo] {
        &self.components
    }

    /// Time from `start()` to every service ready (includes image builds).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// `(service, container id)` pairs, for container faults (stop, pause, kill).
    pub fn container_ids(&self) -> Vec<(String, String)> {
        self.containers
            .iter()
            .map(|r| (r.service.clone(), r.container.id().to_string()))
            .collect()
    }

    /// The container id of a stack component as scenarios name it (`prometheus`,
    /// `alertmanager`, `collector`, `jaeger`, `log-store`), for process faults on it.
    pub fn component_container(&self, component: &str) -> Option<String> {
        self.containers
            .iter()
            .find(|r| {
                r.component
                    .as_deref()
                    .is_some_and(|c| native::is_component_launch(component, c))
            })
            .map(|r| r.container.id().to_string())
    }

    /// A service's container.
    pub fn container(&self, service: &str) -> Option<&ContainerAsync<GenericImage>> {
        self.containers
            .iter()
            .find(|r| r.service == service)
            .map(|r| &r.container)
    }

    /// Replaces the scrape targets of `job` (same file_sd mechanism as the native provider).
    pub fn set_targets(&self, job: &str, targets: &[String]) -> Result<(), NativeError> {
        native::write_targets(&self.targets_dir, job, targets)
    }

    /// Like [`set_targets`](Self::set_targets) for a sample service (adds `service=<name>`).
    pub fn set_service_targets(
        &self,
        service: &str,
        targets: &[String],
    ) -> Result<(), NativeError> {
        native::write_service_targets(&self.targets_dir, service, service, targets)
    }

    /// Like [`set_service_targets`](Self::set_service_targets) with the user's `job` label.
    pub fn set_service_job_targets(
        &self,
        service: &str,
        job: &str,
        targets: &[String],
    ) -> Result<(), NativeError> {
        native::write_service_targets(&self.targets_dir, service, job, targets)
    }

    /// What runs and where.
    pub fn describe(&self) -> String {
        describe_components(
            &format!(
                "compose stack on Docker {} ({}; run dir {}, ready in {:.2?}):",
                self.daemon.version,
                if self.daemon.owned() {
                    "dockerd started by gauntlet"
                } else {
                    "existing daemon"
                },
                self.run_path.display(),
                self.startup
            ),
            &self.components,
        )
    }

    /// Removes every container (reverse start order), then the run dir.
    pub async fn stop(mut self) {
        while let Some(r) = self.containers.pop() {
            if let Err(error) = r.container.rm().await {
                tracing::warn!(%error, service = %r.service, "cannot remove container");
            }
        }
        if let Some(dir) = self.run_dir.take()
            && let Err(error) = dir.close()
        {
            tracing::warn!(%error, "cannot delete the compose run dir");
        }
    }
}

/// Variables compose files may use.
fn variables(run: &Path, urls: &StackUrls) -> BTreeMap<String, String> {
    let port = |u: &Url| u.port().map(|p| p.to_string()).unwrap_or_default();
    BTreeMap::from([
        ("GAUNTLET_RUN_DIR".to_string(), run.display().to_string()),
        (
            "GAUNTLET_PROMETHEUS_PORT".to_string(),
            port(&urls.prometheus),
        ),
        (
            "GAUNTLET_ALERTMANAGER_PORT".to_string(),
            port(&urls.alertmanager),
        ),
        (
            "GAUNTLET_JAEGER_QUERY_PORT".to_string(),
            port(&urls.jaeger_query),
        ),
        ("GAUNTLET_OTLP_GRPC_PORT".to_string(), port(&urls.otlp_grpc)),
        ("GAUNTLET_OTLP_HTTP_PORT".to_string(), port(&urls.otlp_http)),
        ("GAUNTLET_LOG_STORE_PORT".to_string(), port(&urls.log_store)),
    ])
}

async fn start_service(
    svc: &PlannedService,
    cmd: Vec<String>,
    run_id: &str,
) -> Result<ContainerAsync<GenericImage>, ComposeError> {
    let image = GenericImage::new(svc.image_name.clone(), svc.image_tag.clone());
    let mut request = image
        .with_network("host")
        .with_cmd(cmd)
        .with_container_name(format!("{run_id}-{}", svc.name))
        .with_label("gauntlet.run", run_id.to_string())
        .with_label("gauntlet.service", svc.name.clone());
    for (k, v) in &svc.labels {
        request = request.with_label(k.clone(), v.clone());
    }
    for (k, v) in &svc.environment {
        request = request.with_env_var(k.clone(), v.clone());
    }
    for m in &svc.mounts {
        let mount = Mount::bind_mount(m.host.clone(), m.container.clone());
        let mount = if m.read_only {
            mount.with_access_mode(AccessMode::ReadOnly)
        } else {
            mount
        };
        request = request.with_mount(mount);
    }
    request.start().await.map_err(|source| ComposeError::Start {
        service: svc.name.clone(),
        image: format!("{}:{}", svc.image_name, svc.image_tag),
        source: Box::new(source),
    })
}

async fn container_output(c: &ContainerAsync<GenericImage>) -> String {
    let out = c.stdout_to_vec().await.unwrap_or_default();
    let err = c.stderr_to_vec().await.unwrap_or_default();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    let start = text.len().saturating_sub(2048);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].to_string()
}

async fn wait_ready(containers: &[Running], timeout: Duration) -> Result<(), ComposeError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(ComposeError::HttpClient)?;
    let started = Instant::now();
    let mut pending: Vec<(usize, Url, String)> = containers
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.ready
                .iter()
                .map(move |u| (i, u.clone(), "no answer yet".to_string()))
        })
        .collect();
    let mut delay = Duration::from_millis(50);
    loop {
        let answers = futures::future::join_all(pending.iter().map(|(_, url, _)| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                match client.get(url).send().await {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("HTTP {}", r.status())),
                    Err(e) => Some(e.to_string()),
                }
            }
        }))
        .await;
        pending = pending
            .into_iter()
            .zip(answers)
            .filter_map(|((i, u, _), a)| a.map(|last| (i, u, last)))
            .collect();
        let Some((i, url, last)) = pending.first().cloned() else {
            return Ok(());
        };
        for (j, _, _) in &pending {
            let r = &containers[*j];
            if !r.container.is_running().await.unwrap_or(false) {
                let code = r.container.exit_code().await.ok().flatten();
                return Err(ComposeError::Service {
                    service: r.service.clone(),
                    problem: format!("exited before becoming ready (exit code {code:?})"),
                    output: container_output(&r.container).await,
                });
            }
        }
        if started.elapsed() >= timeout {
            let r = &containers[i];
            return Err(ComposeError::Service {
                service: r.service.clone(),
                problem: format!(
                    "not ready after {:.1?} at {url} (last answer: {last})",
                    started.elapsed()
                ),
                output: container_output(&r.container).await,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}
