//! From a scenario's fault to its mechanism: a service hook, a signal to a process group, a
//! container action, a fault proxy on a link, or a Kubernetes API call. The runner says what
//! it has to act on through [`FaultTargets`]; this module decides how each kind is injected
//! and returns the fault's owner, or a typed error that becomes part of the verdict.

use std::time::Duration;

use super::container::{ContainerAction, ContainerFaults};
use super::guard::{FaultError, FaultGuard, FaultRegistry};
use super::hooks::HooksClient;
use super::http_proxy::{HttpEffect, HttpFaultProxy, ProxyWindow};
use super::proxy::{Delay, FaultProxy, ProxyEffect};
use super::signal::{self, KillSignal as SignalHow, ProcessTarget};
use crate::cluster::{KubeFaultError, KubeFaults};
use crate::scenario::{Fault, FaultAction, KillSignal, STACK_COMPONENTS};
use crate::services::hooks::FaultHook;

/// How long a hook fault without `for` stays on at most (its TTL on the service side).
const OPEN_ENDED_HOOK: Duration = Duration::from_secs(3600);

/// What a run offers faults to act on.
pub trait FaultTargets {
    /// A sample service's base URL (its fault admin API).
    fn service_url(&self, service: &str) -> Option<String>;
    /// The process group of a service, or of a stack component gauntlet runs as a process.
    fn process(&self, target: &str) -> Option<u32>;
    /// The container of a compose service or stack component, by name.
    fn container(&self, name: &str) -> Option<String>;
    /// The fault proxy gauntlet interposed on a link.
    fn link(&self, from: &str, to: &str) -> Option<&FaultProxy>;
    /// The cluster's fault API, for Kubernetes kinds.
    fn kube_faults(&self) -> Option<&KubeFaults>;
    /// The HTTP fault proxy in front of a service gauntlet does not own.
    fn http_proxy(&self, _service: &str) -> Option<&HttpFaultProxy> {
        None
    }
}

/// What must be started again when a kill fault ends: the runner owns the processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    Service(String),
    StackComponent(String),
}

