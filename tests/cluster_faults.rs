//! Kubernetes faults against a mock API server (tower-test), for what a real server cannot
//! show: the exact requests and bodies of every fault and its rollback (the opt-in label
//! appended to pod-kill's selector, the scale and restart patches, the partition policy), that
//! a refusal comes before any mutating request is sent, a server error during rollback, and a
//! dry run sending nothing at all. Behaviour — pods recreated, replicas restored, rollouts,
//! policies created and removed, rollback on drop and `rollback_all`, refusals leaving the
//! cluster unchanged — runs against a real control plane in `tests/kube_cluster.rs`.

mod cluster_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cluster_support::{FakeApi, Seen, echo, namespace, pod_list, status, workload};
use gauntlet::cluster::{KubeFaultError, KubeFaults, Mode, Refusal};
use gauntlet::fault::FaultRegistry;
use gauntlet::scenario::{Fault, FaultAction};
use serde_json::json;

const MERGE: &str = "application/merge-patch+json";

fn fault(name: &str, duration: Option<u64>, action: FaultAction) -> Fault {
    Fault {
        name: name.into(),
        at: Duration::from_secs(5),
        duration: duration.map(Duration::from_secs),
        action,
        replica: None,
    }
}

fn pod_kill() -> Fault {
    fault(
        "kill-orders",
        None,
        FaultAction::PodKill {
            selector: "app=orders".into(),
            namespace: None,
        },
    )
}

fn scale(workload: &str) -> Fault {
    fault(
        "scale-users",
        Some(10),
        FaultAction::ScaleToZero {
            workload: workload.into(),
            namespace: None,
        },
    )
}

fn restart() -> Fault {
    fault(
        "restart-gw",
        None,
        FaultAction::RolloutRestart {
            workload: "deployment/api-gateway".into(),
            namespace: Some("edge".into()),
        },
    )
}

fn partition() -> Fault {
    fault(
        "cut-products",
        Some(10),
        FaultAction::NetworkPartition {
            selector: "app=products".into(),
            namespace: None,
        },
    )
}

fn faults(api: &FakeApi) -> KubeFaults {
    KubeFaults::new(api.client.clone(), Some("shop".into()))
}

#[tokio::test]
async fn pod_kill_deletes_opted_in_pods_by_selector_and_records_them() {
    let api = FakeApi::start(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
        ("GET", p) if p.starts_with("/api/v1/namespaces/shop/pods?") => {
            pod_list("orders", &[("orders-7c9-a", true), ("orders-7c9-b", true)])
        }
        // The delete-collection answer is the list of deleted pods.
        ("DELETE", _) => pod_list("orders", &[("orders-7c9-a", true), ("orders-7c9-b", true)]),
        _ => status(404, "NotFound"),
    });
    let registry = FaultRegistry::new();
    let inj = faults(&api)
        .inject(&registry, &pod_kill())
        .await
        .expect("injected");

    assert_eq!(
        api.seen(),
        [
            Seen::new("GET", "/api/v1/namespaces/shop"),
            Seen::new(
                "GET",
                "/api/v1/namespaces/shop/pods?labelSelector=app%3Dorders"
            ),
            Seen::new(
                "DELETE",
                "/api/v1/namespaces/shop/pods?labelSelector=app%3Dorders%2Cgauntlet.io%2Fchaos%3Denabled"
            ),
        ]
    );
    assert_eq!(inj.deleted_pods, ["orders-7c9-a", "orders-7c9-b"]);
    assert!(
        inj.guard.is_none(),
        "the controller recreates pods: nothing to roll back"
    );
    assert_eq!(inj.calls.len(), 3);
    assert!(registry.active().is_empty());
}

