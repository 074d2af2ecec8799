//! Test support shared by `tests/cluster_*.rs`: a mock Kubernetes API server built on
//! `tower_test::mock::pair`, wired into a real `kube::Client` (no cluster, no network). It
//! records every request (method, path with query, content type, JSON body) and answers
//! through a test-provided responder; plus builders for the objects the API would return.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::pin::pin;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// One request the mock API saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    /// Path and query, exactly as sent.
    pub path: String,
    pub content_type: Option<String>,
    /// The body parsed as JSON (`None` when empty).
    pub body: Option<Value>,
}

impl Seen {
    /// Expected request without a body.
    pub fn new(method: &str, path: &str) -> Self {
        Seen {
            method: method.into(),
            path: path.into(),
            content_type: None,
            body: None,
        }
    }

    /// Expected request with a body.
    pub fn with(method: &str, path: &str, content_type: &str, body: Value) -> Self {
        Seen {
            method: method.into(),
            path: path.into(),
            content_type: Some(content_type.into()),
            body: Some(body),
        }
    }

    pub fn is_mutating(&self) -> bool {
        self.method != "GET"
    }
}

/// What the responder answers: a status and a JSON body (a JSON string is sent as raw text,
/// for pod logs).
pub type Reply = (u16, Value);

/// A mock API server and a client talking to it.
pub struct FakeApi {
    pub client: kube::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// Starts the mock; `respond` answers each request in order.
    pub fn start<F>(mut respond: F) -> Self
    where
        F: FnMut(&Seen) -> Reply + Send + 'static,
    {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut handle = pin!(handle);
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.expect("request body");
                let s = Seen {
                    method: parts.method.to_string(),
                    path: parts
                        .uri
                        .path_and_query()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    content_type: parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .map(|v| v.to_str().expect("ascii header").to_owned()),
                    body: (!bytes.is_empty())
                        .then(|| serde_json::from_slice(&bytes).expect("request bodies are JSON")),
                };
                let (status, reply) = respond(&s);
                log.lock().expect("lock").push(s);
                let text = match reply {
                    Value::String(raw) => raw,
                    other => other.to_string(),
                };
                send.send_response(
                    Response::builder()
                        .status(status)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(text.into_bytes()))
                        .expect("response"),
                );
            }
        });
        FakeApi {
            client: kube::Client::new(service, "default"),
            seen,
            task,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Requests other than GET.
    pub fn mutating(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(Seen::is_mutating).collect()
    }
}

pub const OPT_IN: (&str, &str) = ("gauntlet.io/chaos", "enabled");

fn labels(opted_in: bool, extra: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    if opted_in {
        m.insert(OPT_IN.0.into(), json!(OPT_IN.1));
    }
    Value::Object(m)
}

/// A Namespace, with or without the opt-in label.
pub fn namespace(name: &str, opted_in: bool) -> Reply {
    (
        200,
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": labels(opted_in, &[("kubernetes.io/metadata.name", name)])}}),
    )
}

/// A PodList of `(name, opted_in)` pods with label `app=<app>`.
pub fn pod_list(app: &str, pods: &[(&str, bool)]) -> Reply {
    let items: Vec<Value> = pods
        .iter()
        .map(|(name, opted)| {
            json!({"metadata": {"name": name, "labels": labels(*opted, &[("app", app)])},
                   "status": {"phase": "Running"}})
        })
        .collect();
    (
        200,
        json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}),
    )
}

/// A Deployment or StatefulSet with `replicas`.
pub fn workload(kind: &str, name: &str, opted_in: bool, replicas: i32) -> Reply {
    (
        200,
        json!({"apiVersion": "apps/v1", "kind": kind,
               "metadata": {"name": name, "labels": labels(opted_in, &[("app", name)])},
               "spec": {"replicas": replicas}}),
    )
}

/// A `metav1.Status` failure.
pub fn status(code: u16, reason: &str) -> Reply {
    (
        code,
        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
               "message": format!("{reason} (mock)"), "reason": reason, "code": code}),
    )
}

/// Echoes the request body back (what create and patch answer, near enough).
pub fn echo(seen: &Seen) -> Reply {
    (200, seen.body.clone().unwrap_or_else(|| json!({})))
}
