//! Kubernetes faults through the API server, each owned by a [`FaultGuard`] when it can be
//! undone:
//!
//! | kind | inject | rollback |
//! |---|---|---|
//! | `pod-kill` | `DELETE pods?labelSelector=<sel>,gauntlet.io/chaos=enabled` | none: the controller recreates the pods (the deleted ones are recorded) |
//! | `scale-to-zero` | merge-patch `/scale` to `{"spec":{"replicas":0}}` | merge-patch `/scale` back to the replicas read before |
//! | `rollout-restart` | merge-patch `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` | none: a restart cannot be undone |
//! | `network-partition` | create NetworkPolicy `gauntlet-partition-<fault>` denying all ingress and egress | delete that NetworkPolicy |
//!
//! Every fault first `GET`s the namespace and the workload (or the selected pods) and refuses
//! unless they opted in (see [`super::guard`]). The calls are built by [`KubeFault`], so the
//! dry-run plan and the live run share one definition. API reference:
//! <https://kubernetes.io/docs/reference/kubernetes-api/> (Scale subresource, NetworkPolicy).

use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::ObjectList;
use serde::Deserialize;

use super::api::{
    ApiCall, ApiError, InvalidName, InvalidSelector, InvalidWorkload, Name, Selector, Workload,
};
use super::guard::{
    self, GuardError, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Mode, OPT_IN_LABEL, OPT_IN_VALUE,
    PlannedAction, Refusal,
};
use crate::fault::{FaultError, FaultGuard, FaultRegistry};
use crate::scenario::{Fault, FaultAction};

/// Shown in a dry run where the previous replica count will go.
pub const PREVIOUS_REPLICAS: &str = "<replicas read before the fault>";
/// Shown in a dry run where the restart time stamp will go.
pub const RESTART_STAMP: &str = "<time of injection, RFC 3339>";
/// Prefix of the NetworkPolicy a partition creates.
pub const PARTITION_PREFIX: &str = "gauntlet-partition-";

/// Why a Kubernetes fault could not be planned, injected or rolled back.
#[derive(Debug, thiserror::Error)]
pub enum KubeFaultError {
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("fault kind {kind} is not a kubernetes fault")]
    NotKubernetes { kind: &'static str },
    #[error("fault {fault} has no namespace and the scenario sets no stack.namespace")]
    NoNamespace { fault: String },
    #[error(transparent)]
    Name(#[from] InvalidName),
    #[error(transparent)]
    Workload(#[from] InvalidWorkload),
    #[error(transparent)]
    Selector(#[from] InvalidSelector),
    #[error("no pods match {selector} in namespace {namespace}")]
    NoPodsMatch { namespace: String, selector: String },
    #[error(
        "networkpolicy {namespace}/{name} already exists (left by an earlier run?); \
         delete it with: kubectl -n {namespace} delete networkpolicy {name}"
    )]
    PolicyExists { namespace: String, name: String },
    #[error("cannot read the answer to {call}")]
    Decode {
        call: String,
        #[source]
        source: serde_json::Error,
    },
}

impl KubeFaultError {
    /// The refusal, when the opt-in guard said no.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            KubeFaultError::Guard(GuardError::Refused(r)) => Some(r),
            _ => None,
        }
    }
}

impl From<Refusal> for KubeFaultError {
    fn from(r: Refusal) -> Self {
        KubeFaultError::Guard(GuardError::Refused(r))
    }
}

/// A Kubernetes fault with every name checked, ready to plan or run.
#[derive(Debug, Clone, PartialEq)]
pub enum KubeFault {
    PodKill {
        namespace: Name,
        selector: Selector,
    },
    ScaleToZero {
        namespace: Name,
        workload: Workload,
    },
    RolloutRestart {
        namespace: Name,
        workload: Workload,
    },
    NetworkPartition {
        namespace: Name,
        selector: Selector,
        policy: Name,
    },
}

impl KubeFault {
    /// Whether `action` is one of the Kubernetes fault kinds.
    pub fn is_kubernetes(action: &FaultAction) -> bool {
        matches!(
            action,
            FaultAction::PodKill { .. }
                | FaultAction::ScaleToZero { .. }
                | FaultAction::RolloutRestart { .. }
                | FaultAction::NetworkPartition { .. }
        )
    }

