//! Kubernetes API requests as data: every call gauntlet makes is first built as an
//! [`ApiCall`] (method, path with query, content type, JSON body), so a dry run can show
//! exactly what a live run sends, and tests can assert the exact request.
//!
//! The live path turns an `ApiCall` into an `http::Request` and sends it through
//! [`kube::Client::request`] (which maps non-2xx answers to `metav1.Status` errors). Upstream
//! API reference: <https://kubernetes.io/docs/reference/kubernetes-api/>.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// `Content-Type` of a JSON merge patch (RFC 7386).
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// `Content-Type` of a JSON body.
pub const JSON: &str = "application/json";

/// The HTTP methods gauntlet uses against the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    /// Upper-case name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether the call changes cluster state (anything but `GET`).
    pub fn is_mutating(self) -> bool {
        self != Method::Get
    }

    fn to_http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
        }
    }
}

/// One Kubernetes API request, as sent (live) or as planned (dry run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiCall {
    pub method: Method,
    /// Path and query exactly as sent, e.g.
    /// `/api/v1/namespaces/shop/pods?labelSelector=app%3Dorders`.
    pub path: String,
    /// `Content-Type` of the body, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl fmt::Display for ApiCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        Ok(())
    }
}

impl ApiCall {
    fn new(method: Method, path: String) -> Self {
        ApiCall {
            method,
            path,
            content_type: None,
            body: None,
        }
    }

    fn with_body(mut self, content_type: &'static str, body: serde_json::Value) -> Self {
        self.content_type = Some(content_type);
        self.body = Some(body);
        self
    }

    /// `GET /api/v1/namespaces/{ns}`.
    pub fn get_namespace(ns: &Name) -> Self {
        Self::new(Method::Get, format!("/api/v1/namespaces/{ns}"))
    }

    /// `GET /api/v1/namespaces/{ns}/pods?labelSelector=…`.
    pub fn list_pods(ns: &Name, selector: &str) -> Self {
        Self::new(
            Method::Get,
            format!(
                "/api/v1/namespaces/{ns}/pods?labelSelector={}",
                encode_query_value(selector)
            ),
        )
    }

    /// `DELETE /api/v1/namespaces/{ns}/pods?labelSelector=…` (delete collection).
    pub fn delete_pods(ns: &Name, selector: &str) -> Self {
        Self::new(
            Method::Delete,
            format!(
                "/api/v1/namespaces/{ns}/pods?labelSelector={}",
                encode_query_value(selector)
            ),
        )
    }

    /// `GET /api/v1/namespaces/{ns}/pods/{pod}/log?container=…&tailLines=…&limitBytes=…`:
    /// the last lines of one container's log, bounded in bytes.
    pub fn pod_log(
        ns: &Name,
        pod: &Name,
        container: &str,
        tail_lines: u32,
        limit_bytes: u64,
    ) -> Self {
        Self::new(
            Method::Get,
            format!(
                "/api/v1/namespaces/{ns}/pods/{pod}/log?container={}&tailLines={tail_lines}&limitBytes={limit_bytes}",
                encode_query_value(container)
            ),
        )
    }

    /// `GET /api/v1/namespaces/{ns}/services`.
    pub fn list_services(ns: &Name) -> Self {
        Self::new(Method::Get, format!("/api/v1/namespaces/{ns}/services"))
    }

    /// `GET /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}`.
    pub fn get_workload(ns: &Name, w: &Workload) -> Self {
        Self::new(Method::Get, workload_path(ns, w))
    }

    /// Merge-patch of the `/scale` subresource: `{"spec":{"replicas":N}}`.
    pub fn patch_scale(ns: &Name, w: &Workload, replicas: serde_json::Value) -> Self {
        Self::new(Method::Patch, format!("{}/scale", workload_path(ns, w))).with_body(
            MERGE_PATCH,
            serde_json::json!({ "spec": { "replicas": replicas } }),
        )
    }

