//! Service discovery and port-forwarding against a real control plane (`tests/kube_real`):
//! gauntlet, as the `gauntlet` ServiceAccount under `deploy/rbac.yaml`, lists the Services
//! and pods of `monitoring` from the real apiserver and opens `pods/portforward` streams
//! through it (the apiserver's WebSocket protocol, proxied to kwok, which connects each
//! stream to a local backend named in a kwok `PortForward` object — the simulated part: no
//! container behind the pod). Run with `--test-threads=1` (one control plane per test).

mod kube_real;

use std::net::SocketAddr;
use std::time::Duration;

use gauntlet::cluster::discover::{ForwardTarget, PortForwards};
use gauntlet::cluster::{Component, ForwardLimits, Name};
use gauntlet::observe::PrometheusClient;
use kube_real::{AbortOnDrop, Cluster, create, labels};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The bytes behind the forwarded pod: an instant-query answer and a large deterministic body.
async fn backend() -> (SocketAddr, AbortOnDrop) {
    let app = axum::Router::new()
        .route(
            "/api/v1/query",
            axum::routing::get(|| async {
                axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": [
                    {"metric": {"__name__": "up", "job": "orders"}, "value": [1_700_000_000.0, "1"]}
                ]}}))
            }),
        )
        .route("/big", axum::routing::get(|| async { big_body() }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, AbortOnDrop(task))
}

fn big_body() -> Vec<u8> {
    (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn target(port: u16) -> ForwardTarget {
    ForwardTarget {
        component: Component::Prometheus,
        service: "prometheus".into(),
        pod: Name::parse("pod", "prometheus-0").expect("valid"),
        port,
    }
}

fn monitoring() -> Name {
    Name::parse("namespace", "monitoring").expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_resolves_ready_pods_and_streams_reach_them_through_the_apiserver() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (backend_addr, _backend) = backend().await;
    cluster
        .observed_service("monitoring", "prometheus", 9090, backend_addr)
        .await;
    // A Grafana whose only pod cannot be scheduled (Pending), and a Service that is no
    // observability component.
    let admin = cluster.admin();
    create(
        &admin,
        "/api/v1/namespaces/monitoring/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "grafana"},
               "spec": {"selector": {"app": "grafana"}, "ports": [{"port": 80, "targetPort": 3000}]}}),
    )
    .await;
    create(
        &admin,
        "/api/v1/namespaces/monitoring/pods",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "grafana-0", "labels": labels(&[("app", "grafana")])},
               "spec": {"nodeSelector": {"nowhere": "true"},
                        "containers": [{"name": "grafana", "image": "grafana:test"}]}}),
    )
    .await;
    create(
        &admin,
        "/api/v1/namespaces/monitoring/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns"},
               "spec": {"selector": {"k8s-app": "kube-dns"}, "ports": [{"port": 53}]}}),
    )
    .await;

    let (forwards, problems) = PortForwards::discover_and_start(
        &cluster.gauntlet(),
        &monitoring(),
        ForwardLimits::default(),
    )
    .await
    .expect("discovered");
    assert_eq!(forwards.forwards().len(), 1, "{:?}", forwards.forwards());
    let f = &forwards.forwards()[0];
    assert_eq!(
        (f.target.component, f.target.pod.as_str(), f.target.port),
        (Component::Prometheus, "prometheus-0", 9090)
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, Component::Grafana);
    assert_eq!(
        problems[0].1.to_string(),
        "service grafana: no running and ready pod matches app=grafana"
    );

    let url = forwards
        .url(Component::Prometheus)
        .expect("forwarded")
        .clone();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_ne!(url.port(), Some(backend_addr.port()));
    // One connection per request, so each opens its own portforward stream.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http");
    let prometheus = PrometheusClient::new(url.as_str(), http.clone()).expect("client");
    for _ in 0..3 {
        let answer = prometheus
            .query("up", None)
            .await
            .expect("query through the forward");
        assert!(format!("{answer:?}").contains("orders"), "{answer:?}");
    }
    // A body far larger than one WebSocket frame or the stream buffer arrives byte-exact.
    let big = http
        .get(format!("{url}big"))
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(big.len(), 1_500_000);
    assert!(big.as_ref() == big_body().as_slice(), "bytes differ");
}

async fn send_request(tcp: &mut TcpStream) {
    tcp.write_all(b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
}

async fn read_some(tcp: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(within, tcp.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_extra_connections_and_dropping_the_forwards_stops_them() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (backend_addr, _backend) = backend().await;
    cluster
        .observed_service("monitoring", "prometheus", 9090, backend_addr)
        .await;
    let limits = ForwardLimits {
        max_connections: 1,
        ..ForwardLimits::default()
    };
    let forwards = PortForwards::start(
        &cluster.gauntlet(),
        &monitoring(),
        vec![target(9090)],
        limits,
    )
    .await
    .expect("listening");
    let local = forwards.forwards()[0].local;

    let mut first = TcpStream::connect(local).await.expect("connect");
    send_request(&mut first).await;
    let answer = read_some(&mut first, Duration::from_secs(10))
        .await
        .expect("first served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The second connection is accepted by the kernel but not served while the first is open.
    let mut second = TcpStream::connect(local).await.expect("connect");
    send_request(&mut second).await;
    assert_eq!(
        read_some(&mut second, Duration::from_millis(400)).await,
        None
    );
    drop(first);
    let answer = read_some(&mut second, Duration::from_secs(10))
        .await
        .expect("served after the first closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Dropping the forwards closes the listener and the held connection (EOF or reset).
    drop(forwards);
    let mut stopped = false;
    for _ in 0..100 {
        if TcpStream::connect(local).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "listener still alive after drop");
    assert_eq!(read_some(&mut second, Duration::from_secs(2)).await, None);
}