    /// Checks the names in `fault`; `default_namespace` is the scenario's `stack.namespace`.
    pub fn from_fault(
        fault: &Fault,
        default_namespace: Option<&str>,
    ) -> Result<Self, KubeFaultError> {
        let ns = |given: &Option<String>| -> Result<Name, KubeFaultError> {
            let text = given.as_deref().or(default_namespace).ok_or_else(|| {
                KubeFaultError::NoNamespace {
                    fault: fault.name.clone(),
                }
            })?;
            Ok(Name::parse("namespace", text)?)
        };
        Ok(match &fault.action {
            FaultAction::PodKill {
                selector,
                namespace,
            } => KubeFault::PodKill {
                namespace: ns(namespace)?,
                selector: Selector::parse(selector)?,
            },
            FaultAction::ScaleToZero {
                workload,
                namespace,
            } => KubeFault::ScaleToZero {
                namespace: ns(namespace)?,
                workload: Workload::parse(workload)?,
            },
            FaultAction::RolloutRestart {
                workload,
                namespace,
            } => KubeFault::RolloutRestart {
                namespace: ns(namespace)?,
                workload: Workload::parse(workload)?,
            },
            FaultAction::NetworkPartition {
                selector,
                namespace,
            } => KubeFault::NetworkPartition {
                namespace: ns(namespace)?,
                selector: Selector::parse(selector)?,
                policy: partition_policy_name(&fault.name),
            },
            other => return Err(KubeFaultError::NotKubernetes { kind: other.kind() }),
        })
    }

    /// The namespace the fault acts in.
    pub fn namespace(&self) -> &Name {
        match self {
            KubeFault::PodKill { namespace, .. }
            | KubeFault::ScaleToZero { namespace, .. }
            | KubeFault::RolloutRestart { namespace, .. }
            | KubeFault::NetworkPartition { namespace, .. } => namespace,
        }
    }

    /// What it acts on, e.g. `deployment/users` or `app=orders`.
    pub fn target(&self) -> String {
        match self {
            KubeFault::PodKill { selector, .. } | KubeFault::NetworkPartition { selector, .. } => {
                selector.to_string()
            }
            KubeFault::ScaleToZero { workload, .. }
            | KubeFault::RolloutRestart { workload, .. } => workload.to_string(),
        }
    }

    /// The read-only opt-in checks, in order.
    pub fn checks(&self) -> Vec<ApiCall> {
        let ns = self.namespace();
        let second = match self {
            KubeFault::PodKill { selector, .. } | KubeFault::NetworkPartition { selector, .. } => {
                ApiCall::list_pods(ns, &selector.to_string())
            }
            KubeFault::ScaleToZero { workload, .. }
            | KubeFault::RolloutRestart { workload, .. } => ApiCall::get_workload(ns, workload),
        };
        vec![ApiCall::get_namespace(ns), second]
    }

    /// The mutating calls; `stamp` is the restart time (rollout-restart only).
    pub fn inject_calls(&self, stamp: &str) -> Vec<ApiCall> {
        match self {
            KubeFault::PodKill {
                namespace,
                selector,
            } => vec![ApiCall::delete_pods(
                namespace,
                &selector.and(OPT_IN_LABEL, OPT_IN_VALUE).to_string(),
            )],
            KubeFault::ScaleToZero {
                namespace,
                workload,
            } => vec![ApiCall::patch_scale(namespace, workload, 0.into())],
            KubeFault::RolloutRestart {
                namespace,
                workload,
            } => vec![ApiCall::patch_restarted_at(namespace, workload, stamp)],
            KubeFault::NetworkPartition {
                namespace,
                selector,
                policy,
            } => vec![ApiCall::create_network_policy(
                namespace,
                network_policy(namespace, policy, selector),
            )],
        }
    }

    /// The calls that undo the fault; `previous` is the replica count before a scale.
    pub fn rollback_calls(&self, previous: serde_json::Value) -> Vec<ApiCall> {
        match self {
            KubeFault::PodKill { .. } | KubeFault::RolloutRestart { .. } => Vec::new(),
            KubeFault::ScaleToZero {
                namespace,
                workload,
            } => vec![ApiCall::patch_scale(namespace, workload, previous)],
            KubeFault::NetworkPartition {
                namespace, policy, ..
            } => vec![ApiCall::delete_network_policy(namespace, policy)],
        }
    }

