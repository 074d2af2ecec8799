//! The dry-run plan of a Kubernetes scenario: pure, every call spelled out, rendered as lines.

use gauntlet::cluster::{plan, render_plan};
use gauntlet::scenario::validate_text;

const SCENARIO: &str = r#"
name: kube-faults
stack: { provider: kubernetes, namespace: shop, scrape-interval: 1s, evaluation-interval: 1s }
services: { endpoints: { frontend: "http://frontend.shop.svc:8080" } }
load: { rate: 20/s, duration: 60s, journeys: [browse] }
faults:
  - { name: cut-products, at: 30s, for: 10s, kind: network-partition, selector: app=products }
  - { name: kill-orders, at: 5s, kind: pod-kill, selector: app=orders }
  - { name: scale-users, at: 10s, for: 10s, kind: scale-to-zero, workload: deployment/users }
  - { name: restart-db, at: 25s, kind: rollout-restart, workload: statefulset/db, namespace: data }
expect:
  - { metric: 'up', within: 15s }
"#;

#[test]
fn plan_lists_checks_inject_and_rollback_calls_in_timeline_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = validate_text(&dir.path().join("kube.yaml"), SCENARIO).expect("valid scenario");
    let planned = plan(&scenario).expect("plannable");
    let names: Vec<&str> = planned.iter().map(|p| p.fault.as_str()).collect();
    assert_eq!(
        names,
        ["kill-orders", "scale-users", "restart-db", "cut-products"]
    );
    let text = render_plan(&planned);
    assert_eq!(text, EXPECTED);

    // The plan is data too: a JSON consumer sees the same calls.
    let json = serde_json::to_value(&planned).expect("serializes");
    assert_eq!(
        json[1]["inject"][0]["content_type"],
        "application/merge-patch+json"
    );
    assert_eq!(json[1]["at_ms"], 10_000);
    assert_eq!(json[0]["for_ms"], serde_json::Value::Null);
}

#[test]
fn plan_reports_every_fault_it_cannot_plan_and_skips_other_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SCENARIO
        .replace("deployment/users", "deployment/Users")
        .replace("namespace: data", "namespace: Data");
    let scenario = validate_text(&dir.path().join("kube.yaml"), &text).expect("valid scenario");
    let err = plan(&scenario).expect_err("bad names");
    let faults: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(faults, ["scale-users", "restart-db"]);
    assert!(
        err.to_string()
            .contains("deployment \"Users\" is not a valid kubernetes name"),
        "{err}"
    );

    let native = SCENARIO.replace(
        "provider: kubernetes, namespace: shop, ",
        "provider: native, ",
    );
    let faults_start = native.find("faults:").expect("faults");
    let expect_start = native.find("expect:").expect("expect");
    let mut no_kube = native.clone();
    no_kube.replace_range(
        faults_start..expect_start,
        "faults:\n  - { name: errs, at: 5s, for: 5s, kind: http-errors, service: orders, rate: 0.5, status: 500 }\n",
    );
    let no_kube = no_kube.replace(
        "services: { endpoints: { frontend: \"http://frontend.shop.svc:8080\" } }\n",
        "",
    );
    let scenario =
        validate_text(&dir.path().join("native.yaml"), &no_kube).expect("valid scenario");
    let planned = plan(&scenario).expect("nothing to plan");
    assert!(planned.is_empty());
    assert_eq!(
        render_plan(&planned),
        "no kubernetes faults: nothing would be sent to the cluster\n"
    );
}

const EXPECTED: &str = r#"kill-orders: pod-kill app=orders in namespace shop at 5s
  check     GET /api/v1/namespaces/shop
  check     GET /api/v1/namespaces/shop/pods?labelSelector=app%3Dorders
  inject    DELETE /api/v1/namespaces/shop/pods?labelSelector=app%3Dorders%2Cgauntlet.io%2Fchaos%3Denabled
  rollback  none: the pods' controller recreates them
scale-users: scale-to-zero deployment/users in namespace shop at 10s for 10s
  check     GET /api/v1/namespaces/shop
  check     GET /apis/apps/v1/namespaces/shop/deployments/users
  inject    PATCH /apis/apps/v1/namespaces/shop/deployments/users/scale {"spec":{"replicas":0}}
  rollback  PATCH /apis/apps/v1/namespaces/shop/deployments/users/scale {"spec":{"replicas":"<replicas read before the fault>"}}
            restores the replica count read by the check before the fault
restart-db: rollout-restart statefulset/db in namespace data at 25s
  check     GET /api/v1/namespaces/data
  check     GET /apis/apps/v1/namespaces/data/statefulsets/db
  inject    PATCH /apis/apps/v1/namespaces/data/statefulsets/db {"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"<time of injection, RFC 3339>"}}}}}
  rollback  none: a restart cannot be undone; the rollout replaces the pods
cut-products: network-partition app=products in namespace shop at 30s for 10s
  check     GET /api/v1/namespaces/shop
  check     GET /api/v1/namespaces/shop/pods?labelSelector=app%3Dproducts
  inject    POST /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"labels":{"app.kubernetes.io/managed-by":"gauntlet"},"name":"gauntlet-partition-cut-products","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"products","gauntlet.io/chaos":"enabled"}},"policyTypes":["Ingress","Egress"]}}
  rollback  DELETE /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/gauntlet-partition-cut-products
"#;