#[tokio::test]
async fn scale_to_zero_patches_the_scale_subresource_and_restores_the_previous_count() {
    for (reference, resource, kind) in [
        ("deployment/users", "deployments/users", "Deployment"),
        ("statefulset/users", "statefulsets/users", "StatefulSet"),
    ] {
        let api = FakeApi::start(move |s| match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
            ("GET", _) => workload(kind, "users", true, 3),
            ("PATCH", _) => echo(s),
            _ => status(404, "NotFound"),
        });
        let registry = FaultRegistry::new();
        let inj = faults(&api)
            .inject(&registry, &scale(reference))
            .await
            .expect("injected");
        assert_eq!(inj.previous_replicas, Some(3));
        assert_eq!(registry.active().len(), 1);
        let scale_path = format!("/apis/apps/v1/namespaces/shop/{resource}/scale");
        assert_eq!(
            api.seen(),
            [
                Seen::new("GET", "/api/v1/namespaces/shop"),
                Seen::new("GET", &format!("/apis/apps/v1/namespaces/shop/{resource}")),
                Seen::with(
                    "PATCH",
                    &scale_path,
                    MERGE,
                    json!({"spec": {"replicas": 0}})
                ),
            ]
        );

        inj.guard
            .expect("scale has a rollback")
            .rollback()
            .await
            .expect("rolled back");
        assert_eq!(
            api.seen().last(),
            Some(&Seen::with(
                "PATCH",
                &scale_path,
                MERGE,
                json!({"spec": {"replicas": 3}})
            ))
        );
        assert_eq!(api.seen().len(), 4);
        assert!(registry.active().is_empty());
    }
}

#[tokio::test]
async fn rollout_restart_patches_the_restarted_at_annotation() {
    let api = FakeApi::start(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/edge") => namespace("edge", true),
        ("GET", _) => workload("Deployment", "api-gateway", true, 2),
        ("PATCH", _) => echo(s),
        _ => status(404, "NotFound"),
    });
    // 2026-01-02T03:04:05Z
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045);
    let registry = FaultRegistry::new();
    let inj = faults(&api)
        .with_clock(Arc::new(move || at))
        .inject(&registry, &restart())
        .await
        .expect("injected");
    assert_eq!(
        api.seen(),
        [
            Seen::new("GET", "/api/v1/namespaces/edge"),
            Seen::new(
                "GET",
                "/apis/apps/v1/namespaces/edge/deployments/api-gateway"
            ),
            Seen::with(
                "PATCH",
                "/apis/apps/v1/namespaces/edge/deployments/api-gateway",
                MERGE,
                json!({"spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"
                }}}}})
            ),
        ]
    );
    assert!(inj.guard.is_none(), "a restart cannot be undone");
}

fn partition_policy() -> serde_json::Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "gauntlet-partition-cut-products",
            "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "gauntlet"}
        },
        "spec": {
            "podSelector": {"matchLabels": {"app": "products", "gauntlet.io/chaos": "enabled"}},
            "policyTypes": ["Ingress", "Egress"]
        }
    })
}

fn partition_api() -> FakeApi {
    FakeApi::start(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
        ("GET", _) => pod_list("products", &[("products-0", true)]),
        ("POST", _) => (201, s.body.clone().unwrap_or_default()),
        ("DELETE", _) => status(200, "Success"),
        _ => status(404, "NotFound"),
    })
}

const POLICY_PATH: &str =
    "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/gauntlet-partition-cut-products";

#[tokio::test]
async fn network_partition_creates_a_deny_all_policy_and_deletes_it_on_rollback() {
    let api = partition_api();
    let registry = FaultRegistry::new();
    let inj = faults(&api)
        .inject(&registry, &partition())
        .await
        .expect("injected");
    assert_eq!(
        api.seen(),
        [
            Seen::new("GET", "/api/v1/namespaces/shop"),
            Seen::new(
                "GET",
                "/api/v1/namespaces/shop/pods?labelSelector=app%3Dproducts"
            ),
            Seen::with(
                "POST",
                "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
                "application/json",
                partition_policy()
            ),
        ]
    );
    assert_eq!(
        registry.active(),
        ["network-partition app=products in shop (networkpolicy gauntlet-partition-cut-products)"]
    );
    inj.guard
        .expect("partition has a rollback")
        .rollback()
        .await
        .expect("rolled back");
    assert_eq!(api.seen().last(), Some(&Seen::new("DELETE", POLICY_PATH)));
    assert_eq!(api.mutating().len(), 2);
}

#[tokio::test]
async fn a_failed_scale_rollback_is_an_error_with_its_cause() {
    let api = FakeApi::start(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
        ("GET", _) => workload("Deployment", "users", true, 2),
        ("PATCH", _) if s.body == Some(json!({"spec": {"replicas": 0}})) => echo(s),
        _ => status(403, "Forbidden"),
    });
    let inj = faults(&api)
        .inject(&FaultRegistry::new(), &scale("deployment/users"))
        .await
        .expect("injected");
    let err = inj
        .guard
        .expect("guard")
        .rollback()
        .await
        .expect_err("forbidden");
    let mut chain = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let chain = chain.join(" / ");
    assert!(
        chain.contains(
            "kubernetes api call PATCH /apis/apps/v1/namespaces/shop/deployments/users/scale failed"
        ),
        "{chain}"
    );
    assert!(chain.contains("Forbidden"), "{chain}");
}