    fn rollback_note(&self) -> Option<&'static str> {
        match self {
            KubeFault::PodKill { .. } => Some("none: the pods' controller recreates them"),
            KubeFault::RolloutRestart { .. } => {
                Some("none: a restart cannot be undone; the rollout replaces the pods")
            }
            KubeFault::ScaleToZero { .. } => {
                Some("restores the replica count read by the check before the fault")
            }
            KubeFault::NetworkPartition { .. } => None,
        }
    }

    /// The dry-run description of `fault` (whose checked form `self` is).
    pub fn plan(&self, fault: &Fault) -> PlannedAction {
        PlannedAction {
            fault: fault.name.clone(),
            kind: fault.action.kind(),
            at: fault.at,
            duration: fault.duration,
            namespace: self.namespace().clone(),
            target: self.target(),
            checks: self.checks(),
            inject: self.inject_calls(RESTART_STAMP),
            rollback: self.rollback_calls(PREVIOUS_REPLICAS.into()),
            rollback_note: self.rollback_note(),
        }
    }
}

/// `gauntlet-partition-<fault name as a DNS label>`, at most 63 characters.
pub fn partition_policy_name(fault_name: &str) -> Name {
    let mut slug = String::new();
    for c in fault_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let max = 63 - PARTITION_PREFIX.len();
    let slug: String = slug.trim_matches('-').chars().take(max).collect();
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "fault" } else { slug };
    Name::parse("networkpolicy", &format!("{PARTITION_PREFIX}{slug}"))
        .expect("built from lowercase letters, digits and inner dashes only")
}

/// A NetworkPolicy selecting the opted-in pods of `selector`, with no rules for either
/// direction: all ingress and all egress (DNS included) of those pods is denied.
pub fn network_policy(namespace: &Name, name: &Name, selector: &Selector) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE }
        },
        "spec": {
            "podSelector": { "matchLabels": selector.and(OPT_IN_LABEL, OPT_IN_VALUE).labels() },
            "policyTypes": ["Ingress", "Egress"]
        }
    })
}

/// What injecting a fault did (or, in a dry run, would do).
#[derive(Debug)]
pub struct Injection {
    /// The fault's name.
    pub fault: String,
    /// Calls sent in order (live) — or, in a dry run, the planned checks and inject calls.
    pub calls: Vec<ApiCall>,
    /// Owner of the rollback; `None` for faults that cannot be undone and for dry runs.
    pub guard: Option<FaultGuard>,
    /// Pods deleted by `pod-kill`.
    pub deleted_pods: Vec<String>,
    /// Replicas before `scale-to-zero`.
    pub previous_replicas: Option<i32>,
    /// The plan, in a dry run.
    pub planned: Option<PlannedAction>,
}

/// The current time as `kubectl rollout restart` writes it.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Injects Kubernetes faults for one run.
#[derive(Clone)]
pub struct KubeFaults {
    client: kube::Client,
    default_namespace: Option<String>,
    mode: Mode,
    clock: Clock,
}

impl std::fmt::Debug for KubeFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeFaults")
            .field("default_namespace", &self.default_namespace)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The parts of a Deployment/StatefulSet the faults read.
#[derive(Debug, Deserialize)]
struct WorkloadView {
    metadata: ObjectMeta,
    spec: Option<WorkloadSpecView>,
}

#[derive(Debug, Deserialize)]
struct WorkloadSpecView {
    replicas: Option<i32>,
}

