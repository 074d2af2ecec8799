//! A TCP fault proxy gauntlet puts between two components (e.g. frontend → api-gateway).
//!
//! It listens on `127.0.0.1:0` and forwards every connection to one loopback upstream. Effects
//! switch at run time and apply to new *and* existing connections:
//!
//! - **delay**: every forwarded chunk waits `fixed` + uniform `jitter` (per chunk, per
//!   direction, so a request/response round trip pays it twice);
//! - **bandwidth**: each direction of each connection is paced to `bytes_per_sec`;
//! - **stall** (our packet loss): a TCP stream cannot lose bytes without corrupting it, so a
//!   "dropped" chunk is instead held for `pause` (what a retransmission timeout looks like to
//!   the application) with probability `fraction`; counted as `stalled`;
//! - **blackhole**: connections are accepted but nothing is forwarded; sockets stay open
//!   (until the idle timeout), so clients hang instead of failing fast;
//! - **reset**: existing connections and every new one are closed with `SO_LINGER 0`, so the
//!   peer sees a TCP RST (`ECONNRESET`).
//!
//! [`FaultProxy::clear`] removes every effect; [`FaultProxy::inject`] returns a guard that
//! removes its own effect. Bounded: at most `max_connections` at once (extra ones are closed
//! at accept and counted as rejected) and each connection closes after `idle_timeout` without
//! traffic either way. Dropping the proxy stops the listener and every connection task.

use super::guard::{FaultError, FaultGuard, FaultRegistry};
use crate::load::plan::is_loopback;
use rand::Rng;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Proxy settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Where connections go (must be loopback unless `allow_non_loopback`).
    pub upstream: SocketAddr,
    /// Connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// A connection with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
    /// Timeout of the upstream connect.
    pub connect_timeout: Duration,
    pub allow_non_loopback: bool,
    /// Where the proxy listens; port 0 lets the OS choose.
    pub listen: SocketAddr,
}

impl ProxyConfig {
    /// Defaults: 512 connections, 60 s idle timeout, 5 s connect timeout, loopback only.
    pub fn new(upstream: SocketAddr) -> Self {
        ProxyConfig {
            upstream,
            max_connections: 512,
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            allow_non_loopback: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Fixed delay plus uniform jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delay {
    pub fixed: Duration,
    pub jitter: Duration,
}

/// Packet-loss stand-in: hold a `fraction` of chunks for `pause`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stall {
    pub fraction: f64,
    pub pause: Duration,
}

/// The effects in force (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Effects {
    pub delay: Option<Delay>,
    pub bandwidth_bytes_per_sec: Option<u64>,
    pub stall: Option<Stall>,
    pub blackhole: bool,
    pub reset: bool,
}

impl Effects {
    /// True when no effect is on.
    pub fn is_clear(&self) -> bool {
        *self == Effects::default()
    }
}

/// One effect to switch on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum ProxyEffect {
    Delay(Delay),
    Bandwidth { bytes_per_sec: u64 },
    Stall(Stall),
    Blackhole,
    Reset,
}

impl ProxyEffect {
    fn apply(self, e: &mut Effects) {
        match self {
            ProxyEffect::Delay(d) => e.delay = Some(d),
            ProxyEffect::Bandwidth { bytes_per_sec } => {
                e.bandwidth_bytes_per_sec = Some(bytes_per_sec.max(1));
            }
            ProxyEffect::Stall(s) => {
                e.stall = Some(Stall {
                    fraction: if s.fraction.is_nan() {
                        0.0
                    } else {
                        s.fraction.clamp(0.0, 1.0)
                    },
                    pause: s.pause,
                });
            }
            ProxyEffect::Blackhole => e.blackhole = true,
            ProxyEffect::Reset => e.reset = true,
        }
    }

    fn remove(self, e: &mut Effects) {
        match self {
            ProxyEffect::Delay(_) => e.delay = None,
            ProxyEffect::Bandwidth { .. } => e.bandwidth_bytes_per_sec = None,
            ProxyEffect::Stall(_) => e.stall = None,
            ProxyEffect::Blackhole => e.blackhole = false,
            ProxyEffect::Reset => e.reset = false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ProxyEffect::Delay(_) => "delay",
            ProxyEffect::Bandwidth { .. } => "bandwidth",
            ProxyEffect::Stall(_) => "stall",
            ProxyEffect::Blackhole => "blackhole",
            ProxyEffect::Reset => "reset",
        }
    }
}