/// An injected fault: its owner (when it has something to undo) and what to restart.
#[derive(Debug)]
pub struct Injected {
    pub guard: Option<FaultGuard>,
    pub restart: Option<Restart>,
    /// The fault took effect when its call started, not when it returned: `docker stop`
    /// sends SIGTERM at once but returns only after the container exits (up to its grace
    /// period). Deadlines then count from the call's start, so a reaction is never credited
    /// with time the fault was already acting.
    pub effective_at_call_start: bool,
    /// For a fault on an HTTP fault proxy: what passed through while it was on (a fault no
    /// request reached did nothing, and nothing may be credited to it).
    pub window: Option<ProxyWindow>,
}

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("service {0} is not running")]
    NoService(String),
    #[error("{0} is not a process or container this run can reach")]
    NoProcess(String),
    #[error("no container for {0}")]
    NoContainer(String),
    #[error("no fault proxy on {from} -> {to}")]
    NoLink { from: String, to: String },
    #[error("no HTTP fault proxy in front of {0} (add it under `services.fault-proxy`)")]
    NoHttpProxy(String),
    #[error("fault kind {0} needs provider kubernetes")]
    NeedsKubernetes(&'static str),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error(transparent)]
    Kube(#[from] KubeFaultError),
}

/// Injects `fault` now.
pub async fn inject(
    fault: &Fault,
    targets: &dyn FaultTargets,
    registry: &FaultRegistry,
) -> Result<Injected, InjectError> {
    let duration = fault.duration.unwrap_or(OPEN_ENDED_HOOK);
    let guarded = |guard| {
        Ok(Injected {
            guard: Some(guard),
            restart: None,
            effective_at_call_start: false,
            window: None,
        })
    };
    // A service behind an HTTP fault proxy takes its HTTP faults there.
    if let Some((service, effect)) = proxy_effect(&fault.action)
        && let Some(proxy) = targets.http_proxy(service)
    {
        let (guard, window) = proxy.inject(registry, effect);
        return Ok(Injected {
            guard: Some(guard),
            restart: None,
            effective_at_call_start: false,
            window: Some(window),
        });
    }
    let hook = |service: &str, hook: FaultHook| {
        inject_hook(targets, registry, service.to_string(), hook, duration)
    };
    let link = |from: &str, to: &str| {
        targets.link(from, to).ok_or_else(|| InjectError::NoLink {
            from: from.to_string(),
            to: to.to_string(),
        })
    };
    match &fault.action {
        FaultAction::HttpAbort { service, .. } => Err(InjectError::NoHttpProxy(service.clone())),
        FaultAction::HttpErrors {
            service,
            rate,
            status,
            route,
        } => guarded(
            hook(
                service,
                FaultHook::Errors {
                    rate: *rate,
                    status: *status,
                    route: route.clone(),
                },
            )
            .await?,
        ),
        FaultAction::Latency {
            service,
            delay,
            jitter,
            rate,
        } => guarded(
            hook(
                service,
                FaultHook::Latency {
                    fixed_ms: millis(*delay),
                    jitter_ms: millis(*jitter),
                    rate: *rate,
                },
            )
            .await?,
        ),
        FaultAction::Hang { service, rate } => {
            guarded(hook(service, FaultHook::Hang { rate: *rate }).await?)
        }
        FaultAction::Crash { service, exit_code } => Ok(Injected {
            guard: Some(
                hook(
                    service,
                    FaultHook::Crash {
                        exit_code: *exit_code,
                    },
                )
                .await?,
            ),
            restart: fault.duration.map(|_| Restart::Service(service.clone())),
            effective_at_call_start: false,
            window: None,
        }),
        FaultAction::CpuBurn { service, threads } => {
            guarded(hook(service, FaultHook::CpuBurn { threads: *threads }).await?)
        }
        FaultAction::MemoryGrowth {
            service,
            mb_per_second,
            max_mb,
        } => guarded(
            hook(
                service,
                FaultHook::MemoryGrowth {
                    mb_per_sec: *mb_per_second,
                    max_mb: *max_mb,
                },
            )
            .await?,
        ),
        FaultAction::DependencyFailure {
            service,
            dependency,
            rate,
            status,
        } => guarded(
            hook(
                service,
                FaultHook::DependencyFailure {
                    dependency: dependency.clone(),
                    rate: *rate,
                    status: *status,
                },
            )
            .await?,
        ),
        FaultAction::QueueStall { service } => guarded(hook(service, FaultHook::QueueStall).await?),
        FaultAction::KillProcess { target, signal } => {
            let is_component = STACK_COMPONENTS.contains(&target.as_str());
            if let Some(pid) = targets.process(target) {
                let how = match signal {
                    KillSignal::Kill => SignalHow::Kill,
                    KillSignal::Term => SignalHow::Term,
                };
                let guard = signal::kill(registry, ProcessTarget::Group(pid), how, None)?;
                let restart = fault.duration.map(|_| {
                    if is_component {
                        Restart::StackComponent(target.clone())
                    } else {
                        Restart::Service(target.clone())
                    }
                });
                return Ok(Injected {
                    guard: Some(guard),
                    restart,
                    effective_at_call_start: false,
                    window: None,
                });
            }
            // A stack component in a container: docker kill, started again at rollback.
            let id = targets
                .container(target)
                .ok_or_else(|| InjectError::NoProcess(target.clone()))?;
            let signal = match signal {
                KillSignal::Kill => "SIGKILL",
                KillSignal::Term => "SIGTERM",
            };
            guarded(
                container(
                    registry,
                    &id,
                    ContainerAction::Kill {
                        signal: signal.into(),
                    },
                )
                .await?,
            )
        }
        FaultAction::PauseProcess { target } => {
            if let Some(pid) = targets.process(target) {
                return guarded(signal::pause(registry, ProcessTarget::Group(pid))?);
            }
            let id = targets
                .container(target)
                .ok_or_else(|| InjectError::NoProcess(target.clone()))?;
            guarded(container(registry, &id, ContainerAction::Pause).await?)
        }
        FaultAction::NetworkDelay {
            from,
            to,
            delay,
            jitter,
        } => guarded(link(from, to)?.inject(
            registry,
            ProxyEffect::Delay(Delay {
                fixed: *delay,
                jitter: *jitter,
            }),
        )),
        FaultAction::NetworkBandwidth {
            from,
            to,
            bytes_per_second,
        } => guarded(link(from, to)?.inject(
            registry,
            ProxyEffect::Bandwidth {
                bytes_per_sec: *bytes_per_second,
            },
        )),
        FaultAction::NetworkBlackhole { from, to } => {
            guarded(link(from, to)?.inject(registry, ProxyEffect::Blackhole))
        }
        FaultAction::NetworkReset { from, to } => {
            guarded(link(from, to)?.inject(registry, ProxyEffect::Reset))
        }
        FaultAction::ContainerStop { container: name }
        | FaultAction::ContainerPause { container: name }
        | FaultAction::ContainerKill { container: name } => {
            let id = targets
                .container(name)
                .ok_or_else(|| InjectError::NoContainer(name.clone()))?;
            let action = match &fault.action {
                FaultAction::ContainerStop { .. } => ContainerAction::Stop { grace_secs: 5 },
                FaultAction::ContainerPause { .. } => ContainerAction::Pause,
                _ => ContainerAction::Kill {
                    signal: "SIGKILL".into(),
                },
            };
            let stop = matches!(action, ContainerAction::Stop { .. });
            let mut injected = guarded(container(registry, &id, action).await?)?;
            injected.effective_at_call_start = stop;
            Ok(injected)
        }
        FaultAction::PodKill { .. }
        | FaultAction::ScaleToZero { .. }
        | FaultAction::RolloutRestart { .. }
        | FaultAction::NetworkPartition { .. } => {
            let kube = targets
                .kube_faults()
                .ok_or(InjectError::NeedsKubernetes(fault.action.kind()))?;
            let injection = kube.inject(registry, fault).await?;
            tracing::info!(fault = %fault.name, calls = injection.calls.len(), deleted = ?injection.deleted_pods, "kubernetes fault injected");
            // pod-kill and rollout-restart have nothing to undo: controllers replace the pods.
            Ok(Injected {
                guard: injection.guard,
                restart: None,
                effective_at_call_start: false,
                window: None,
            })
        }
    }
}

/// The proxy effect of a fault kind the HTTP fault proxy can inject, with its service.
fn proxy_effect(action: &FaultAction) -> Option<(&str, HttpEffect)> {
    Some(match action {
        FaultAction::HttpErrors {
            service,
            rate,
            status,
            route,
        } => (
            service,
            HttpEffect::Errors {
                rate: *rate,
                status: *status,
                route: route.clone(),
            },
        ),
        FaultAction::Latency {
            service,
            delay,
            jitter,
            rate,
        } => (
            service,
            HttpEffect::Latency {
                fixed: *delay,
                jitter: *jitter,
                rate: *rate,
            },
        ),
        FaultAction::HttpAbort { service, rate } => (service, HttpEffect::Abort { rate: *rate }),
        _ => return None,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn container(
    registry: &FaultRegistry,
    id: &str,
    action: ContainerAction,
) -> Result<FaultGuard, FaultError> {
    ContainerFaults::connect()?
        .inject(registry, id, action)
        .await
}

async fn inject_hook(
    targets: &dyn FaultTargets,
    registry: &FaultRegistry,
    service: String,
    hook: FaultHook,
    duration: Duration,
) -> Result<FaultGuard, InjectError> {
    let url = targets
        .service_url(&service)
        .ok_or(InjectError::NoService(service))?;
    let base = reqwest::Url::parse(&url).map_err(|e| FaultError::Url {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    Ok(HooksClient::new(base)?
        .inject(registry, hook, duration)
        .await?)
}