impl KubeFaults {
    /// Live faults through `client`; `default_namespace` is the scenario's `stack.namespace`.
    pub fn new(client: kube::Client, default_namespace: Option<String>) -> Self {
        KubeFaults {
            client,
            default_namespace,
            mode: Mode::Live,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Sets live or dry-run mode.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Replaces the clock used for `restartedAt` (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Injects `fault`; faults that can be undone come back with a guard registered in
    /// `registry`. In [`Mode::DryRun`] nothing is sent and `planned` is set.
    pub async fn inject(
        &self,
        registry: &FaultRegistry,
        fault: &Fault,
    ) -> Result<Injection, KubeFaultError> {
        let k = KubeFault::from_fault(fault, self.default_namespace.as_deref())?;
        let mut injection = Injection {
            fault: fault.name.clone(),
            calls: Vec::new(),
            guard: None,
            deleted_pods: Vec::new(),
            previous_replicas: None,
            planned: None,
        };
        if self.mode == Mode::DryRun {
            let planned = k.plan(fault);
            injection.calls = planned
                .checks
                .iter()
                .chain(&planned.inject)
                .cloned()
                .collect();
            injection.planned = Some(planned);
            return Ok(injection);
        }
        let client = &self.client;
        let ns = k.namespace().clone();
        let calls = &mut injection.calls;
        let namespace: Namespace =
            send_recorded(client, calls, ApiCall::get_namespace(&ns)).await?;
        guard::check_namespace(&ns, &namespace.metadata)?;

        match &k {
            KubeFault::PodKill { selector, .. } => {
                let listed = self.opted_in_pods(calls, &ns, selector).await?;
                let mut answer = serde_json::Value::Null;
                for call in k.inject_calls("") {
                    answer = send_recorded(client, calls, call).await?;
                }
                injection.deleted_pods = deleted_names(&answer).unwrap_or(listed);
                tracing::info!(fault = %fault.name, namespace = %ns, pods = ?injection.deleted_pods, "pods deleted");
            }
            KubeFault::ScaleToZero { workload, .. } => {
                let view = self.opted_in_workload(calls, &ns, workload).await?;
                // The API server defaults spec.replicas to 1 when unset.
                let previous = view.spec.and_then(|s| s.replicas).unwrap_or(1);
                injection.previous_replicas = Some(previous);
                for call in k.inject_calls("") {
                    send_recorded::<serde_json::Value>(client, calls, call).await?;
                }
                let rollback = k.rollback_calls(previous.into());
                let description =
                    format!("scale-to-zero {workload} in {ns} (restore {previous} replicas)");
                injection.guard = Some(register_rollback(registry, client, description, rollback));
            }
            KubeFault::RolloutRestart { workload, .. } => {
                self.opted_in_workload(calls, &ns, workload).await?;
                let stamp = humantime::format_rfc3339_seconds((self.clock)()).to_string();
                for call in k.inject_calls(&stamp) {
                    send_recorded::<serde_json::Value>(client, calls, call).await?;
                }
            }
            KubeFault::NetworkPartition {
                selector, policy, ..
            } => {
                self.opted_in_pods(calls, &ns, selector).await?;
                for call in k.inject_calls("") {
                    send_recorded::<serde_json::Value>(client, calls, call)
                        .await
                        .map_err(|e| match e {
                            KubeFaultError::Api(api) if api.status_code() == Some(409) => {
                                KubeFaultError::PolicyExists {
                                    namespace: ns.to_string(),
                                    name: policy.to_string(),
                                }
                            }
                            other => other,
                        })?;
                }
                let description =
                    format!("network-partition {selector} in {ns} (networkpolicy {policy})");
                let rollback = k.rollback_calls(serde_json::Value::Null);
                injection.guard = Some(register_rollback(registry, client, description, rollback));
            }
        }
        Ok(injection)
    }

    /// Lists the pods of `selector`; refuses if none match or any lacks the opt-in label.
    async fn opted_in_pods(
        &self,
        calls: &mut Vec<ApiCall>,
        ns: &Name,
        selector: &Selector,
    ) -> Result<Vec<String>, KubeFaultError> {
        let pods: ObjectList<Pod> = send_recorded(
            &self.client,
            calls,
            ApiCall::list_pods(ns, &selector.to_string()),
        )
        .await?;
        if pods.items.is_empty() {
            return Err(KubeFaultError::NoPodsMatch {
                namespace: ns.to_string(),
                selector: selector.to_string(),
            });
        }
        guard::check_pods(ns, selector, &pods.items)?;
        Ok(pods
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect())
    }

    async fn opted_in_workload(
        &self,
        calls: &mut Vec<ApiCall>,
        ns: &Name,
        workload: &Workload,
    ) -> Result<WorkloadView, KubeFaultError> {
        let view: WorkloadView =
            send_recorded(&self.client, calls, ApiCall::get_workload(ns, workload)).await?;
        guard::check_workload(ns, workload, &view.metadata)?;
        Ok(view)
    }
}

async fn send_recorded<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    calls: &mut Vec<ApiCall>,
    call: ApiCall,
) -> Result<T, KubeFaultError> {
    let result = call.send(client).await;
    calls.push(call);
    Ok(result?)
}

/// Names in a delete-collection answer (a PodList); `None` when the server answered with a
/// `Status` instead.
fn deleted_names(answer: &serde_json::Value) -> Option<Vec<String>> {
    let items = answer.get("items")?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|p| p.pointer("/metadata/name")?.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Registers `rollback` (sent in order) as the fault's undo. A NetworkPolicy already gone
/// (404) counts as rolled back.
fn register_rollback(
    registry: &FaultRegistry,
    client: &kube::Client,
    description: String,
    rollback: Vec<ApiCall>,
) -> FaultGuard {
    let client = client.clone();
    let what = description.clone();
    registry.register(description, move || {
        Box::pin(async move {
            for call in rollback {
                match call.send::<serde_json::Value>(&client).await {
                    Ok(_) => {}
                    Err(e)
                        if e.status_code() == Some(404)
                            && call.method == super::api::Method::Delete =>
                    {
                        tracing::warn!(call = %call.summary(), "already gone at rollback");
                    }
                    Err(e) => return Err(rollback_error(&what, e)),
                }
            }
            Ok(())
        })
    })
}

/// `FaultError` has no Kubernetes variant yet; its boxed-source variant carries the cause
/// chain (a `FaultError::Kubernetes` would replace only this function).
pub(crate) fn rollback_error(what: &str, e: ApiError) -> FaultError {
    FaultError::Container {
        container: format!("kubernetes {what}"),
        action: "rollback",
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fault(name: &str, action: FaultAction) -> Fault {
        Fault {
            name: name.into(),
            at: Duration::from_secs(5),
            duration: Some(Duration::from_secs(10)),
            action,
            replica: None,
        }
    }

    #[test]
    fn policy_names_are_dns_labels() {
        assert_eq!(
            partition_policy_name("cut-products").as_str(),
            "gauntlet-partition-cut-products"
        );
        assert_eq!(
            partition_policy_name("network-partition@app=Products").as_str(),
            "gauntlet-partition-network-partition-app-products"
        );
        assert_eq!(
            partition_policy_name("---").as_str(),
            "gauntlet-partition-fault"
        );
        let long = partition_policy_name(&"x-".repeat(80));
        assert!(long.as_str().len() <= 63, "{long}");
        assert!(!long.as_str().ends_with('-'));
    }

    #[test]
    fn namespaces_come_from_the_fault_or_the_stack() {
        let f = fault(
            "kill",
            FaultAction::PodKill {
                selector: "app=orders".into(),
                namespace: None,
            },
        );
        let k = KubeFault::from_fault(&f, Some("shop")).expect("valid");
        assert_eq!(k.namespace().as_str(), "shop");
        assert!(matches!(
            KubeFault::from_fault(&f, None),
            Err(KubeFaultError::NoNamespace { .. })
        ));
        let bad = fault(
            "kill",
            FaultAction::PodKill {
                selector: "app=orders".into(),
                namespace: Some("Bad_NS".into()),
            },
        );
        assert!(matches!(
            KubeFault::from_fault(&bad, Some("shop")),
            Err(KubeFaultError::Name(_))
        ));
        let other = fault(
            "hang",
            FaultAction::QueueStall {
                service: "worker".into(),
            },
        );
        assert_eq!(
            KubeFault::from_fault(&other, Some("shop"))
                .expect_err("not kube")
                .to_string(),
            "fault kind queue-stall is not a kubernetes fault"
        );
    }

    #[test]
    fn partition_policy_denies_both_directions_for_opted_in_pods_only() {
        let ns = Name::parse("namespace", "shop").expect("valid");
        let name = partition_policy_name("cut");
        let sel = Selector::parse("app=products").expect("valid");
        assert_eq!(
            network_policy(&ns, &name, &sel),
            serde_json::json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": "gauntlet-partition-cut",
                    "namespace": "shop",
                    "labels": { "app.kubernetes.io/managed-by": "gauntlet" }
                },
                "spec": {
                    "podSelector": { "matchLabels": { "app": "products", "gauntlet.io/chaos": "enabled" } },
                    "policyTypes": ["Ingress", "Egress"]
                }
            })
        );
    }

    #[test]
    fn delete_collection_answers_yield_names() {
        let list = serde_json::json!({"kind": "PodList", "items": [
            {"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}
        ]});
        assert_eq!(
            deleted_names(&list),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(deleted_names(&serde_json::json!({"kind": "Status"})), None);
    }
}
