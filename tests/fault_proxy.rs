//! The TCP fault proxy between a real client and a real echo server, measuring each effect.

use gauntlet::fault::proxy::{Delay, ProxyConfig, ProxyEffect, Stall};
use gauntlet::fault::{FaultProxy, FaultRegistry};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Echo server owned by the test.
struct Echo {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo() -> Echo {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = l.accept().await {
            conns.spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Echo { addr, task }
}

async fn proxy(upstream: SocketAddr) -> FaultProxy {
    FaultProxy::start(ProxyConfig::new(upstream))
        .await
        .expect("proxy")
}

/// Sends `msg` and reads the echo; returns the round-trip time.
async fn round_trip(s: &mut TcpStream, msg: &[u8], limit: Duration) -> std::io::Result<Duration> {
    let t = Instant::now();
    s.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(limit, s.read_exact(&mut got))
        .await
        .map_err(|_| std::io::Error::new(ErrorKind::TimedOut, "no echo in time"))??;
    assert_eq!(got, msg);
    Ok(t.elapsed())
}

const LIMIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_adds_at_least_the_delay_each_way_and_clear_restores() {
    let e = echo().await;
    let p = proxy(e.addr).await;
    let mut c = TcpStream::connect(p.local_addr()).await.expect("connect");
    let base = round_trip(&mut c, b"hello", LIMIT).await.expect("baseline");
    assert!(base < Duration::from_millis(150), "{base:?}");

    let reg = FaultRegistry::new();
    let guard = p.inject(
        &reg,
        ProxyEffect::Delay(Delay {
            fixed: Duration::from_millis(150),
            jitter: Duration::from_millis(20),
        }),
    );
    let slow = round_trip(&mut c, b"again", LIMIT).await.expect("delayed");
    // One chunk up, one chunk down: the delay applies twice.
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    assert!(slow < Duration::from_millis(1_000), "{slow:?}");

    guard.rollback().await.expect("rollback");
    assert!(p.effects().is_clear());
    let fast = round_trip(&mut c, b"fast!", LIMIT).await.expect("restored");
    assert!(fast < Duration::from_millis(150), "{fast:?}");
    let n = p.counters();
    assert_eq!(n.connections, 1);
    assert_eq!(n.active, 1);
    assert_eq!(n.bytes_upstream, 15);
    assert_eq!(n.bytes_downstream, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_holds_existing_and_new_connections_until_cleared() {
    let e = echo().await;
    let p = proxy(e.addr).await;
    let mut c = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut c, b"ping", LIMIT).await.expect("baseline");

    p.set(ProxyEffect::Blackhole);
    let err = round_trip(&mut c, b"lost", Duration::from_millis(400))
        .await
        .expect_err("held");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // New connections are accepted and held too: no EOF, no reset, just silence.
    let mut fresh = TcpStream::connect(p.local_addr()).await.expect("accepted");
    let err = round_trip(&mut fresh, b"new", Duration::from_millis(400))
        .await
        .expect_err("held");
    assert_eq!(err.kind(), ErrorKind::TimedOut);

    p.clear();
    // Held bytes are delivered once the blackhole lifts; both connections work again.
    let mut got = [0u8; 4];
    tokio::time::timeout(LIMIT, c.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&got, b"lost");
    round_trip(&mut c, b"back", LIMIT)
        .await
        .expect("flows again");
    let mut got = [0u8; 3];
    tokio::time::timeout(LIMIT, fresh.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&got, b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_sends_rst_to_existing_and_new_connections() {
    let e = echo().await;
    let p = proxy(e.addr).await;
    let mut c = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut c, b"ping", LIMIT).await.expect("baseline");

    let reg = FaultRegistry::new();
    let guard = p.inject(&reg, ProxyEffect::Reset);
    let mut buf = [0u8; 8];
    let err = tokio::time::timeout(LIMIT, c.read(&mut buf))
        .await
        .expect("reset arrives")
        .expect_err("existing connection is reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

    // The kernel completes the handshake before the proxy accepts and resets, so the RST
    // surfaces either at connect (if it wins the race) or on the first read.
    let err = match TcpStream::connect(p.local_addr()).await {
        Err(e) => e,
        Ok(mut fresh) => tokio::time::timeout(LIMIT, fresh.read(&mut buf))
            .await
            .expect("reset arrives")
            .expect_err("new connection is reset"),
    };
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert!(p.counters().resets >= 2, "{:?}", p.counters());

    drop(guard); // rollback on drop
    let mut again = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut again, b"ok", LIMIT)
        .await
        .expect("flows after rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_and_stall_slow_traffic_measurably() {
    let e = echo().await;
    let p = proxy(e.addr).await;
    let mut c = TcpStream::connect(p.local_addr()).await.expect("connect");
    round_trip(&mut c, b"warm", LIMIT).await.expect("baseline");

    // 20 kB/s each way, 8 kB echoed: at least ~0.4 s (pipelined up and down).
    p.set(ProxyEffect::Bandwidth {
        bytes_per_sec: 20_000,
    });
    let payload = vec![7u8; 8_000];
    let t = round_trip(&mut c, &payload, LIMIT)
        .await
        .expect("throttled");
    assert!(t >= Duration::from_millis(350), "{t:?}");
    p.clear();
    let t = round_trip(&mut c, &payload, LIMIT)
        .await
        .expect("unthrottled");
    assert!(t < Duration::from_millis(200), "{t:?}");

    // Every chunk stalled 200 ms: ≥ 400 ms per round trip, counted.
    p.set(ProxyEffect::Stall(Stall {
        fraction: 1.0,
        pause: Duration::from_millis(200),
    }));
    let t = round_trip(&mut c, b"stall", LIMIT).await.expect("stalled");
    assert!(t >= Duration::from_millis(400), "{t:?}");
    assert!(p.counters().stalled >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_idle_ones_closed() {
    let e = echo().await;
    let mut config = ProxyConfig::new(e.addr);
    config.max_connections = 2;
    config.idle_timeout = Duration::from_millis(300);
    let p = FaultProxy::start(config).await.expect("proxy");
    let mut a = TcpStream::connect(p.local_addr()).await.expect("a");
    let mut b = TcpStream::connect(p.local_addr()).await.expect("b");
    round_trip(&mut a, b"a", LIMIT).await.expect("a works");
    round_trip(&mut b, b"b", LIMIT).await.expect("b works");
    let mut third = TcpStream::connect(p.local_addr())
        .await
        .expect("tcp accept");
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(LIMIT, third.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(
        matches!(n, Ok(0)),
        "third connection closed at accept: {n:?}"
    );
    assert_eq!(p.counters().rejected, 1);

    // Idle for longer than the timeout: the proxy closes it (EOF).
    let n = tokio::time::timeout(LIMIT, a.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0)), "{n:?}");
    let deadline = Instant::now() + LIMIT;
    while p.counters().active > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(p.counters().active, 0);
}

#[tokio::test]
async fn refuses_non_loopback_upstreams() {
    let err = FaultProxy::start(ProxyConfig::new("192.0.2.1:80".parse().expect("addr")))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("non-loopback"), "{err}");
}
