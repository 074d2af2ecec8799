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
    /// The base URL (fault admin API) of each replica of a sample service, or of one
    /// (`replica`, 1-based); empty when there is none.
    fn service_urls(&self, service: &str, replica: Option<u32>) -> Vec<String>;
    /// The process group of each replica of a service (or of one), or of a stack component
    /// gauntlet runs as a process, with the name to restart it by.
    fn processes(&self, target: &str, replica: Option<u32>) -> Vec<(String, u32)>;
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

/// An injected fault: its owners (one per replica it acts on, none when there is nothing to
/// undo) and what to restart.
#[derive(Debug)]
pub struct Injected {
    pub guards: Vec<FaultGuard>,
    pub restarts: Vec<Restart>,
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
    let replica = fault.replica;
    let guarded = |guard| {
        Ok(Injected {
            guards: vec![guard],
            restarts: Vec::new(),
            effective_at_call_start: false,
            window: None,
        })
    };
    let hooked = |guards| {
        Ok(Injected {
            guards,
            restarts: Vec::new(),
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
            guards: vec![guard],
            restarts: Vec::new(),
            effective_at_call_start: false,
            window: Some(window),
        });
    }
    let hook = |service: &str, hook: FaultHook| {
        inject_hook(
            targets,
            registry,
            service.to_string(),
            replica,
            hook,
            duration,
        )
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
        } => hooked(
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
        } => hooked(
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
            hooked(hook(service, FaultHook::Hang { rate: *rate }).await?)
        }
        FaultAction::Crash { service, exit_code } => {
            let guards = hook(
                service,
                FaultHook::Crash {
                    exit_code: *exit_code,
                },
            )
            .await?;
            let restarts = match fault.duration {
                Some(_) => targets
                    .processes(service, replica)
                    .into_iter()
                    .map(|(name, _)| Restart::Service(name))
                    .collect(),
                None => Vec::new(),
            };
            Ok(Injected {
                guards,
                restarts,
                effective_at_call_start: false,
                window: None,
            })
        }
        FaultAction::CpuBurn { service, threads } => {
            hooked(hook(service, FaultHook::CpuBurn { threads: *threads }).await?)
        }
        FaultAction::MemoryGrowth {
            service,
            mb_per_second,
            max_mb,
        } => hooked(
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
        } => hooked(
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
        FaultAction::QueueStall { service } => hooked(hook(service, FaultHook::QueueStall).await?),
        FaultAction::KillProcess { target, signal } => {
            let is_component = STACK_COMPONENTS.contains(&target.as_str());
            let processes = targets.processes(target, replica);
            if !processes.is_empty() {
                let how = match signal {
                    KillSignal::Kill => SignalHow::Kill,
                    KillSignal::Term => SignalHow::Term,
                };
                let mut guards = Vec::new();
                let mut restarts = Vec::new();
                for (name, pid) in processes {
                    guards.push(signal::kill(
                        registry,
                        ProcessTarget::Group(pid),
                        how,
                        None,
                    )?);
                    if fault.duration.is_some() {
                        restarts.push(if is_component {
                            Restart::StackComponent(name)
                        } else {
                            Restart::Service(name)
                        });
                    }
                }
                return Ok(Injected {
                    guards,
                    restarts,
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
            let processes = targets.processes(target, replica);
            if !processes.is_empty() {
                let mut guards = Vec::new();
                for (_, pid) in processes {
                    guards.push(signal::pause(registry, ProcessTarget::Group(pid))?);
                }
                return hooked(guards);
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
                guards: injection.guard.into_iter().collect(),
                restarts: Vec::new(),
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

/// Switches the hook on in every replica the fault targets; if one fails, the guards of
/// those already on are dropped, which rolls them back.
async fn inject_hook(
    targets: &dyn FaultTargets,
    registry: &FaultRegistry,
    service: String,
    replica: Option<u32>,
    hook: FaultHook,
    duration: Duration,
) -> Result<Vec<FaultGuard>, InjectError> {
    let urls = targets.service_urls(&service, replica);
    if urls.is_empty() {
        let name = match replica {
            Some(r) => format!("{service} replica {r}"),
            None => service,
        };
        return Err(InjectError::NoService(name));
    }
    let mut guards = Vec::with_capacity(urls.len());
    for url in urls {
        let base = reqwest::Url::parse(&url).map_err(|e| FaultError::Url {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        guards.push(
            HooksClient::new(base)?
                .inject(registry, hook.clone(), duration)
                .await?,
        );
    }
    Ok(guards)
}
