//! The local Kubernetes control plane (`cluster::local`) against itself: it starts, a
//! Deployment's pods run (kwok), stop leaves no process and no directory; and
//! `deploy/rbac.yaml`, applied as written, lets the gauntlet ServiceAccount make every request
//! gauntlet makes and nothing else, as judged by the real API server's RBAC authorizer.
//!
//! Nothing here is mocked. Skipped with the reason when the binaries are not provisioned
//! (`scripts/provision.sh`); a failure under `GAUNTLET_REQUIRE_STACK=1`.

mod kube_real;

use std::time::Duration;

use gauntlet::cluster::{ApiCall, LocalControlPlane, LocalOptions, Method, Name, plan};
use gauntlet::stack::process::{pid_exists, process_state};
use gauntlet::verdict::poll::{Backoff, Probe, poll_until};
use serde_json::{Value, json};

async fn start() -> Option<LocalControlPlane> {
    gauntlet::testing::local_control_plane(&LocalOptions::default()).await
}

fn call(method: Method, path: &str, body: Option<Value>) -> ApiCall {
    let content_type = match method {
        Method::Patch => Some(gauntlet::cluster::api::MERGE_PATCH),
        _ => body.as_ref().map(|_| gauntlet::cluster::api::JSON),
    };
    ApiCall {
        method,
        path: path.to_owned(),
        content_type,
        body,
    }
}

async fn send(client: &kube::Client, c: &ApiCall) -> Result<Value, Option<u16>> {
    c.send_text(client)
        .await
        .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)))
        .map_err(|e| e.status_code())
}

/// Sends `c` as the admin and panics with the API server's answer if it fails.
async fn admin(client: &kube::Client, c: ApiCall) -> Value {
    match c.send_text(client).await {
        Ok(text) => serde_json::from_str(&text).expect("json answer"),
        Err(e) => panic!("{c}: {}", gauntlet::error_chain(&e)),
    }
}

/// Polls `probe` for up to `limit`; panics with what it last saw.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let outcome = poll_until(
        tokio::time::Instant::now() + limit,
        Backoff::default(),
        || {
            let f = probe();
            async move {
                match f.await {
                    Ok(()) => Probe::Met(()),
                    Err(e) => Probe::NotYet(e),
                }
            }
        },
    )
    .await;
    assert!(
        outcome.met.is_some(),
        "{what} not within {limit:?}; last: {:?}",
        outcome.last_observed
    );
}

fn namespace(name: &str, labels: Value) -> ApiCall {
    call(
        Method::Post,
        "/api/v1/namespaces",
        Some(json!({ "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": name, "labels": labels } })),
    )
}

fn deployment(ns: &str, name: &str, replicas: u32) -> ApiCall {
    call(
        Method::Post,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        Some(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": name, "labels": { "app": name, "gauntlet.io/chaos": "enabled" } },
            "spec": {
                "replicas": replicas,
                "selector": { "matchLabels": { "app": name } },
                "template": {
                    "metadata": { "labels": { "app": name, "gauntlet.io/chaos": "enabled" } },
                    // kwok runs no containers: the image is never pulled.
                    "spec": { "containers": [{ "name": "app", "image": "gauntlet.invalid/app:1" }] }
                }
            }
        })),
    )
}

async fn running_pods(client: &kube::Client, ns: &str, app: &str) -> Result<usize, String> {
    let list = send(
        client,
        &call(
            Method::Get,
            &format!("/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}"),
            None,
        ),
    )
    .await
    .map_err(|code| format!("list pods: HTTP {code:?}"))?;
    Ok(list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|p| p["status"]["phase"] == "Running")
                .count()
        })
        .unwrap_or(0))
}

/// Waits until `n` pods labelled `app=<app>` in `ns` are Running.
async fn wait_running(client: &kube::Client, ns: &str, app: &str, n: usize) {
    wait_for(
        &format!("{n} Running pods of {app}"),
        Duration::from_secs(60),
        || async move {
            match running_pods(client, ns, app).await? {
                m if m == n => Ok(()),
                m => Err(format!("{m} running")),
            }
        },
    )
    .await;
}

