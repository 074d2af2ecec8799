//! Fault validation: each flat raw fault becomes a tagged `FaultAction`, with every field the
//! kind lacks or does not use reported, and conflicting overlapping windows caught.

use super::*;
use crate::scenario::fault_kinds;

impl Validator {
    pub(super) fn faults(
        &mut self,
        value: Value,
        services: &[String],
        provider: Provider,
        svc: Option<&ServicesSpec>,
    ) -> Vec<Fault> {
        let Value::Sequence(items) = value else {
            self.error("faults", "must be a list of faults", None);
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = join_index("faults", i);
            let Some(raw) = self.piece::<RawFault>(&path, item) else {
                continue;
            };
            if let Some(fault) = self.fault(&path, &raw, services, provider, svc) {
                if !names.insert(fault.name.clone()) {
                    self.error(
                        &join_key(&path, "name"),
                        format!("duplicate fault name {:?}", fault.name),
                        None,
                    );
                }
                out.push(fault);
            }
        }
        self.overlaps(&out);
        out
    }

    fn fault(
        &mut self,
        path: &str,
        r: &RawFault,
        services: &[String],
        provider: Provider,
        svc: Option<&ServicesSpec>,
    ) -> Option<Fault> {
        let Some(kind) = r.kind.as_deref() else {
            self.error(
                path,
                "missing field `kind`",
                Some(format!("known kinds: {}", fault_kinds::names().join(", "))),
            );
            return None;
        };
        let Some(spec) = fault_kinds::kind(kind) else {
            self.unknown_name(
                &join_key(path, "kind"),
                "fault kind",
                kind,
                &fault_kinds::names(),
            );
            return None;
        };
        // Fields the kind does not use are mistakes, not decoration.
        for field in set_fault_fields(r) {
            if !spec.fields.contains(&field) {
                self.error_at_key(
                    &join_key(path, field),
                    format!("`{field}` does not apply to kind `{kind}`"),
                    Some(format!("kind `{kind}` uses: {}", spec.fields.join(", "))),
                );
            }
        }
        let at = match &r.at {
            Some(t) => self.duration(&join_key(path, "at"), Some(t)),
            None => {
                self.error(
                    path,
                    "missing field `at`",
                    Some("when to inject, from the start of the load, e.g. `at: 20s`".into()),
                );
                None
            }
        };
        let duration = match &r.for_ {
            Some(t) => self.positive_duration(&join_key(path, "for"), Some(t)),
            None if spec.needs_for => {
                self.error(
                    path,
                    "missing field `for`",
                    Some(format!("kind `{kind}` needs a duration, e.g. `for: 30s`")),
                );
                None
            }
            None => None,
        };
        if let Some(p) = spec.provider
            && provider != p
        {
            self.error(
                &join_key(path, "kind"),
                format!(
                    "kind `{kind}` needs provider `{}`, this scenario uses `{}`",
                    provider_name(p),
                    provider_name(provider)
                ),
                None,
            );
        }

        let known: Vec<&str> = services.iter().map(String::as_str).collect();
        let service =
            |v: &mut Self, field: &str, value: Option<&String>, required: bool| -> Option<String> {
                let fpath = join_key(path, field);
                match value {
                    Some(s) if known.contains(&s.as_str()) => Some(s.clone()),
                    Some(s) => {
                        v.unknown_name(&fpath, "service", s, &known);
                        None
                    }
                    None if required => {
                        v.error(
                            path,
                            format!("missing field `{field}`"),
                            Some(format!("known services: {}", known.join(", "))),
                        );
                        None
                    }
                    None => None,
                }
            };
        let endpoint = |v: &mut Self, field: &str, value: Option<&String>| -> Option<String> {
            let fpath = join_key(path, field);
            let mut all: Vec<&str> = known.clone();
            all.extend(STACK_COMPONENTS);
            match value {
                Some(s) if all.contains(&s.as_str()) => Some(s.clone()),
                Some(s) => {
                    v.unknown_name(&fpath, "service or component", s, &all);
                    None
                }
                None => {
                    v.error(
                        path,
                        format!("missing field `{field}`"),
                        Some(format!("known: {}", all.join(", "))),
                    );
                    None
                }
            }
        };
        let rate = |v: &mut Self, value: Option<f64>| -> Option<f64> {
            let r = value.unwrap_or(1.0);
            if !(r > 0.0 && r <= 1.0) {
                v.error(
                    &join_key(path, "rate"),
                    format!("rate must be in (0, 1], got {r}"),
                    Some("the fraction of requests affected, e.g. 0.3".into()),
                );
                return None;
            }
            Some(r)
        };
        let status = |v: &mut Self, value: Option<u16>, default: u16| -> Option<u16> {
            let s = value.unwrap_or(default);
            if !(100..=599).contains(&s) {
                v.error(
                    &join_key(path, "status"),
                    format!("HTTP status must be in 100..=599, got {s}"),
                    None,
                );
                return None;
            }
            Some(s)
        };
        let required_str = |v: &mut Self, field: &str, value: Option<&String>| -> Option<String> {
            if value.is_none() {
                v.error(path, format!("missing field `{field}`"), None);
            }
            value.cloned()
        };

        let action = match kind {
            "http-errors" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let rate = rate(self, r.rate);
                let status = status(self, r.status, 500);
                FaultAction::HttpErrors {
                    service: s?,
                    rate: rate?,
                    status: status?,
                    route: r.route.clone(),
                }
            }
            "latency" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let delay = match &r.delay {
                    Some(d) => self.positive_duration(&join_key(path, "delay"), Some(d)),
                    None => {
                        self.error(
                            path,
                            "missing field `delay`",
                            Some("e.g. `delay: 800ms`".into()),
                        );
                        None
                    }
                };
                let jitter = self
                    .duration(&join_key(path, "jitter"), r.jitter.as_ref())
                    .unwrap_or_default();
                let rate = rate(self, r.rate);
                FaultAction::Latency {
                    service: s?,
                    delay: delay?,
                    jitter,
                    rate: rate?,
                }
            }
            "hang" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let rate = rate(self, r.rate);
                FaultAction::Hang {
                    service: s?,
                    rate: rate?,
                }
            }
            "http-abort" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let rate = rate(self, r.rate);
                FaultAction::HttpAbort {
                    service: s?,
                    rate: rate?,
                }
            }
            "crash" => {
                let s = service(self, "service", r.service.as_ref(), true);
                FaultAction::Crash {
                    service: s?,
                    exit_code: r.exit_code.unwrap_or(1),
                }
            }
            "cpu-burn" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let threads = r.threads.unwrap_or(1);
                if threads == 0 || threads > 64 {
                    self.error(
                        &join_key(path, "threads"),
                        format!("threads must be in 1..=64, got {threads}"),
                        None,
                    );
                }
                FaultAction::CpuBurn {
                    service: s?,
                    threads,
                }
            }
            "memory-growth" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let (Some(mbps), Some(max)) = (r.mb_per_second, r.max_mb) else {
                    self.error(
                        path,
                        "missing field `mb-per-second` or `max-mb`",
                        Some("e.g. `mb-per-second: 10, max-mb: 200`".into()),
                    );
                    return None;
                };
                if mbps == 0 || max == 0 {
                    self.error(path, "`mb-per-second` and `max-mb` must be positive", None);
                }
                FaultAction::MemoryGrowth {
                    service: s?,
                    mb_per_second: mbps,
                    max_mb: max,
                }
            }
            "dependency-failure" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let dep = service(self, "dependency", r.dependency.as_ref(), true);
                let rate = rate(self, r.rate);
                let status = status(self, r.status, 503);
                FaultAction::DependencyFailure {
                    service: s?,
                    dependency: dep?,
                    rate: rate?,
                    status: status?,
                }
            }
            "queue-stall" => {
                let s = service(
                    self,
                    "service",
                    r.service.as_ref().or(Some(&"worker".to_string())),
                    true,
                )?;
                if s != "worker" {
                    self.error(
                        &join_key(path, "service"),
                        "queue-stall applies only to the `worker` service",
                        None,
                    );
                }
                FaultAction::QueueStall { service: s }
            }
            "kill-process" | "pause-process" => {
                let target = endpoint(self, "target", r.target.as_ref())?;
                if services.contains(&target)
                    && svc.is_some_and(|s| s.mode != ServicesMode::PerProcess)
                {
                    self.error(
                        &join_key(path, "target"),
                        format!("kind `{kind}` on a service needs `services.mode: per-process`"),
                        None,
                    );
                }
                // Native: a signal to the component's process group (a kill is followed by a
                // restart at rollback). Compose: the same on its container (docker kill /
                // pause, started / unpaused at rollback). Stacks gauntlet does not run have no
                // process it can reach.
                if STACK_COMPONENTS.contains(&target.as_str())
                    && !matches!(provider, Provider::Native | Provider::Compose)
                {
                    self.error(
                        &join_key(path, "target"),
                        format!("kind `{kind}` on stack component `{target}` needs provider `native` or `compose`: gauntlet cannot reach the processes of a stack it does not run"),
                        None,
                    );
                }
                if kind == "pause-process" {
                    FaultAction::PauseProcess { target }
                } else {
                    let signal = match r.signal.as_deref() {
                        None | Some("kill") | Some("SIGKILL") => KillSignal::Kill,
                        Some("term") | Some("SIGTERM") => KillSignal::Term,
                        Some(other) => {
                            self.error(
                                &join_key(path, "signal"),
                                format!("unknown signal {other:?}"),
                                Some("known: kill, term".into()),
                            );
                            return None;
                        }
                    };
                    FaultAction::KillProcess { target, signal }
                }
            }
            "container-stop" | "container-pause" | "container-kill" => {
                let container = required_str(self, "container", r.container.as_ref())?;
                match kind {
                    "container-stop" => FaultAction::ContainerStop { container },
                    "container-pause" => FaultAction::ContainerPause { container },
                    _ => FaultAction::ContainerKill { container },
                }
            }
            "network-delay" | "network-bandwidth" | "network-blackhole" | "network-reset" => {
                let from = endpoint(self, "from", r.from.as_ref());
                let to = endpoint(self, "to", r.to.as_ref());
                let (from, to) = (from?, to?);
                if from == to {
                    self.error(
                        &join_key(path, "to"),
                        format!("`from` and `to` are both {from:?}"),
                        None,
                    );
                } else if let Some(problem) = link_problem(&from, &to, &known, provider, svc) {
                    self.error(&join_key(path, "to"), problem, Some(LINKS_HINT.into()));
                }
                match kind {
                    "network-delay" => {
                        let delay = match &r.delay {
                            Some(d) => self.positive_duration(&join_key(path, "delay"), Some(d)),
                            None => {
                                self.error(path, "missing field `delay`", None);
                                None
                            }
                        };
                        let jitter = self
                            .duration(&join_key(path, "jitter"), r.jitter.as_ref())
                            .unwrap_or_default();
                        FaultAction::NetworkDelay {
                            from,
                            to,
                            delay: delay?,
                            jitter,
                        }
                    }
                    "network-bandwidth" => {
                        let Some(bps) = r.bytes_per_second.filter(|b| *b > 0) else {
                            self.error(path, "missing or zero field `bytes-per-second`", None);
                            return None;
                        };
                        FaultAction::NetworkBandwidth {
                            from,
                            to,
                            bytes_per_second: bps,
                        }
                    }
                    "network-blackhole" => FaultAction::NetworkBlackhole { from, to },
                    _ => FaultAction::NetworkReset { from, to },
                }
            }
            "pod-kill" | "network-partition" => {
                let selector = required_str(self, "selector", r.selector.as_ref())?;
                if !selector.contains('=') {
                    self.error(
                        &join_key(path, "selector"),
                        format!("{selector:?} is not a label selector"),
                        Some("e.g. `app=orders`".into()),
                    );
                }
                let namespace = r.namespace.clone();
                if kind == "pod-kill" {
                    FaultAction::PodKill {
                        selector,
                        namespace,
                    }
                } else {
                    FaultAction::NetworkPartition {
                        selector,
                        namespace,
                    }
                }
            }
            "scale-to-zero" | "rollout-restart" => {
                let workload = required_str(self, "workload", r.workload.as_ref())?;
                let valid = workload.split_once('/').is_some_and(|(k, n)| {
                    matches!(k, "deployment" | "statefulset") && !n.is_empty()
                });
                if !valid {
                    self.error(
                        &join_key(path, "workload"),
                        format!("{workload:?} is not a workload reference"),
                        Some("use deployment/NAME or statefulset/NAME".into()),
                    );
                }
                let namespace = r.namespace.clone();
                if kind == "scale-to-zero" {
                    FaultAction::ScaleToZero {
                        workload,
                        namespace,
                    }
                } else {
                    FaultAction::RolloutRestart {
                        workload,
                        namespace,
                    }
                }
            }
            // fault_kinds::kind() accepted the kind, so an arm must exist; never drop a fault silently.
            _ => {
                self.error(
                    &join_key(path, "kind"),
                    format!(
                        "kind `{kind}` is known but not handled (a gauntlet bug, please report it)"
                    ),
                    None,
                );
                return None;
            }
        };
        self.proxy_reach(path, &action, svc);
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("{}@{}", action.kind(), action.target()));
        let replica = self.replica(path, r.replica, &action, svc);
        Some(Fault {
            name,
            at: at?,
            duration,
            action,
            replica,
        })
    }

    /// A fault on a service behind an HTTP fault proxy: `http-abort` exists only there, and
    /// a name that is only a proxy (no endpoint) takes only the proxy's kinds.
    fn proxy_reach(&mut self, path: &str, action: &FaultAction, svc: Option<&ServicesSpec>) {
        let kind = action.kind();
        let service = match action {
            FaultAction::HttpErrors { service, .. }
            | FaultAction::Latency { service, .. }
            | FaultAction::HttpAbort { service, .. }
            | FaultAction::Hang { service, .. }
            | FaultAction::Crash { service, .. }
            | FaultAction::CpuBurn { service, .. }
            | FaultAction::MemoryGrowth { service, .. }
            | FaultAction::DependencyFailure { service, .. }
            | FaultAction::QueueStall { service } => service,
            _ => return,
        };
        let proxies = svc.map(|s| &s.fault_proxies);
        let proxied = proxies.is_some_and(|p| p.contains_key(service));
        let has_endpoint = svc
            .is_some_and(|s| s.mode != ServicesMode::External || s.endpoints.contains_key(service));
        let field = join_key(path, "service");
        if kind == "http-abort" && !proxied {
            self.error(
                &field,
                format!("kind `http-abort` needs an HTTP fault proxy in front of {service:?}"),
                Some(format!(
                    "add `services.fault-proxy.{service}` (external services) and send the load through it"
                )),
            );
        } else if proxied && !has_endpoint && !PROXY_FAULT_KINDS.contains(&kind) {
            self.error(
                &field,
                format!(
                    "{service:?} is reached only through its HTTP fault proxy, which cannot inject kind `{kind}`"
                ),
                Some(format!(
                    "the proxy injects {}; `{kind}` needs gauntlet's fault admin API at the service's endpoint",
                    PROXY_FAULT_KINDS.join(", ")
                )),
            );
        }
    }

    /// Two faults on the same target at the same time that cannot both hold.
    fn overlaps(&mut self, faults: &[Fault]) {
        for (j, b) in faults.iter().enumerate() {
            for (i, a) in faults.iter().enumerate().take(j) {
                // One replica and all of them overlap; two different replicas do not.
                let other_replica =
                    a.replica.is_some() && b.replica.is_some() && a.replica != b.replica;
                if a.action.target() != b.action.target() || other_replica || !windows_overlap(a, b)
                {
                    continue;
                }
                let same_kind = a.action.kind() == b.action.kind();
                let exclusive = a.action.is_exclusive() || b.action.is_exclusive();
                let network = a.action.kind().starts_with("network-")
                    && b.action.kind().starts_with("network-");
                if same_kind || exclusive || network {
                    let reason = if same_kind {
                        format!("two `{}` faults on the same target", a.action.kind())
                    } else {
                        format!(
                            "`{}` cannot combine with `{}`",
                            b.action.kind(),
                            a.action.kind()
                        )
                    };
                    self.error(
                        &join_index("faults", j),
                        format!(
                            "overlaps faults[{i}] on {:?} ({} vs {}): {reason}",
                            a.target(),
                            window_text(a),
                            window_text(b)
                        ),
                        Some("move one fault so the windows do not overlap, or merge them".into()),
                    );
                }
            }
        }
    }
}

