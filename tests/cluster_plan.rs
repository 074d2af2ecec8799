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

fn deploy(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The scenario files shipped in `deploy/scenarios-configmap.yaml`.
fn configmap_scenarios() -> Vec<(String, String)> {
    let cm: serde_json::Value =
        yaml_serde::from_str(&deploy("scenarios-configmap.yaml")).expect("configmap yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    cm["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("file text").to_owned()))
        .collect()
}

#[test]
fn the_configmap_scenarios_validate_and_plan() {
    let files = configmap_scenarios();
    assert!(!files.is_empty());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for (name, text) in files {
        let scenario =
            validate_text(&dir.join(&name), &text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let planned = plan(&scenario).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!planned.is_empty(), "{name} has kubernetes faults");
    }
}

/// (API group, resource[/subresource], verb) of a request, as RBAC sees it.
fn rbac_attributes(method: &str, path: &str) -> (String, String, String, Option<String>) {
    let path = path.split('?').next().expect("path");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("unexpected path {path}"),
    };
    let (namespace, resource, named) = match rest {
        ["namespaces", ns] => (None, "namespaces".to_owned(), Some(*ns)),
        ["namespaces", ns, res] => (Some(*ns), (*res).to_owned(), None),
        ["namespaces", ns, res, name] => (Some(*ns), (*res).to_owned(), Some(*name)),
        ["namespaces", ns, res, name, sub] => (Some(*ns), format!("{res}/{sub}"), Some(*name)),
        _ => panic!("unexpected path {path}"),
    };
    let verb = match (method, named.is_some()) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => panic!("unexpected method {method}"),
    };
    (
        group.to_owned(),
        resource,
        verb.to_owned(),
        namespace.map(str::to_owned),
    )
}

/// Whether a Role/ClusterRole in `deploy/rbac.yaml` (in `namespace`, or cluster-wide when
/// `None`) grants the verb.
fn granted(
    rbac: &[serde_json::Value],
    namespace: Option<&str>,
    group: &str,
    resource: &str,
    verb: &str,
) -> bool {
    rbac.iter()
        .filter(|d| match namespace {
            Some(ns) => d["kind"] == "Role" && d["metadata"]["namespace"] == ns,
            None => d["kind"] == "ClusterRole",
        })
        .flat_map(|d| d["rules"].as_array().expect("rules").iter())
        .any(|r| {
            let has =
                |key: &str, want: &str| r[key].as_array().expect("list").iter().any(|v| v == want);
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
}

#[test]
fn rbac_grants_every_call_gauntlet_makes_and_no_broad_verbs() {
    use gauntlet::cluster::{ApiCall, Name};
    use serde::Deserialize;

    let text = deploy("rbac.yaml");
    let rbac: Vec<serde_json::Value> = yaml_serde::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("yaml doc"))
        .collect();
    assert_eq!(rbac.len(), 7);

    // Every fault kind (the configmap's scenario lacks rollout-restart; SCENARIO has all four).
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = validate_text(
        &dir.path().join("kube.yaml"),
        &SCENARIO.replace("namespace: data", "namespace: shop"),
    )
    .expect("valid");
    let mut calls: Vec<ApiCall> = Vec::new();
    for p in plan(&scenario).expect("plannable") {
        calls.extend(p.checks);
        calls.extend(p.inject);
        calls.extend(p.rollback);
    }
    // Distributed load.
    let shop = Name::parse("namespace", "shop").expect("valid");
    let job = Name::parse("job", "gauntlet-load-x").expect("valid");
    let pod = Name::parse("pod", "gauntlet-load-x-0-abc").expect("valid");
    calls.push(ApiCall::create_job(&shop, serde_json::json!({})));
    calls.push(ApiCall::get_job(&shop, &job));
    calls.push(ApiCall::list_pods(
        &shop,
        "batch.kubernetes.io/job-name=gauntlet-load-x",
    ));
    calls.push(ApiCall::pod_log(&shop, &pod, "worker", 50, 1024));
    calls.push(ApiCall::delete_job(&shop, &job));
    // Discovery in the observability namespace.
    let monitoring = Name::parse("namespace", "monitoring").expect("valid");
    calls.push(ApiCall::list_services(&monitoring));
    calls.push(ApiCall::list_pods(&monitoring, "app=prometheus"));

    let mut checked = std::collections::BTreeSet::new();
    for call in &calls {
        let (group, resource, verb, ns) = rbac_attributes(call.method.as_str(), &call.path);
        let ok = match ns.as_deref() {
            // The namespace object itself: cluster-scoped.
            None => granted(&rbac, None, &group, &resource, &verb),
            Some(ns) => granted(&rbac, Some(ns), &group, &resource, &verb),
        };
        assert!(
            ok,
            "rbac.yaml does not grant {verb} {group}/{resource} in {ns:?} for {call}"
        );
        checked.insert((group, resource, verb));
    }
    // The port-forward is not an ApiCall: a WebSocket GET that 1.35 also authorizes as create.
    for verb in ["get", "create"] {
        assert!(granted(
            &rbac,
            Some("monitoring"),
            "",
            "pods/portforward",
            verb
        ));
    }
    assert!(checked.len() >= 14, "{checked:?}");

    // Least privilege: no wildcards, no secrets, no verbs beyond what is used.
    for doc in &rbac {
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for key in ["apiGroups", "resources", "verbs"] {
                for v in rule[key].as_array().expect("list") {
                    assert_ne!(v, "*", "wildcard in {rule}");
                    assert_ne!(v, "secrets", "{rule}");
                }
            }
            for verb in rule["verbs"].as_array().expect("verbs") {
                let verb = verb.as_str().expect("verb");
                let resources: Vec<&str> = rule["resources"]
                    .as_array()
                    .expect("resources")
                    .iter()
                    .map(|r| r.as_str().expect("str"))
                    .collect();
                let used = resources.iter().any(|r| {
                    checked.iter().any(|(_, res, v)| res == r && v == verb)
                        || (*r == "pods/portforward" && (verb == "get" || verb == "create"))
                });
                assert!(used, "{verb} on {resources:?} is granted but never used");
            }
        }
    }
}
