//! The HTTP fault proxy against a real upstream on loopback: it forwards requests unchanged,
//! injects statuses, latency and aborted responses for a share of requests, undoes each on
//! rollback (by its guard, by the registry, on drop), and counts what passed through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::routing::any;
use gauntlet::fault::{FaultRegistry, HttpEffect, HttpFaultProxy, HttpProxyConfig};

/// An upstream that echoes method, path, query and body, and counts its requests.
async fn upstream() -> (SocketAddr, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new().fallback(any(move |req: Request| {
        let counted = Arc::clone(&counted);
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let echo = format!(
                "{} {} {}",
                parts.method,
                parts.uri,
                String::from_utf8_lossy(&body)
            );
            ([("x-upstream", "yes")], echo)
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

async fn proxy_to(upstream: SocketAddr) -> HttpFaultProxy {
    HttpFaultProxy::start(HttpProxyConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        upstream,
    ))
    .await
    .expect("proxy starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn requests_pass_through_unchanged_while_no_fault_is_on() {
    let (up, hits) = upstream().await;
    let proxy = proxy_to(up).await;
    let r = client()
        .post(format!("http://{}/orders/7?x=1", proxy.local_addr()))
        .body("hello")
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-upstream"], "yes");
    assert_eq!(r.text().await.expect("body"), "POST /orders/7?x=1 hello");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let c = proxy.counters();
    assert_eq!((c.requests, c.forwarded, c.injected_errors), (1, 1, 0));
}

#[tokio::test]
async fn errors_are_answered_by_the_proxy_until_rolled_back() {
    let (up, hits) = upstream().await;
    let proxy = proxy_to(up).await;
    let registry = FaultRegistry::new();
    let (guard, window) = proxy.inject(
        &registry,
        HttpEffect::Errors {
            rate: 1.0,
            status: 503,
            route: None,
        },
    );
    let url = format!("http://{}/x", proxy.local_addr());
    for _ in 0..5 {
        let r = client().get(&url).send().await.expect("answers");
        assert_eq!(r.status(), 503);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "never reached the service");
    guard.rollback().await.expect("rolls back");
    let r = client().get(&url).send().await.expect("answers");
    assert_eq!(r.status(), 200);
    // The window closed at rollback: the later request is not in it.
    let t = window.traffic();
    assert_eq!((t.requests, t.injected_errors, t.forwarded), (5, 5, 0));
    assert!(window.closed());
    assert!(window.unexercised("burst").is_none());
}

#[tokio::test]
async fn a_share_of_requests_on_one_route_gets_the_status() {
    let (up, _) = upstream().await;
    let proxy = proxy_to(up).await;
    let registry = FaultRegistry::new();
    let (_guard, window) = proxy.inject(
        &registry,
        HttpEffect::Errors {
            rate: 0.5,
            status: 500,
            route: Some("/api".into()),
        },
    );
    let c = client();
    let mut errors = 0;
    for i in 0..200 {
        let path = if i % 2 == 0 {
            "/api/orders"
        } else {
            "/healthz"
        };
        let r = c
            .get(format!("http://{}{path}", proxy.local_addr()))
            .send()
            .await
            .expect("answers");
        if r.status() == 500 {
            assert_eq!(path, "/api/orders", "only the route is hit");
            errors += 1;
        }
    }
    // 100 requests on the route at rate 0.5: far outside 20..80 only by a broken sampler.
    assert!((20..=80).contains(&errors), "{errors} errors of 100");
    assert_eq!(window.traffic().injected_errors, errors);
}

#[tokio::test]
async fn latency_delays_requests_and_is_counted() {
    let (up, hits) = upstream().await;
    let proxy = proxy_to(up).await;
    let registry = FaultRegistry::new();
    let (_guard, window) = proxy.inject(
        &registry,
        HttpEffect::Latency {
            fixed: Duration::from_millis(300),
            jitter: Duration::from_millis(100),
            rate: 1.0,
        },
    );
    let started = Instant::now();
    let r = client()
        .get(format!("http://{}/slow", proxy.local_addr()))
        .send()
        .await
        .expect("answers");
    let took = started.elapsed();
    assert_eq!(r.status(), 200);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let t = window.traffic();
    assert_eq!(t.delayed, 1);
    assert!((300..=400).contains(&t.added_delay_ms), "{t:?}");
}

#[tokio::test]
async fn abort_forwards_then_drops_the_connection() {
    let (up, hits) = upstream().await;
    let proxy = proxy_to(up).await;
    let registry = FaultRegistry::new();
    let (_guard, window) = proxy.inject(&registry, HttpEffect::Abort { rate: 1.0 });
    let err = client()
        .get(format!("http://{}/pay", proxy.local_addr()))
        .send()
        .await
        .expect_err("no response");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the service did the work");
    assert_eq!(window.traffic().aborted, 1);
    // Every fault undone at once, as on Ctrl-C.
    assert!(registry.rollback_all().await.is_empty());
    let r = client()
        .get(format!("http://{}/pay", proxy.local_addr()))
        .send()
        .await
        .expect("answers after rollback");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_dropped_guard_switches_its_effect_off() {
    let (up, _) = upstream().await;
    let proxy = proxy_to(up).await;
    let registry = FaultRegistry::new();
    let (guard, _window) = proxy.inject(
        &registry,
        HttpEffect::Errors {
            rate: 1.0,
            status: 500,
            route: None,
        },
    );
    drop(guard);
    let r = client()
        .get(format!("http://{}/", proxy.local_addr()))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 200);
    assert!(registry.active().is_empty());
}

#[tokio::test]
async fn a_window_no_request_passed_through_says_so() {
    let (up, _) = upstream().await;
    let proxy = proxy_to(up).await;
    let registry = FaultRegistry::new();
    let (guard, window) = proxy.inject(
        &registry,
        HttpEffect::Errors {
            rate: 1.0,
            status: 500,
            route: None,
        },
    );
    // Traffic straight to the service does not count.
    let r = client()
        .get(format!("http://{up}/"))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 200);
    guard.rollback().await.expect("rolls back");
    let why = window.unexercised("burst").expect("unexercised");
    assert!(
        why.contains("no request passed through the fault proxy") && why.contains("burst"),
        "{why}"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway_and_non_loopback_is_refused() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let proxy = proxy_to(dead_addr).await;
    let r = client()
        .get(format!("http://{}/", proxy.local_addr()))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 502);
    assert_eq!(proxy.counters().upstream_failures, 1);

    let refused = HttpFaultProxy::start(HttpProxyConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        "10.1.2.3:80".parse().expect("addr"),
    ))
    .await;
    assert!(refused.is_err());
}