#[tokio::test]
async fn an_unlabelled_namespace_is_refused_before_any_mutating_request() {
    for f in [pod_kill(), scale("deployment/users"), partition()] {
        let api = FakeApi::start(|s| match s.path.as_str() {
            "/api/v1/namespaces/shop" => namespace("shop", false),
            _ => pod_list("x", &[("x-0", true)]),
        });
        let err = faults(&api)
            .inject(&FaultRegistry::new(), &f)
            .await
            .expect_err("refused");
        assert_eq!(
            err.refusal(),
            Some(&Refusal::Namespace {
                namespace: "shop".into()
            }),
            "{}: {err}",
            f.name
        );
        assert_eq!(api.seen(), [Seen::new("GET", "/api/v1/namespaces/shop")]);
        assert!(
            err.to_string()
                .contains("lacks the label gauntlet.io/chaos=enabled")
        );
    }
}

#[tokio::test]
async fn an_unlabelled_workload_is_refused_before_any_mutating_request() {
    for f in [scale("deployment/users"), restart()] {
        let api = FakeApi::start(|s| match s.path.as_str() {
            "/api/v1/namespaces/shop" => namespace("shop", true),
            "/api/v1/namespaces/edge" => namespace("edge", true),
            _ => workload("Deployment", "w", false, 2),
        });
        let err = faults(&api)
            .inject(&FaultRegistry::new(), &f)
            .await
            .expect_err("refused");
        let Some(Refusal::Workload { workload, .. }) = err.refusal() else {
            panic!("{}: expected a workload refusal, got {err}", f.name);
        };
        assert_eq!(workload, f.action.target().as_str());
        assert_eq!(api.seen().len(), 2);
        assert!(api.mutating().is_empty(), "{:?}", api.mutating());
    }
}

#[tokio::test]
async fn unlabelled_pods_or_no_pods_are_refused_before_any_mutating_request() {
    for f in [pod_kill(), partition()] {
        let api = FakeApi::start(|s| match s.path.as_str() {
            "/api/v1/namespaces/shop" => namespace("shop", true),
            _ => pod_list("app", &[("p-0", true), ("p-1", false)]),
        });
        let err = faults(&api)
            .inject(&FaultRegistry::new(), &f)
            .await
            .expect_err("refused");
        let Some(Refusal::Pods { pods, .. }) = err.refusal() else {
            panic!("{}: expected a pods refusal, got {err}", f.name);
        };
        assert_eq!(pods, &["p-1"]);
        assert!(api.mutating().is_empty());

        let api = FakeApi::start(|s| match s.path.as_str() {
            "/api/v1/namespaces/shop" => namespace("shop", true),
            _ => pod_list("app", &[]),
        });
        let err = faults(&api)
            .inject(&FaultRegistry::new(), &f)
            .await
            .expect_err("nothing to act on");
        assert!(matches!(err, KubeFaultError::NoPodsMatch { .. }), "{err}");
        assert!(api.mutating().is_empty());
    }
}

#[tokio::test]
async fn dry_run_sends_no_request_at_all() {
    let (service, mut handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let client = kube::Client::new(service, "default");
    let dry = KubeFaults::new(client, Some("shop".into())).with_mode(Mode::DryRun);
    let registry = FaultRegistry::new();
    let mut planned_calls = Vec::new();
    for f in [
        pod_kill(),
        scale("deployment/users"),
        restart(),
        partition(),
    ] {
        let inj = dry.inject(&registry, &f).await.expect("planned");
        assert!(inj.guard.is_none());
        let plan = inj.planned.expect("dry run returns the plan");
        assert_eq!(plan.fault, f.name);
        assert_eq!(inj.calls.len(), plan.checks.len() + plan.inject.len());
        planned_calls.extend(inj.calls.iter().map(ToString::to_string));
    }
    assert!(registry.active().is_empty());
    assert_eq!(planned_calls.len(), 12);
    assert!(planned_calls.contains(
        &"PATCH /apis/apps/v1/namespaces/shop/deployments/users/scale {\"spec\":{\"replicas\":0}}"
            .to_owned()
    ));
    // Every client is gone: the mock's request stream ends without a single request.
    drop(dry);
    assert!(
        handle.next_request().await.is_none(),
        "a dry run sent a request"
    );
}