    /// Merge-patch of the pod template's `kubectl.kubernetes.io/restartedAt` annotation, the
    /// same change `kubectl rollout restart` makes.
    pub fn patch_restarted_at(ns: &Name, w: &Workload, stamp: &str) -> Self {
        Self::new(Method::Patch, workload_path(ns, w)).with_body(
            MERGE_PATCH,
            serde_json::json!({
                "spec": { "template": { "metadata": { "annotations": {
                    RESTARTED_AT: stamp
                } } } }
            }),
        )
    }

    /// `POST /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies`.
    pub fn create_network_policy(ns: &Name, policy: serde_json::Value) -> Self {
        Self::new(
            Method::Post,
            format!("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"),
        )
        .with_body(JSON, policy)
    }

    /// `DELETE /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}`.
    pub fn delete_network_policy(ns: &Name, name: &Name) -> Self {
        Self::new(
            Method::Delete,
            format!("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}"),
        )
    }

    /// `POST /apis/batch/v1/namespaces/{ns}/jobs`.
    pub fn create_job(ns: &Name, job: serde_json::Value) -> Self {
        Self::new(Method::Post, format!("/apis/batch/v1/namespaces/{ns}/jobs")).with_body(JSON, job)
    }

    /// `GET /apis/batch/v1/namespaces/{ns}/jobs/{name}`.
    pub fn get_job(ns: &Name, name: &Name) -> Self {
        Self::new(
            Method::Get,
            format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}"),
        )
    }

    /// `DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}` with background propagation, so
    /// the Job's pods are garbage-collected too.
    pub fn delete_job(ns: &Name, name: &Name) -> Self {
        Self::new(
            Method::Delete,
            format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}"),
        )
        .with_body(
            JSON,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "propagationPolicy": "Background"
            }),
        )
    }

    /// The `http::Request` the live path sends.
    pub fn to_request(&self) -> Result<http::Request<Vec<u8>>, ApiError> {
        let body = match &self.body {
            Some(b) => serde_json::to_vec(b).map_err(|source| ApiError::Encode {
                call: self.summary(),
                source,
            })?,
            None => Vec::new(),
        };
        let mut builder = http::Request::builder()
            .method(self.method.to_http())
            .uri(&self.path);
        if let Some(ct) = self.content_type {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        builder.body(body).map_err(|source| ApiError::Build {
            call: self.summary(),
            source,
        })
    }

    /// `METHOD path`, for errors and logs (never the body).
    pub fn summary(&self) -> String {
        format!("{} {}", self.method.as_str(), self.path)
    }

    /// Sends the call and decodes the JSON answer.
    pub async fn send<T: DeserializeOwned>(&self, client: &kube::Client) -> Result<T, ApiError> {
        let request = self.to_request()?;
        tracing::debug!(call = %self.summary(), "kubernetes api call");
        client
            .request::<T>(request)
            .await
            .map_err(|source| ApiError::Request {
                call: self.summary(),
                source: Box::new(source),
            })
    }

    /// Sends the call and returns the answer as text (pod logs).
    pub async fn send_text(&self, client: &kube::Client) -> Result<String, ApiError> {
        let request = self.to_request()?;
        tracing::debug!(call = %self.summary(), "kubernetes api call");
        client
            .request_text(request)
            .await
            .map_err(|source| ApiError::Request {
                call: self.summary(),
                source: Box::new(source),
            })
    }
}

/// The pod-template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

fn workload_path(ns: &Name, w: &Workload) -> String {
    format!(
        "/apis/apps/v1/namespaces/{ns}/{}/{}",
        w.kind.resource(),
        w.name
    )
}

