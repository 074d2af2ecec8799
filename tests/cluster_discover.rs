//! Service discovery and port-forwarding.
//!
//! Discovery runs against the tower-test mock API. Port-forwarding needs a real HTTP upgrade,
//! so those tests run a small fake API server on `127.0.0.1:0` that speaks the
//! `pods/portforward` WebSocket protocol (`v4.channel.k8s.io`: a channel byte per frame, the
//! port number as each channel's first frame) and bridges each stream to a local backend
//! playing Prometheus — the same bytes a kubelet would move (`kube_support::bridge_portforward`,
//! shared with the fake cluster).

mod kube_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet::cluster::discover::{ForwardTarget, PortForwards};
use gauntlet::cluster::{Component, ForwardLimits, Name};
use gauntlet::observe::PrometheusClient;
use kube_support::cluster_support::{FakeApi, Seen, status};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// A local "Prometheus": answers an instant query and serves a large deterministic body.
async fn backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
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
    (addr, task)
}

fn big_body() -> Vec<u8> {
    (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The fake API server: records each portforward request and bridges its stream to `backend`.
struct FakeKubelet {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    active: Arc<AtomicUsize>,
    max_active: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeKubelet {
    async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let paths = Arc::new(Mutex::new(Vec::new()));
        let active = Arc::new(AtomicUsize::new(0));
        let max_active = Arc::new(AtomicUsize::new(0));
        let (p, a, m) = (paths.clone(), active.clone(), max_active.clone());
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (p, a, m) = (p.clone(), a.clone(), m.clone());
                sessions.spawn(async move {
                    let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    session(tcp, backend, p).await;
                    a.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        FakeKubelet {
            addr,
            paths,
            active,
            max_active,
            task,
        }
    }

    fn client(&self) -> kube::Client {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().expect("uri"));
        kube::Client::try_from(config).expect("client")
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("lock").clone()
    }
}

async fn session(tcp: TcpStream, backend: SocketAddr, paths: Arc<Mutex<Vec<String>>>) {
    let mut port = 0u16;
    #[expect(
        clippy::result_large_err,
        reason = "the error type is tungstenite's callback signature"
    )]
    let callback = |req: &Request, mut resp: Response| {
        let path = req.uri().to_string();
        port = path
            .split("ports=")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        paths.lock().expect("lock").push(path);
        resp.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v4.channel.k8s.io".parse().expect("header"),
        );
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    kube_support::bridge_portforward(ws, port, backend).await;
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

// What kube-rs sends (its query builder leaves a leading `&`).
const PF_PATH: &str = "/api/v1/namespaces/monitoring/pods/prometheus-0/portforward?&ports=9090";

#[tokio::test]
async fn observe_clients_reach_the_pod_through_portforward_streams() {
    let (backend_addr, _backend) = backend().await;
    let kubelet = FakeKubelet::start(backend_addr).await;
    let forwards = PortForwards::start(
        &kubelet.client(),
        &monitoring(),
        vec![target(9090)],
        ForwardLimits::default(),
    )
    .await
    .expect("listening");
    let url = forwards
        .url(Component::Prometheus)
        .expect("forwarded")
        .clone();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_ne!(url.port(), Some(9090));

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

    let paths = kubelet.paths();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(paths.iter().all(|p| p == PF_PATH), "{paths:?}");
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

#[tokio::test]
async fn the_connection_cap_holds_extra_connections_until_one_closes() {
    let (backend_addr, _backend) = backend().await;
    let kubelet = FakeKubelet::start(backend_addr).await;
    let limits = ForwardLimits {
        max_connections: 1,
        ..ForwardLimits::default()
    };
    let forwards =
        PortForwards::start(&kubelet.client(), &monitoring(), vec![target(9090)], limits)
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
    assert_eq!(kubelet.max_active.load(Ordering::SeqCst), 1);

    drop(first);
    let answer = read_some(&mut second, Duration::from_secs(10))
        .await
        .expect("served after the first closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(kubelet.paths().len(), 2);
}

#[tokio::test]
async fn dropping_the_forwards_stops_listeners_connections_and_streams() {
    let (backend_addr, _backend) = backend().await;
    let kubelet = FakeKubelet::start(backend_addr).await;
    let forwards = PortForwards::start(
        &kubelet.client(),
        &monitoring(),
        vec![target(9090)],
        ForwardLimits::default(),
    )
    .await
    .expect("listening");
    let local = forwards.forwards()[0].local;
    // A keep-alive connection with its stream open.
    let mut open = TcpStream::connect(local).await.expect("connect");
    send_request(&mut open).await;
    assert!(
        read_some(&mut open, Duration::from_secs(10))
            .await
            .is_some()
    );
    assert_eq!(kubelet.active.load(Ordering::SeqCst), 1);

    drop(forwards);
    let mut stopped = false;
    for _ in 0..100 {
        if kubelet.active.load(Ordering::SeqCst) == 0 && TcpStream::connect(local).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        stopped,
        "listener or portforward stream still alive after drop"
    );
    // The held client connection was closed by the forwarder: EOF or reset, no data.
    assert_eq!(read_some(&mut open, Duration::from_secs(2)).await, None);
}

#[tokio::test]
async fn discovery_lists_services_resolves_ready_pods_and_reports_the_rest() {
    let api = FakeApi::start(|s| match s.path.as_str() {
        "/api/v1/namespaces/monitoring/services" => (
            200,
            json!({"apiVersion": "v1", "kind": "ServiceList", "metadata": {}, "items": [
                {"metadata": {"name": "prometheus", "labels": {"app.kubernetes.io/name": "prometheus"}},
                 "spec": {"selector": {"app.kubernetes.io/name": "prometheus"}, "ports": [{"name": "web", "port": 9090, "targetPort": "web"}]}},
                {"metadata": {"name": "grafana"},
                 "spec": {"selector": {"app": "grafana"}, "ports": [{"port": 80, "targetPort": 3000}]}},
                {"metadata": {"name": "kube-dns"}, "spec": {"selector": {"k8s-app": "kube-dns"}, "ports": [{"port": 53}]}}
            ]}),
        ),
        "/api/v1/namespaces/monitoring/pods?labelSelector=app.kubernetes.io%2Fname%3Dprometheus" => {
            (
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
                    {"metadata": {"name": "prometheus-0"},
                     "spec": {"containers": [{"name": "prometheus", "ports": [{"name": "web", "containerPort": 9090}]}]},
                     "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
                ]}),
            )
        }
        "/api/v1/namespaces/monitoring/pods?labelSelector=app%3Dgrafana" => (
            200,
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
                {"metadata": {"name": "grafana-0"}, "status": {"phase": "Pending"}}
            ]}),
        ),
        _ => status(404, "NotFound"),
    });
    let (forwards, problems) =
        PortForwards::discover_and_start(&api.client, &monitoring(), ForwardLimits::default())
            .await
            .expect("discovered");
    assert_eq!(
        api.seen(),
        [
            Seen::new("GET", "/api/v1/namespaces/monitoring/services"),
            Seen::new(
                "GET",
                "/api/v1/namespaces/monitoring/pods?labelSelector=app.kubernetes.io%2Fname%3Dprometheus"
            ),
            Seen::new(
                "GET",
                "/api/v1/namespaces/monitoring/pods?labelSelector=app%3Dgrafana"
            ),
        ]
    );
    let f = &forwards.forwards()[0];
    assert_eq!(forwards.forwards().len(), 1);
    assert_eq!(
        (f.target.component, f.target.pod.as_str(), f.target.port),
        (Component::Prometheus, "prometheus-0", 9090)
    );
    assert_eq!(
        forwards.urls().keys().copied().collect::<Vec<_>>(),
        [Component::Prometheus]
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, Component::Grafana);
    assert_eq!(
        problems[0].1.to_string(),
        "service grafana: no running and ready pod matches app=grafana"
    );
    // Nothing was forwarded yet: a stream opens only when a connection arrives.
    assert_eq!(api.seen().len(), 3);
}
