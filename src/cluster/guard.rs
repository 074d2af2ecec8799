//! Safety for Kubernetes mode: gauntlet acts only where the cluster's owners opted in, and
//! can show every API call it would make without making one.
//!
//! - **Opt-in**: a namespace must carry the label `gauntlet.io/chaos: enabled`, and so must
//!   every workload (Deployment/StatefulSet) or pod a fault touches. A refusal is a typed
//!   [`Refusal`] naming the object that lacks the label; it is raised after read-only `GET`s
//!   and before any mutating request. Pod deletions and partitions also add the label to
//!   their selector, so the API server itself never lets them reach an unlabelled pod.
//! - **Dry run**: in [`Mode::DryRun`] nothing is sent; [`plan`] is the pure description of
//!   each Kubernetes fault's checks, inject and rollback calls, and [`render_plan`] prints it
//!   (for `gauntlet run --dry-run`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::api::{ApiCall, ApiError, Name, Selector, Workload};
use super::faults::{KubeFault, KubeFaultError};
use crate::scenario::{Fault, Scenario};

/// The opt-in label key on namespaces, workloads and pods.
pub const OPT_IN_LABEL: &str = "gauntlet.io/chaos";
/// The opt-in label value.
pub const OPT_IN_VALUE: &str = "enabled";
/// Label gauntlet puts on everything it creates (NetworkPolicies, Jobs).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "gauntlet";

/// Whether API calls are sent or only described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Send the calls.
    #[default]
    Live,
    /// Send nothing; return the planned calls.
    DryRun,
}

/// gauntlet refused to act: something lacks the opt-in label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "refusing to act in namespace {namespace}: it lacks the label gauntlet.io/chaos=enabled \
         (kubectl label namespace {namespace} gauntlet.io/chaos=enabled)"
    )]
    Namespace { namespace: String },
    #[error(
        "refusing to act on {workload} in namespace {namespace}: it lacks the label \
         gauntlet.io/chaos=enabled"
    )]
    Workload { namespace: String, workload: String },
    #[error(
        "refusing to act on pods matching {selector} in namespace {namespace}: {} lack the label \
         gauntlet.io/chaos=enabled", pods.join(", ")
    )]
    Pods {
        namespace: String,
        selector: String,
        pods: Vec<String>,
    },
}

/// An opt-in check could not pass: refused, or the check itself failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Whether `labels` carry `gauntlet.io/chaos: enabled`.
pub fn opted_in(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(OPT_IN_LABEL))
        .is_some_and(|v| v == OPT_IN_VALUE)
}

/// Refuses a namespace without the opt-in label.
pub fn check_namespace(namespace: &Name, meta: &ObjectMeta) -> Result<(), Refusal> {
    if opted_in(meta.labels.as_ref()) {
        Ok(())
    } else {
        Err(Refusal::Namespace {
            namespace: namespace.to_string(),
        })
    }
}

/// Refuses a workload without the opt-in label.
pub fn check_workload(
    namespace: &Name,
    workload: &Workload,
    meta: &ObjectMeta,
) -> Result<(), Refusal> {
    if opted_in(meta.labels.as_ref()) {
        Ok(())
    } else {
        Err(Refusal::Workload {
            namespace: namespace.to_string(),
            workload: workload.to_string(),
        })
    }
}

/// Refuses if any of `pods` lacks the opt-in label (naming each one).
pub fn check_pods(namespace: &Name, selector: &Selector, pods: &[Pod]) -> Result<(), Refusal> {
    let lacking: Vec<String> = pods
        .iter()
        .filter(|p| !opted_in(p.metadata.labels.as_ref()))
        .map(|p| {
            p.metadata
                .name
                .clone()
                .unwrap_or_else(|| "<unnamed>".to_owned())
        })
        .collect();
    if lacking.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Pods {
            namespace: namespace.to_string(),
            selector: selector.to_string(),
            pods: lacking,
        })
    }
}

/// `GET`s the namespace and refuses it unless it opted in.
pub async fn require_namespace(client: &kube::Client, namespace: &Name) -> Result<(), GuardError> {
    let ns: Namespace = ApiCall::get_namespace(namespace).send(client).await?;
    check_namespace(namespace, &ns.metadata)?;
    Ok(())
}

/// What one Kubernetes fault does, call by call, without doing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    pub fault: String,
    pub kind: &'static str,
    /// Offset from the start of the load.
    #[serde(rename = "at_ms", serialize_with = "ms")]
    pub at: Duration,
    #[serde(rename = "for_ms", serialize_with = "opt_ms")]
    pub duration: Option<Duration>,
    pub namespace: Name,
    pub target: String,
    /// Read-only opt-in checks, made before anything changes.
    pub checks: Vec<ApiCall>,
    /// The mutating calls that inject the fault.
    pub inject: Vec<ApiCall>,
    /// The calls that undo it (empty when nothing can be undone; see `rollback_note`).
    pub rollback: Vec<ApiCall>,
    /// Why there is no rollback, or what a placeholder in it means.
    pub rollback_note: Option<&'static str>,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms(d, s),
        None => s.serialize_none(),
    }
}