fn windows_overlap(a: &Fault, b: &Fault) -> bool {
    let end = |f: &Fault| f.duration.map(|d| f.at + d).unwrap_or(Duration::MAX);
    a.at < end(b) && b.at < end(a)
}

fn window_text(f: &Fault) -> String {
    match f.duration {
        Some(d) => format!("{}–{}", show(f.at), show(f.at + d)),
        None => format!("{}–end", show(f.at)),
    }
}

fn set_fault_fields(r: &RawFault) -> Vec<&'static str> {
    [
        ("service", r.service.is_some()),
        ("target", r.target.is_some()),
        ("rate", r.rate.is_some()),
        ("status", r.status.is_some()),
        ("route", r.route.is_some()),
        ("delay", r.delay.is_some()),
        ("jitter", r.jitter.is_some()),
        ("exit-code", r.exit_code.is_some()),
        ("threads", r.threads.is_some()),
        ("mb-per-second", r.mb_per_second.is_some()),
        ("max-mb", r.max_mb.is_some()),
        ("dependency", r.dependency.is_some()),
        ("signal", r.signal.is_some()),
        ("container", r.container.is_some()),
        ("from", r.from.is_some()),
        ("to", r.to.is_some()),
        ("bytes-per-second", r.bytes_per_second.is_some()),
        ("selector", r.selector.is_some()),
        ("namespace", r.namespace.is_some()),
        ("workload", r.workload.is_some()),
        ("replica", r.replica.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

const LINKS_HINT: &str = "network faults act on links gauntlet proxies: a service -> an upstream it calls (frontend -> api-gateway, api-gateway -> users|products|orders, orders -> worker), a service -> collector, prometheus -> a service (its scrapes), collector -> log-store (native)";

/// Why gauntlet cannot put a fault proxy on `from -> to` in this scenario, if it cannot.
fn link_problem(
    from: &str,
    to: &str,
    services: &[&str],
    provider: Provider,
    svc: Option<&ServicesSpec>,
) -> Option<String> {
    let calls = |from: &str, to: &str| {
        SERVICE_DEPENDENCIES
            .iter()
            .any(|(s, deps)| *s == from && deps.contains(&to))
    };
    let is_service = |s: &str| services.contains(&s);
    if from == "collector" && to == "log-store" {
        return (provider != Provider::Native).then(|| {
            "the collector -> log-store link is interposed by the native provider only".to_string()
        });
    }
    let known_link = (is_service(from) && (calls(from, to) || to == "collector"))
        || (from == "prometheus" && is_service(to));
    if !known_link {
        return Some(if is_service(from) && is_service(to) {
            format!("{from} does not call {to}, so a fault on this link would never be exercised")
        } else {
            format!("gauntlet cannot interpose on {from} -> {to}")
        });
    }
    if let Some(s) = svc
        && let Some(replicated) = [from, to].into_iter().find(|n| s.replicas_of(n) > 1)
    {
        return Some(format!(
            "{replicated} runs replicas: one proxy cannot stand for all of them; target one replica with a service fault instead"
        ));
    }
    let per_process = svc.is_none_or(|s| s.mode == ServicesMode::PerProcess);
    (!per_process).then(|| {
        format!("a fault on {from} -> {to} needs `services.mode: per-process` (each link is proxied between processes)")
    })
}