/// A snapshot of the proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProxyCounters {
    /// Connections accepted (including rejected and reset ones).
    pub connections: u64,
    /// Connections open now.
    pub active: u64,
    /// Closed at accept because `max_connections` were open.
    pub rejected: u64,
    /// Bytes client → upstream.
    pub bytes_upstream: u64,
    /// Bytes upstream → client.
    pub bytes_downstream: u64,
    /// Connections closed with RST by the reset effect.
    pub resets: u64,
    /// Chunks held by the stall effect.
    pub stalled: u64,
    /// Upstream connects that failed.
    pub upstream_failures: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    active: AtomicU64,
    rejected: AtomicU64,
    bytes_upstream: AtomicU64,
    bytes_downstream: AtomicU64,
    resets: AtomicU64,
    stalled: AtomicU64,
    upstream_failures: AtomicU64,
}

struct State {
    config: ProxyConfig,
    effects: watch::Sender<Effects>,
    counters: Counters,
}

/// The running proxy. Dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.state.config.upstream)
            .field("effects", &*self.state.effects.borrow())
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks' JoinSet; aborting it drops them all.
        self.accept.abort();
    }
}

impl FaultProxy {
    /// Binds `127.0.0.1:0` and starts forwarding to `config.upstream`.
    pub async fn start(config: ProxyConfig) -> Result<FaultProxy, FaultError> {
        if !config.allow_non_loopback && !is_loopback(config.upstream.ip()) {
            return Err(FaultError::NonLoopback {
                addr: config.upstream,
            });
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| FaultError::Proxy {
                    what: format!("cannot bind {}", config.listen),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| FaultError::Proxy {
            what: "has no local address".to_owned(),
            source,
        })?;
        let state = Arc::new(State {
            config,
            effects: watch::Sender::new(Effects::default()),
            counters: Counters::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        tracing::debug!(%addr, upstream = %state.config.upstream, "fault proxy listening");
        Ok(FaultProxy {
            addr,
            state,
            accept,
        })
    }

    /// Where clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.state.config.upstream
    }

    /// Switches an effect on (no owner; prefer [`Self::inject`]).
    pub fn set(&self, effect: ProxyEffect) {
        self.state.effects.send_modify(|e| effect.apply(e));
    }

    /// Switches an effect off.
    pub fn unset(&self, effect: ProxyEffect) {
        self.state.effects.send_modify(|e| effect.remove(e));
    }

    /// Removes every effect: traffic flows normally again.
    pub fn clear(&self) {
        self.state.effects.send_replace(Effects::default());
    }

    /// The effects in force.
    pub fn effects(&self) -> Effects {
        self.state.effects.borrow().clone()
    }

    /// Switches `effect` on and returns its owner, which switches it off again.
    pub fn inject(&self, registry: &FaultRegistry, effect: ProxyEffect) -> FaultGuard {
        self.set(effect);
        let state = Arc::clone(&self.state);
        registry.register(
            format!(
                "{} on proxy {} → {}",
                effect.name(),
                self.addr,
                self.upstream()
            ),
            move || {
                Box::pin(async move {
                    state.effects.send_modify(|e| effect.remove(e));
                    Ok(())
                })
            },
        )
    }

    /// Current counters.
    pub fn counters(&self) -> ProxyCounters {
        let c = &self.state.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyCounters {
            connections: get(&c.connections),
            active: get(&c.active),
            rejected: get(&c.rejected),
            bytes_upstream: get(&c.bytes_upstream),
            bytes_downstream: get(&c.bytes_downstream),
            resets: get(&c.resets),
            stalled: get(&c.stalled),
            upstream_failures: get(&c.upstream_failures),
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let slots = Arc::new(Semaphore::new(state.config.max_connections));
    let mut conns = JoinSet::new();
    loop {
        let (client, _peer) = match listener.accept().await {
            Ok(c) => c,
            Err(error) => {
                // E.g. EMFILE: back off instead of spinning.
                tracing::warn!(%error, "fault proxy accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        state.counters.connections.fetch_add(1, Ordering::Relaxed);
        if state.effects.borrow().reset {
            reset_stream(&client);
            state.counters.resets.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            state.counters.rejected.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let state = Arc::clone(&state);
        conns.spawn(async move {
            state.counters.active.fetch_add(1, Ordering::Relaxed);
            handle(&state, client).await;
            state.counters.active.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
}

fn reset_stream(s: &TcpStream) {
    if let Err(error) = s.set_zero_linger() {
        tracing::debug!(%error, "cannot set SO_LINGER 0");
    }
}

/// Per-connection control shared by its two pumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctl {
    Run,
    Close,
    Reset,
}

async fn handle(state: &State, client: TcpStream) {
    let idle = state.config.idle_timeout;
    let mut effects = state.effects.subscribe();
    // Blackhole for new connections: accept and hold, connect upstream only once it lifts.
    loop {
        let e = effects.borrow_and_update().clone();
        if e.reset {
            reset_stream(&client);
            state.counters.resets.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !e.blackhole {
            break;
        }
        match tokio::time::timeout(idle, effects.changed()).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let upstream = match tokio::time::timeout(
        state.config.connect_timeout,
        TcpStream::connect(state.config.upstream),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(error)) => {
            tracing::debug!(%error, upstream = %state.config.upstream, "fault proxy upstream connect failed");
            state
                .counters
                .upstream_failures
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            state
                .counters
                .upstream_failures
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let ctl = Arc::new(watch::Sender::new(Ctl::Run));
    let activity = Arc::new(Activity::new());
    let up = Pump {
        state,
        upstream: true,
        effects: state.effects.subscribe(),
        ctl: Arc::clone(&ctl),
        ctl_rx: ctl.subscribe(),
        activity: Arc::clone(&activity),
    };
    let down = Pump {
        state,
        upstream: false,
        effects: state.effects.subscribe(),
        ctl: Arc::clone(&ctl),
        ctl_rx: ctl.subscribe(),
        activity,
    };
    tokio::join!(up.run(cr, uw), down.run(ur, cw));
}

/// Last traffic on a connection, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// What interrupted a wait.
enum Wake {
    Changed,
    Timeout,
}

/// One direction of a connection.
struct Pump<'a> {
    state: &'a State,
    upstream: bool,
    effects: watch::Receiver<Effects>,
    ctl: Arc<watch::Sender<Ctl>>,
    ctl_rx: watch::Receiver<Ctl>,
    activity: Arc<Activity>,
}

impl Pump<'_> {
    async fn run(mut self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
        let idle = self.state.config.idle_timeout;
        let mut buf = vec![0u8; 16 * 1024];
        let mut paced_until = Instant::now();
        loop {
            let e = self.effects.borrow_and_update().clone();
            let ctl = *self.ctl_rx.borrow_and_update();
            if e.reset || ctl == Ctl::Reset {
                return self.reset(&from, to, e.reset);
            }
            if ctl == Ctl::Close {
                return;
            }
            if e.blackhole {
                // Hold: read nothing, forward nothing, keep the sockets open.
                match self.wait(Some(idle)).await {
                    Wake::Timeout if self.activity.idle_for() >= idle => return self.close(),
                    _ => continue,
                }
            }
            let cap = e.bandwidth_bytes_per_sec.map_or(buf.len(), |bps| {
                usize::try_from(bps / 10)
                    .unwrap_or(usize::MAX)
                    .clamp(1, buf.len())
            });
            let n = tokio::select! {
                r = tokio::time::timeout(idle, from.read(&mut buf[..cap])) => match r {
                    Err(_) if self.activity.idle_for() >= idle => return self.close(),
                    Err(_) => continue,
                    Ok(Ok(0)) => {
                        // Half-close: pass the FIN on and let the other direction finish.
                        let _ = to.shutdown().await;
                        return;
                    }
                    Ok(Ok(n)) => n,
                    // The peer reset (or the socket broke): reset the other side too.
                    Ok(Err(_)) => return self.reset(&from, to, false),
                },
                _ = self.effects.changed() => continue,
                _ = self.ctl_rx.changed() => continue,
            };
            self.activity.touch();

            let e = self.effects.borrow().clone();
            let mut wait = Duration::ZERO;
            {
                let mut rng = rand::rng();
                if let Some(d) = e.delay {
                    wait += d.fixed;
                    if !d.jitter.is_zero() {
                        wait += d.jitter.mul_f64(rng.random::<f64>());
                    }
                }
                if let Some(s) = e.stall
                    && rng.random::<f64>() < s.fraction
                {
                    wait += s.pause;
                    self.state.counters.stalled.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(bps) = e.bandwidth_bytes_per_sec {
                let now = Instant::now();
                paced_until = paced_until.max(now) + Duration::from_secs_f64(n as f64 / bps as f64);
                wait = wait.max(paced_until - now);
            }
            // Hold the chunk: for the delay, and for as long as a blackhole lasts.
            let until = Instant::now() + wait;
            loop {
                let ctl = *self.ctl_rx.borrow_and_update();
                let e = self.effects.borrow_and_update().clone();
                if e.reset || ctl == Ctl::Reset {
                    return self.reset(&from, to, e.reset);
                }
                if ctl == Ctl::Close {
                    return;
                }
                let now = Instant::now();
                if !e.blackhole && now >= until {
                    break;
                }
                let limit = if e.blackhole { idle } else { until - now };
                if let Wake::Timeout = self.wait(Some(limit)).await
                    && e.blackhole
                    && self.activity.idle_for() >= idle
                {
                    return self.close();
                }
            }
            // `write` is cancel-safe (nothing is written if it is cancelled), so a reset can
            // interrupt a write blocked on a peer that does not read.
            let mut off = 0;
            while off < n {
                tokio::select! {
                    w = to.write(&buf[off..n]) => match w {
                        Ok(0) | Err(_) => return self.reset(&from, to, false),
                        Ok(k) => off += k,
                    },
                    _ = self.ctl_rx.changed() => {
                        if *self.ctl_rx.borrow() != Ctl::Run { break; }
                    }
                    _ = self.effects.changed() => {
                        if self.effects.borrow().reset { break; }
                    }
                }
            }
            if off < n {
                continue; // the loop top handles reset / close
            }
            let counter = if self.upstream {
                &self.state.counters.bytes_upstream
            } else {
                &self.state.counters.bytes_downstream
            };
            counter.fetch_add(n as u64, Ordering::Relaxed);
            self.activity.touch();
        }
    }

    async fn wait(&mut self, limit: Option<Duration>) -> Wake {
        let sleep = async {
            match limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // A closed channel cannot happen while the pump holds its `Arc`s; the loop
            // re-reads both values either way.
            _ = self.effects.changed() => Wake::Changed,
            _ = self.ctl_rx.changed() => Wake::Changed,
            _ = sleep => Wake::Timeout,
        }
    }

    /// Idle: close both directions normally.
    fn close(&self) {
        self.ctl.send_replace(Ctl::Close);
    }

    /// Closes both sockets with RST: SO_LINGER 0 on both, and the write half is forgotten so
    /// no FIN goes out before the RST. `count` marks a reset caused by the reset effect.
    fn reset(&self, from: &OwnedReadHalf, to: OwnedWriteHalf, count: bool) {
        let _ = from.as_ref().set_zero_linger();
        let _ = to.as_ref().set_zero_linger();
        to.forget();
        let previous = self.ctl.send_replace(Ctl::Reset);
        if count && previous != Ctl::Reset {
            self.state.counters.resets.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_apply_and_remove_independently() {
        let mut e = Effects::default();
        let d = ProxyEffect::Delay(Delay {
            fixed: Duration::from_millis(5),
            jitter: Duration::ZERO,
        });
        d.apply(&mut e);
        ProxyEffect::Blackhole.apply(&mut e);
        ProxyEffect::Stall(Stall {
            fraction: 7.0,
            pause: Duration::from_millis(1),
        })
        .apply(&mut e);
        assert_eq!(e.stall.map(|s| s.fraction), Some(1.0));
        d.remove(&mut e);
        assert!(e.delay.is_none() && e.blackhole);
        ProxyEffect::Blackhole.remove(&mut e);
        ProxyEffect::Stall(Stall {
            fraction: 0.0,
            pause: Duration::ZERO,
        })
        .remove(&mut e);
        assert!(e.is_clear());
    }
}
