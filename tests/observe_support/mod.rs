//! Test support shared by `tests/observe_*.rs`: a fixture HTTP server on `127.0.0.1:0` that
//! answers recorded backend responses and records the requests it saw, and a guard for real
//! backend processes that kills them on drop.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Reads `fixtures/backends/<rel>`.
pub fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/backends")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// One canned answer.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Route {
    pub fn get(path: &str, body: String) -> Self {
        Route {
            method: Method::GET,
            path: path.to_string(),
            status: StatusCode::OK,
            content_type: "application/json",
            body,
        }
    }

    pub fn post(path: &str, body: String) -> Self {
        Route {
            method: Method::POST,
            ..Route::get(path, body)
        }
    }

    pub fn delete(path: &str) -> Self {
        Route {
            method: Method::DELETE,
            ..Route::get(path, String::new())
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).expect("valid status");
        self
    }

    pub fn text(mut self) -> Self {
        self.content_type = "text/plain; charset=utf-8";
        self
    }
}

/// A request the fixture server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[derive(Default)]
struct Shared {
    routes: Vec<Route>,
    seen: Mutex<Vec<Seen>>,
}

/// Serves `routes`; unknown paths answer 404. Stops on drop.
pub struct FixtureServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FixtureServer {
    pub async fn start(routes: Vec<Route>) -> Self {
        let shared = Arc::new(Shared {
            routes,
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fixture server");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fixture server");
        });
        FixtureServer { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// The last request to `path`.
    pub fn last(&self, path: &str) -> Seen {
        self.seen()
            .into_iter()
            .rev()
            .find(|s| s.path == path)
            .unwrap_or_else(|| panic!("no request to {path}; saw {:?}", self.seen()))
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let query = parts.uri.query().map(url_pairs).unwrap_or_default();
    let path = parts.uri.path().to_string();
    shared.seen.lock().expect("lock").push(Seen {
        method: parts.method.clone(),
        path: path.clone(),
        query,
        headers: parts.headers.clone(),
        body,
    });
    match shared
        .routes
        .iter()
        .find(|r| r.method == parts.method && r.path == path)
    {
        Some(route) => (
            route.status,
            [(header::CONTENT_TYPE, route.content_type)],
            route.body.clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no fixture for {} {path}", parts.method),
        )
            .into_response(),
    }
}

/// Decodes `a=1&b=x%20y` (form encoding, `+` is a space).
pub fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .expect("query parses")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first of `names` found on `PATH`, in gauntlet's provisioned bin directory
/// (`$GAUNTLET_HOME/bin`, default `~/.cache/gauntlet/bin`), or at one of `fallbacks`; else why
/// it is unavailable.
pub fn binary(names: &[&str], fallbacks: &[&str]) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let home = std::env::var_os("GAUNTLET_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gauntlet")));
    dirs.extend(home.map(|h| h.join("bin")));
    let candidates = names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .chain(fallbacks.iter().map(PathBuf::from));
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "none of {names:?} on PATH or in the gauntlet bin dir, nor at {fallbacks:?}"
    ))
}

/// A real backend process; killed (and reaped) on drop.
pub struct RealProcess {
    child: Child,
    pub name: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl RealProcess {
    /// Starts `bin args` and waits (at most `timeout`) for a stderr/stdout line containing
    /// `marker` followed by `address=HOST:PORT` or `http://HOST:PORT/`; returns the process
    /// and that address.
    pub fn start(
        name: &str,
        bin: &Path,
        args: &[String],
        marker: &str,
        timeout: Duration,
    ) -> (Self, Option<SocketAddr>) {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().expect("lock");
                    if l.len() > 200 {
                        l.pop_front();
                    }
                    l.push_back(line.clone());
                    drop(l);
                    let _ = tx.send(line);
                }
            });
        }
        let process = RealProcess {
            child,
            name: name.to_string(),
            log,
        };
        let deadline = Instant::now() + timeout;
        let mut addr = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(marker) => {
                    addr = parse_address(&line);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        (process, addr)
    }

    /// [`start`](Self::start) for a backend that logs `Listening on … address=HOST:PORT`
    /// (Prometheus, Alertmanager) within 20 s; panics with the log tail when it does not.
    pub fn start_listening(name: &str, bin: &Path, args: &[String]) -> (Self, SocketAddr) {
        let (process, addr) = Self::start(name, bin, args, "Listening on", Duration::from_secs(20));
        let addr = addr.unwrap_or_else(|| {
            panic!("{name} did not report its address:\n{}", process.log_tail())
        });
        (process, addr)
    }

    /// Polls `ready` (at most 20 s) until it succeeds; panics with the log tail when it
    /// does not.
    pub async fn wait_ready<E, F, Fut>(&self, ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let mut ready = ready;
        let answered = eventually(Duration::from_secs(20), || {
            let probe = ready();
            async move { probe.await.ok() }
        })
        .await;
        assert!(
            answered.is_some(),
            "{} never ready:\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// The last log lines, for failure messages.
    pub fn log_tail(&self) -> String {
        self.log
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for RealProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `… address=HOST:PORT …` (Prometheus, Alertmanager) or `… http://HOST:PORT/ …`
/// (VictoriaLogs: `started server at http://127.0.0.1:PORT/`).
fn parse_address(line: &str) -> Option<SocketAddr> {
    let (start, stop): (usize, fn(char) -> bool) = match line.find("address=") {
        Some(at) => (at + "address=".len(), char::is_whitespace),
        None => (line.find("http://")? + "http://".len(), |c| {
            c == '/' || c.is_whitespace()
        }),
    };
    let rest = &line[start..];
    let end = rest.find(stop).unwrap_or(rest.len());
    rest[..end].trim_matches('"').parse().ok()
}

/// A port that was free a moment ago (for backends that cannot report an OS-chosen port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `probe` every 200 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn http() -> reqwest::Client {
    gauntlet::observe::http::default_client().expect("client")
}