/// Why a Kubernetes API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("kubernetes api call {call} failed")]
    Request {
        call: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("cannot encode the body of {call}")]
    Encode {
        call: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot build the request {call}")]
    Build {
        call: String,
        #[source]
        source: http::Error,
    },
    #[error("cannot build a kubernetes client{}", context.as_deref().map(|c| format!(" for context {c}")).unwrap_or_default())]
    Client {
        context: Option<String>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApiError {
    /// The HTTP status the API server answered with (`metav1.Status.code`), if it answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ApiError::Request { source, .. } => match source.as_ref() {
                kube::Error::Api(status) => Some(status.code),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A Kubernetes client for the given kubeconfig context (or the current one / in-cluster
/// config when `None`).
pub async fn connect(context: Option<&str>) -> Result<kube::Client, ApiError> {
    let client_error = |source: Box<dyn std::error::Error + Send + Sync>| ApiError::Client {
        context: context.map(str::to_owned),
        source,
    };
    let config = match context {
        Some(ctx) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(ctx.to_owned()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| client_error(Box::new(e)))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| client_error(Box::new(e)))?,
    };
    kube::Client::try_from(config).map_err(|e| client_error(Box::new(e)))
}

/// A validated Kubernetes object name or namespace (RFC 1123 subdomain), safe to put in a
/// URL path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// A name that is not a valid Kubernetes object name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {name:?} is not a valid kubernetes name (lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit)"
)]
pub struct InvalidName {
    pub what: &'static str,
    pub name: String,
}

impl Name {
    /// Checks `name` (`what` names it in the error: "namespace", "deployment", …).
    pub fn parse(what: &'static str, name: &str) -> Result<Self, InvalidName> {
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        let ends_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.chars().all(ok_char)
            && ends_ok(name.chars().next())
            && ends_ok(name.chars().last())
            && !name.contains("..");
        if valid {
            Ok(Name(name.to_owned()))
        } else {
            Err(InvalidName {
                what,
                name: name.to_owned(),
            })
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which workload controller a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl WorkloadKind {
    /// The API resource (plural) name.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
        }
    }

    /// The name used in scenario files (`deployment/NAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
        }
    }
}

/// A `deployment/NAME` or `statefulset/NAME` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: Name,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

/// A workload reference that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWorkload {
    #[error("{0:?} is not a workload reference (use deployment/NAME or statefulset/NAME)")]
    Shape(String),
    #[error(transparent)]
    Name(#[from] InvalidName),
}

impl Workload {
    /// Parses `deployment/NAME` or `statefulset/NAME`.
    pub fn parse(reference: &str) -> Result<Self, InvalidWorkload> {
        let (kind, name) = reference
            .split_once('/')
            .ok_or_else(|| InvalidWorkload::Shape(reference.to_owned()))?;
        let kind = match kind {
            "deployment" => WorkloadKind::Deployment,
            "statefulset" => WorkloadKind::StatefulSet,
            _ => return Err(InvalidWorkload::Shape(reference.to_owned())),
        };
        let name = Name::parse(kind.as_str(), name)?;
        Ok(Workload { kind, name })
    }
}

/// An equality-based label selector (`k=v,k2=v2`), the only form gauntlet accepts: it maps
/// one-to-one onto a NetworkPolicy `podSelector.matchLabels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Selector(BTreeMap<String, String>);

/// A selector gauntlet cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label selector {selector:?} is not usable: {reason}")]
pub struct InvalidSelector {
    pub selector: String,
    pub reason: &'static str,
}