/// Waits until the number at JSON `pointer` of the object at `path` is `want`.
async fn wait_count(client: &kube::Client, path: &str, pointer: &str, want: u64) {
    wait_for(
        &format!("{path} {pointer} = {want}"),
        Duration::from_secs(60),
        || async move {
            let object = send(client, &call(Method::Get, path, None))
                .await
                .map_err(|code| format!("HTTP {code:?}"))?;
            match object.pointer(pointer).and_then(Value::as_u64) {
                Some(n) if n == want => Ok(()),
                other => Err(format!("{pointer} {other:?}")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_pods_run_and_stop_leaves_no_process_and_no_directory() {
    let Some(plane) = start().await else { return };
    let startup = plane.startup();
    eprintln!(
        "MEASURED: api ready {:?}, node ready {:?}, rss {} MiB",
        startup.api_ready,
        startup.node_ready,
        plane.rss_bytes() / (1024 * 1024)
    );
    assert!(plane.kubeconfig_path().is_file());
    let client = plane.admin_client().await.expect("admin client");
    admin(&client, namespace("shop", json!({}))).await;
    let created = std::time::Instant::now();
    admin(&client, deployment("shop", "web", 2)).await;
    wait_running(&client, "shop", "web", 2).await;
    wait_count(
        &client,
        "/apis/apps/v1/namespaces/shop/deployments/web",
        "/status/availableReplicas",
        2,
    )
    .await;
    eprintln!(
        "MEASURED: deployment to 2 available pods {:?}, rss {} MiB",
        created.elapsed(),
        plane.rss_bytes() / (1024 * 1024)
    );

    let pids = plane.pids();
    assert_eq!(pids.len(), 5, "{pids:?}");
    let dir = plane.dir().to_path_buf();
    plane.stop().await;
    for (name, pid) in pids {
        assert!(
            !pid_exists(pid) || process_state(pid) == Some('Z'),
            "{name} (pid {pid}) survived stop"
        );
    }
    assert!(!dir.exists(), "{} survived stop", dir.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_kills_every_component_and_removes_the_directory() {
    let Some(plane) = start().await else { return };
    let pids = plane.pids();
    let dir = plane.dir().to_path_buf();
    drop(plane);
    wait_for("components gone after drop", Duration::from_secs(5), || {
        let pids = pids.clone();
        async move {
            match pids
                .iter()
                .find(|(_, pid)| pid_exists(*pid) && process_state(*pid) != Some('Z'))
            {
                Some((name, pid)) => Err(format!("{name} (pid {pid}) alive")),
                None => Ok(()),
            }
        }
    })
    .await;
    assert!(!dir.exists(), "{} survived drop", dir.display());
}

/// Every fault kind, as `tests/cluster_plan.rs` plans them, all in namespace `shop`.
const SCENARIO: &str = r#"
name: kube-faults
stack: { provider: kubernetes, namespace: shop, scrape-interval: 1s, evaluation-interval: 1s }
services: { endpoints: { frontend: "http://frontend.shop.svc:8080" } }
load: { rate: 20/s, duration: 60s, journeys: [browse] }
faults:
  - { name: cut-products, at: 30s, for: 10s, kind: network-partition, selector: app=products }
  - { name: kill-orders, at: 5s, kind: pod-kill, selector: app=orders }
  - { name: scale-users, at: 10s, for: 10s, kind: scale-to-zero, workload: deployment/users }
  - { name: restart-db, at: 25s, kind: rollout-restart, workload: statefulset/db }
expect:
  - { metric: 'up', within: 15s }
"#;

/// Applies every document of `deploy/rbac.yaml` unchanged (create, as the admin).
async fn apply_rbac_as_written(client: &kube::Client) {
    use serde::Deserialize as _;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
    let text = std::fs::read_to_string(&path).expect("read deploy/rbac.yaml");
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let doc = Value::deserialize(doc).expect("yaml document");
        let ns = doc["metadata"]["namespace"].as_str();
        let path = match (doc["kind"].as_str().expect("kind"), ns) {
            ("ServiceAccount", Some(ns)) => format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            ("Role", Some(ns)) => {
                format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles")
            }
            ("RoleBinding", Some(ns)) => {
                format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings")
            }
            ("ClusterRole", None) => "/apis/rbac.authorization.k8s.io/v1/clusterroles".into(),
            ("ClusterRoleBinding", None) => {
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".into()
            }
            other => panic!("rbac.yaml has an unexpected document {other:?}"),
        };
        admin(client, call(Method::Post, &path, Some(doc))).await;
    }
}

/// Whether the SelfSubjectAccessReview of `client` allows `verb` on `resource` in `ns`.
async fn can(client: &kube::Client, verb: &str, resource: &str, sub: &str, ns: &str) -> bool {
    let review = call(
        Method::Post,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": { "resourceAttributes": {
                "namespace": ns, "verb": verb, "resource": resource, "subresource": sub
            } }
        })),
    );
    let answer = send(client, &review)
        .await
        .unwrap_or_else(|code| panic!("self subject access review: HTTP {code:?}"));
    answer["status"]["allowed"] == true
}

fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "gauntlet" } },
        "spec": { "completions": 1, "template": { "spec": {
            "restartPolicy": "Never",
            "containers": [{ "name": "worker", "image": "gauntlet.invalid/gauntlet:1" }]
        } } }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn rbac_yaml_allows_every_call_gauntlet_makes_and_forbids_the_rest() {
    let Some(plane) = start().await else { return };
    let root = plane.admin_client().await.expect("admin client");
    for (ns, labels) in [
        ("gauntlet", json!({})),
        ("shop", json!({ "gauntlet.io/chaos": "enabled" })),
        ("monitoring", json!({})),
        ("other", json!({ "gauntlet.io/chaos": "enabled" })),
    ] {
        admin(&root, namespace(ns, labels)).await;
    }
    for name in ["orders", "products", "users"] {
        admin(&root, deployment("shop", name, 1)).await;
    }
    admin(&root, deployment("other", "web", 1)).await;
    let mut db = deployment("shop", "db", 1).body.expect("body");
    db["kind"] = json!("StatefulSet");
    admin(
        &root,
        call(
            Method::Post,
            "/apis/apps/v1/namespaces/shop/statefulsets",
            Some(db),
        ),
    )
    .await;
    admin(
        &root,
        call(
            Method::Post,
            "/api/v1/namespaces/shop/secrets",
            Some(json!({ "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "db-password" }, "stringData": { "password": "x" } })),
        ),
    )
    .await;
    apply_rbac_as_written(&root).await;
    let sa = plane
        .service_account_client("gauntlet", "gauntlet")
        .await
        .expect("service account client");

    // (a) Every request gauntlet makes, sent for real with the ServiceAccount's token.
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = gauntlet::scenario::validate_text(&dir.path().join("kube.yaml"), SCENARIO)
        .expect("valid scenario");
    let mut calls: Vec<ApiCall> = Vec::new();
    for p in plan(&scenario).expect("plannable") {
        calls.extend(p.checks);
        calls.extend(p.inject);
        calls.extend(p.rollback);
    }
    let shop = Name::parse("namespace", "shop").expect("valid");
    let monitoring = Name::parse("namespace", "monitoring").expect("valid");
    let job_name = Name::parse("job", "gauntlet-load-x").expect("valid");
    let pod = Name::parse("pod", "gauntlet-load-x-0-abc").expect("valid");
    calls.push(ApiCall::create_job(&shop, job("gauntlet-load-x")));
    calls.push(ApiCall::get_job(&shop, &job_name));
    calls.push(ApiCall::list_pods(
        &shop,
        "batch.kubernetes.io/job-name=gauntlet-load-x",
    ));
    calls.push(ApiCall::pod_log(&shop, &pod, "worker", 50, 1024));
    calls.push(ApiCall::delete_job(&shop, &job_name));
    calls.push(ApiCall::list_services(&monitoring));
    calls.push(ApiCall::list_pods(&monitoring, "app=prometheus"));
    assert!(calls.len() >= 17, "{}", calls.len());
    for c in &mut calls {
        // The dry-run plan shows the rollback's replica count as a placeholder; live, it is
        // the count read before the fault (1 here).
        if let Some(replicas) = c
            .body
            .as_mut()
            .and_then(|b| b.pointer_mut("/spec/replicas"))
            && replicas.is_string()
        {
            *replicas = json!(1);
        }
        match send(&sa, c).await {
            Ok(_) => {}
            // The log of a pod that does not exist: authorized, then not found.
            Err(Some(404)) if c.path.contains("/log?") => {}
            Err(code) => panic!("gauntlet's ServiceAccount was refused {c}: HTTP {code:?}"),
        }
    }
    // The port-forward is a WebSocket GET that the API server also authorizes as create.
    for verb in ["get", "create"] {
        assert!(can(&sa, verb, "pods", "portforward", "monitoring").await);
        assert!(!can(&sa, verb, "pods", "portforward", "shop").await);
    }

    // (b) What it must not do: the real authorizer answers 403.
    let forbidden = [
        call(Method::Get, "/api/v1/namespaces/shop/secrets", None),
        call(
            Method::Get,
            "/api/v1/namespaces/shop/secrets/db-password",
            None,
        ),
        call(Method::Get, "/api/v1/namespaces/gauntlet/secrets", None),
        call(Method::Get, "/api/v1/namespaces/shop/configmaps", None),
        call(
            Method::Get,
            "/api/v1/namespaces/other/pods?labelSelector=app%3Dweb",
            None,
        ),
        call(
            Method::Delete,
            "/api/v1/namespaces/other/pods?labelSelector=app%3Dweb",
            None,
        ),
        call(
            Method::Patch,
            "/apis/apps/v1/namespaces/other/deployments/web/scale",
            Some(json!({ "spec": { "replicas": 0 } })),
        ),
        call(
            Method::Get,
            "/apis/apps/v1/namespaces/other/deployments/web",
            None,
        ),
        call(Method::Delete, "/api/v1/namespaces/shop", None),
        call(
            Method::Patch,
            "/api/v1/namespaces/shop",
            Some(json!({ "metadata": { "labels": { "gauntlet.io/chaos": "enabled" } } })),
        ),
        call(Method::Get, "/api/v1/namespaces", None),
        call(Method::Get, "/api/v1/pods", None),
        call(Method::Get, "/api/v1/nodes", None),
        call(Method::Get, "/apis/apps/v1/deployments", None),
        call(
            Method::Post,
            "/api/v1/namespaces/shop/pods",
            Some(
                json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "x" },
                "spec": { "containers": [{ "name": "x", "image": "x" }] } }),
            ),
        ),
        call(Method::Get, "/api/v1/namespaces/shop/pods/x", None),
        call(Method::Delete, "/api/v1/namespaces/shop/pods/x", None),
        call(
            Method::Post,
            "/api/v1/namespaces/shop/pods/x/exec?command=sh",
            None,
        ),
        call(
            Method::Post,
            "/apis/apps/v1/namespaces/shop/deployments",
            deployment("shop", "evil", 1).body,
        ),
        call(
            Method::Delete,
            "/apis/apps/v1/namespaces/shop/deployments/users",
            None,
        ),
        call(
            Method::Delete,
            "/apis/batch/v1/namespaces/other/jobs/x",
            None,
        ),
        call(
            Method::Post,
            "/apis/batch/v1/namespaces/monitoring/jobs",
            Some(job("gauntlet-load-y")),
        ),
        call(
            Method::Get,
            "/api/v1/namespaces/monitoring/pods/x/log",
            None,
        ),
        call(
            Method::Delete,
            "/apis/networking.k8s.io/v1/namespaces/monitoring/networkpolicies/x",
            None,
        ),
        call(Method::Get, "/api/v1/namespaces/monitoring/secrets", None),
        call(
            Method::Post,
            "/api/v1/namespaces/gauntlet/serviceaccounts/gauntlet/token",
            Some(
                json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {} }),
            ),
        ),
        call(
            Method::Post,
            "/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles",
            Some(
                json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": { "name": "x" }, "rules": [] }),
            ),
        ),
        call(
            Method::Patch,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/gauntlet-namespace-reader",
            Some(json!({ "rules": [{ "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] }] })),
        ),
        call(
            Method::Post,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            Some(
                json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": { "name": "x" },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
                "subjects": [{ "kind": "ServiceAccount", "name": "gauntlet", "namespace": "gauntlet" }] }),
            ),
        ),
    ];
    let mut allowed = Vec::new();
    for c in &forbidden {
        match send(&sa, c).await {
            Err(Some(403)) => {}
            other => allowed.push(format!("{c} -> {:?}", other.map(|_| "allowed"))),
        }
    }
    assert!(
        allowed.is_empty(),
        "rbac.yaml lets gauntlet's ServiceAccount do more than it needs:\n{}",
        allowed.join("\n")
    );
    // The same client is refused nothing gauntlet needs and everything above: the 403s are the
    // authorizer's judgement, not a broken token.
    assert!(can(&sa, "deletecollection", "pods", "", "shop").await);
    assert!(!can(&sa, "deletecollection", "pods", "", "other").await);
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_up_prints_a_working_kubeconfig_and_sigterm_removes_everything() {
    if gauntlet::testing::require(
        "local kubernetes control plane",
        gauntlet::cluster::KubeBinaries::find().map_err(|e| e.to_string()),
    )
    .is_none()
    {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("cluster");
    let (mut child, rx, printed) = kube_real::cluster_up(&[], &dir);
    let kubeconfig = dir
        .canonicalize()
        .expect("dir exists")
        .join("admin.kubeconfig");
    assert!(
        printed.contains(&format!("export KUBECONFIG={}", kubeconfig.display())),
        "{printed:?}"
    );
    // The printed kubeconfig reaches a cluster whose node is Ready.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig parses"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("kubeconfig loads");
    let client = kube::Client::try_from(config).expect("client");
    let node = admin(
        &client,
        call(Method::Get, "/api/v1/nodes/kwok-node-0", None),
    )
    .await;
    assert_eq!(node["metadata"]["name"], "kwok-node-0");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    // The reader thread ends at EOF, when the process has exited.
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(rest, ["stopping the control plane", "stopped"]);
    assert!(!dir.exists(), "{} survived SIGTERM", dir.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn kwok_serves_configured_logs_and_port_forward_and_jobs_complete() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let scratch = tempfile::tempdir().expect("tempdir");
    let log = scratch.path().join("app.log");
    std::fs::write(&log, "2026-01-01T00:00:00Z stdout F hello from kwok\n").expect("write log");
    // The port-forward target: a loopback server answering one fixed line.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target_port = target.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = target.accept().await {
            let _ = conn.write_all(b"forwarded\n").await;
        }
    });
    let options = LocalOptions {
        kwok_config: vec![format!(
            "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata: {{ name: logs }}\n\
             spec:\n  selector: {{ matchNamespaces: [shop] }}\n  logs:\n  - containers: [app]\n    logsFile: {}\n\
             ---\n\
             apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterPortForward\nmetadata: {{ name: forwards }}\n\
             spec:\n  selector: {{ matchNamespaces: [shop] }}\n  forwards:\n  - ports: [8080]\n    target: {{ port: {target_port}, address: 127.0.0.1 }}\n",
            log.display()
        )],
        ..LocalOptions::default()
    };
    let Some(plane) = gauntlet::testing::local_control_plane(&options).await else {
        return;
    };
    let client = plane.admin_client().await.expect("admin client");
    admin(&client, namespace("shop", json!({}))).await;
    admin(&client, deployment("shop", "web", 1)).await;
    admin(
        &client,
        call(
            Method::Post,
            "/apis/batch/v1/namespaces/shop/jobs",
            Some(job("once")),
        ),
    )
    .await;
    wait_count(
        &client,
        "/apis/batch/v1/namespaces/shop/jobs/once",
        "/status/succeeded",
        1,
    )
    .await;
    wait_running(&client, "shop", "web", 1).await;
    let pods = send(
        &client,
        &call(
            Method::Get,
            "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb",
            None,
        ),
    )
    .await
    .expect("list pods");
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .expect("pod name")
        .to_owned();
    let name = Name::parse("pod", &pod).expect("valid");
    let shop = Name::parse("namespace", "shop").expect("valid");
    let text = ApiCall::pod_log(&shop, &name, "app", 10, 4096)
        .send_text(&client)
        .await
        .expect("pod log through the API server and kwok");
    assert_eq!(text.trim(), "hello from kwok");

    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "shop");
    let mut forward = api.portforward(&pod, &[8080]).await.expect("port-forward");
    let mut stream = forward.take_stream(8080).expect("stream for 8080");
    // Read exactly the line: whether the target's close reaches the stream is kwok's business.
    let mut answer = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    assert_eq!(&answer, b"forwarded\n");
    drop(stream);
    plane.stop().await;
}