/// Every problem found while planning (one per fault that cannot be planned).
#[derive(Debug, thiserror::Error)]
#[error("cannot plan the kubernetes faults: {}", problems.iter().map(|(f, e)| format!("{f}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct PlanError {
    /// Fault name and why.
    pub problems: Vec<(String, KubeFaultError)>,
}

/// The planned calls of one fault (`default_namespace` is the scenario's `stack.namespace`).
pub fn plan_fault(
    fault: &Fault,
    default_namespace: Option<&str>,
) -> Result<PlannedAction, KubeFaultError> {
    let k = KubeFault::from_fault(fault, default_namespace)?;
    Ok(k.plan(fault))
}

/// The planned calls of every Kubernetes fault in `scenario`, in timeline order. Other fault
/// kinds are not Kubernetes calls and are left out. Pure: no network.
pub fn plan(scenario: &Scenario) -> Result<Vec<PlannedAction>, PlanError> {
    let mut faults: Vec<&Fault> = scenario
        .faults
        .iter()
        .filter(|f| KubeFault::is_kubernetes(&f.action))
        .collect();
    faults.sort_by_key(|f| f.at);
    let mut planned = Vec::new();
    let mut problems = Vec::new();
    for f in faults {
        match plan_fault(f, scenario.stack.namespace.as_deref()) {
            Ok(p) => planned.push(p),
            Err(e) => problems.push((f.name.clone(), e)),
        }
    }
    if problems.is_empty() {
        Ok(planned)
    } else {
        Err(PlanError { problems })
    }
}

/// The plan as lines: one header per fault, then one line per call.
///
/// ```text
/// kill-orders: pod-kill app=orders in namespace shop at 5s
///   check     GET /api/v1/namespaces/shop
///   …
///   rollback  none: the pods' controller recreates them
/// ```
pub fn render_plan(plan: &[PlannedAction]) -> String {
    if plan.is_empty() {
        return "no kubernetes faults: nothing would be sent to the cluster\n".to_owned();
    }
    let mut out = String::new();
    for p in plan {
        let held = p
            .duration
            .map(|d| format!(" for {}", humantime::format_duration(d)))
            .unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{}: {} {} in namespace {} at {}{held}",
            p.fault,
            p.kind,
            p.target,
            p.namespace,
            humantime::format_duration(p.at)
        );
        for (step, calls) in [
            ("check", &p.checks),
            ("inject", &p.inject),
            ("rollback", &p.rollback),
        ] {
            for c in calls {
                let _ = writeln!(out, "  {step:<9} {c}");
            }
        }
        if let Some(note) = p.rollback_note {
            let lead = if p.rollback.is_empty() {
                "rollback"
            } else {
                ""
            };
            let _ = writeln!(out, "  {lead:<9} {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..meta(labels)
            },
            ..Pod::default()
        }
    }

    #[test]
    fn opt_in_needs_the_exact_label_value() {
        let ns = Name::parse("namespace", "shop").expect("valid");
        assert!(check_namespace(&ns, &meta(&[(OPT_IN_LABEL, OPT_IN_VALUE)])).is_ok());
        for labels in [&[][..], &[(OPT_IN_LABEL, "true")], &[("chaos", "enabled")]] {
            assert_eq!(
                check_namespace(&ns, &meta(labels)),
                Err(Refusal::Namespace {
                    namespace: "shop".into()
                })
            );
        }
        assert!(!opted_in(None));

        let w = Workload::parse("deployment/users").expect("valid");
        let err = check_workload(&ns, &w, &meta(&[])).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "refusing to act on deployment/users in namespace shop: it lacks the label \
             gauntlet.io/chaos=enabled"
        );

        let sel = Selector::parse("app=orders").expect("valid");
        let pods = [
            pod(
                "orders-1",
                &[("app", "orders"), (OPT_IN_LABEL, OPT_IN_VALUE)],
            ),
            pod("orders-2", &[("app", "orders")]),
            pod("orders-3", &[("app", "orders"), (OPT_IN_LABEL, "no")]),
        ];
        let err = check_pods(&ns, &sel, &pods).expect_err("refused");
        assert_eq!(
            err,
            Refusal::Pods {
                namespace: "shop".into(),
                selector: "app=orders".into(),
                pods: vec!["orders-2".into(), "orders-3".into()],
            }
        );
        assert!(
            err.to_string()
                .contains("orders-2, orders-3 lack the label")
        );
        assert!(check_pods(&ns, &sel, &pods[..1]).is_ok());
    }
}