impl Selector {
    /// Parses `k=v[,k=v…]` (`==` is accepted as `=`); set-based and negative terms are
    /// refused, so what is selected is always spelled out.
    pub fn parse(text: &str) -> Result<Self, InvalidSelector> {
        let err = |reason| InvalidSelector {
            selector: text.to_owned(),
            reason,
        };
        let mut labels = BTreeMap::new();
        for term in text.split(',') {
            let term = term.trim();
            if term.contains("!=") {
                return Err(err("negative terms (!=) are not supported"));
            }
            let (k, v) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .ok_or_else(|| err("every term must be key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let key_ok = !k.is_empty()
                && k.len() <= 317
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
            let value_ok = v.len() <= 63
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !key_ok {
                return Err(err(
                    "a label key may hold only letters, digits, '-', '_', '.' and '/'",
                ));
            }
            if !value_ok {
                return Err(err(
                    "a label value may hold only letters, digits, '-', '_' and '.' (at most 63)",
                ));
            }
            if labels.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(err("a key appears twice"));
            }
        }
        Ok(Selector(labels))
    }

    /// The labels to match.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// This selector plus one more `key=value` term.
    pub fn and(&self, key: &str, value: &str) -> Selector {
        let mut labels = self.0.clone();
        labels.insert(key.to_owned(), value.to_owned());
        Selector(labels)
    }

    /// From a Service's `spec.selector`.
    pub fn from_labels(labels: BTreeMap<String, String>) -> Selector {
        Selector(labels)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` encoding of a query value, byte for byte what
/// `url`/`form_urlencoded` (and so kube-rs) produce: `app=orders` → `app%3Dorders`.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Name {
        Name::parse("namespace", "shop").expect("valid")
    }

    #[test]
    fn query_values_are_form_encoded() {
        assert_eq!(encode_query_value("app=orders"), "app%3Dorders");
        assert_eq!(
            encode_query_value("app=orders,gauntlet.io/chaos=enabled"),
            "app%3Dorders%2Cgauntlet.io%2Fchaos%3Denabled"
        );
        assert_eq!(encode_query_value("a b~"), "a+b%7E");
    }

    #[test]
    fn names_refuse_path_tricks() {
        for bad in ["", "Shop", "a/b", "..", "-a", "a-", "a..b", "a?x=1", "ä"] {
            let err = Name::parse("namespace", bad).expect_err(bad);
            assert_eq!(err.name, bad);
        }
        for good in ["shop", "a", "a-b.c", "x1"] {
            assert_eq!(Name::parse("pod", good).expect(good).as_str(), good);
        }
        assert_eq!(
            Name::parse("namespace", "Shop")
                .expect_err("upper")
                .to_string(),
            "namespace \"Shop\" is not a valid kubernetes name (lowercase letters, digits, '-' \
             and '.', at most 253 characters, starting and ending with a letter or digit)"
        );
    }

    #[test]
    fn workloads_and_selectors_parse_strictly() {
        let w = Workload::parse("statefulset/db").expect("valid");
        assert_eq!(w.kind, WorkloadKind::StatefulSet);
        assert_eq!(w.to_string(), "statefulset/db");
        assert!(matches!(
            Workload::parse("daemonset/x"),
            Err(InvalidWorkload::Shape(_))
        ));
        assert!(matches!(
            Workload::parse("deployment/X"),
            Err(InvalidWorkload::Name(_))
        ));

        let s = Selector::parse("tier = web, app==orders").expect("valid");
        assert_eq!(s.to_string(), "app=orders,tier=web");
        assert_eq!(
            s.and("gauntlet.io/chaos", "enabled").to_string(),
            "app=orders,gauntlet.io/chaos=enabled,tier=web"
        );
        for (bad, reason) in [
            ("app!=x", "negative terms (!=) are not supported"),
            ("app in (a,b)", "every term must be key=value"),
            ("app", "every term must be key=value"),
            ("a=1,a=2", "a key appears twice"),
            (
                "a=x y",
                "a label value may hold only letters, digits, '-', '_' and '.' (at most 63)",
            ),
        ] {
            assert_eq!(Selector::parse(bad).expect_err(bad).reason, reason, "{bad}");
        }
    }

    #[test]
    fn calls_render_and_become_requests() {
        let w = Workload::parse("deployment/users").expect("valid");
        let call = ApiCall::patch_scale(&ns(), &w, serde_json::json!(0));
        assert_eq!(
            call.to_string(),
            r#"PATCH /apis/apps/v1/namespaces/shop/deployments/users/scale {"spec":{"replicas":0}}"#
        );
        assert!(call.method.is_mutating());
        let req = call.to_request().expect("builds");
        assert_eq!(req.method(), http::Method::PATCH);
        assert_eq!(
            req.uri().to_string(),
            "/apis/apps/v1/namespaces/shop/deployments/users/scale"
        );
        assert_eq!(req.headers()[http::header::CONTENT_TYPE], MERGE_PATCH);
        assert_eq!(req.body().as_slice(), br#"{"spec":{"replicas":0}}"#);

        let get = ApiCall::list_pods(&ns(), "app=orders");
        assert!(!get.method.is_mutating());
        let req = get.to_request().expect("builds");
        assert_eq!(
            req.uri().to_string(),
            "/api/v1/namespaces/shop/pods?labelSelector=app%3Dorders"
        );
        assert!(req.headers().get(http::header::CONTENT_TYPE).is_none());
        assert!(req.body().is_empty());
    }
}
