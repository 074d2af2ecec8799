//! Helpers shared by the `services_*` integration tests: a fleet wired to an in-test OTLP
//! sink, traceparent generation, metric text lookup, bounded polling.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::future::Future;
use std::time::{Duration, Instant};

use gauntlet::services::otlp_sink::{OtlpSink, ReceivedSpan, SinkMode};
use gauntlet::services::{
    FleetConfig, Instrumentation, LogCapture, LogOutput, RunningFleet, start_fleet,
};

pub struct Harness {
    pub fleet: RunningFleet,
    pub sink: OtlpSink,
    pub logs: LogCapture,
    pub http: reqwest::Client,
}

pub async fn harness(level: Instrumentation) -> Harness {
    let sink = OtlpSink::start(SinkMode::Store).await.expect("sink starts");
    let logs = LogCapture::new();
    let fleet = start_fleet(FleetConfig {
        otlp_endpoint: Some(sink.endpoint()),
        instrumentation: level,
        deployment_id: "test-deploy".into(),
        log_output: LogOutput::Capture(logs.clone()),
        upstream_timeout: Duration::from_secs(3),
        export_interval: Duration::from_millis(200),
        ..FleetConfig::default()
    })
    .await
    .expect("fleet starts");
    Harness {
        fleet,
        sink,
        logs,
        http: client(Duration::from_secs(10)),
    }
}

impl Harness {
    /// `GET url`; panics when nothing answers.
    pub async fn get(&self, url: String) -> reqwest::Response {
        self.send(self.http.get(url)).await
    }

    /// `GET url` continuing the trace of `traceparent`.
    pub async fn get_traced(&self, url: String, traceparent: &str) -> reqwest::Response {
        self.send(self.http.get(url).header("traceparent", traceparent))
            .await
    }

    /// `POST url` with a JSON body.
    pub async fn post_json(&self, url: String, body: &serde_json::Value) -> reqwest::Response {
        self.send(self.http.post(url).json(body)).await
    }

    /// `DELETE url`.
    pub async fn delete(&self, url: String) -> reqwest::Response {
        self.send(self.http.delete(url)).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request.send().await.expect("answers")
    }

    /// Flushes telemetry until at least `n` spans of `trace_id` arrived (within 5 s).
    pub async fn spans_of(&self, trace_id: &str, n: usize) -> Option<Vec<ReceivedSpan>> {
        poll(Duration::from_secs(5), || async {
            self.fleet.flush_telemetry().await;
            let s: Vec<_> = self
                .sink
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect();
            (s.len() >= n).then_some(s)
        })
        .await
    }
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("client builds")
}

/// A fresh W3C traceparent: (trace id, parent span id, header value).
pub fn traceparent() -> (String, String, String) {
    let t: u128 = rand::random::<u128>() | 1;
    let s: u64 = rand::random::<u64>() | 1;
    let (t, s) = (format!("{t:032x}"), format!("{s:016x}"));
    let header = format!("00-{t}-{s}-01");
    (t, s, header)
}

pub async fn metrics(http: &reqwest::Client, base: &str) -> String {
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answer");
    assert_eq!(resp.status(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    resp.text().await.expect("metrics text")
}

/// Value of the sample whose name and labels are exactly `series` (e.g.
/// `orders_created_total` or `x_total{a="b"}`), ignoring any exemplar.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Polls `f` every 50 ms until it returns `Some` or `within` passes.
pub async fn poll<T, F, Fut>(within: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /admin/faults`; returns the id.
pub async fn add_fault(http: &reqwest::Client, base: &str, fault: serde_json::Value) -> String {
    let resp = http
        .post(format!("{base}/admin/faults"))
        .json(&fault)
        .send()
        .await
        .expect("admin answers");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("json body");
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

pub async fn fault_gauge(http: &reqwest::Client, base: &str, kind: &str) -> Option<f64> {
    sample(
        &metrics(http, base).await,
        &format!("gauntlet_fault_active{{kind=\"{kind}\"}}"),
    )
}

/// Waits until the fault gauge of `kind` reads `want`.
pub async fn wait_gauge(
    http: &reqwest::Client,
    base: &str,
    kind: &str,
    want: f64,
    within: Duration,
) {
    let seen = poll(within, || async {
        (fault_gauge(http, base, kind).await == Some(want)).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "gauntlet_fault_active{{kind=\"{kind}\"}} never became {want}; last {:?}",
        fault_gauge(http, base, kind).await
    );
}
