//! A real Prometheus (`/usr/bin/prometheus`) scrapes the fleet's OpenMetrics exposition:
//! the series, their labels and the trace-id exemplars must survive its parser.
//! Skipped with a reason when Prometheus is not installed (fails under
//! `GAUNTLET_REQUIRE_STACK=1`).

mod services_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gauntlet::services::{Instrumentation, ServiceName};
use services_support::*;

fn prometheus_binary() -> Result<PathBuf, String> {
    let p = PathBuf::from("/usr/bin/prometheus");
    if p.exists() {
        Ok(p)
    } else {
        Err("/usr/bin/prometheus is not installed (apt-get install prometheus)".to_owned())
    }
}

/// Kills Prometheus when the test ends, whatever happens.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_series_and_exemplars() {
    let Some(bin) = gauntlet::testing::require("prometheus", prometheus_binary()) else {
        return;
    };
    let h = harness(Instrumentation::Full).await;
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    let worker = h.fleet.url(ServiceName::Worker).to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let targets: Vec<String> = [&front, &worker]
        .iter()
        .map(|u| format!("\"{}\"", u.trim_start_matches("http://")))
        .collect();
    let config = format!(
        "global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: svc\n    static_configs: [ {{ targets: [{}] }} ]\n",
        targets.join(", ")
    );
    let cfg_path = dir.path().join("prometheus.yml");
    std::fs::write(&cfg_path, config).expect("config written");
    let port = free_port();
    let _prom = Owned(
        Command::new(bin)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let (trace_id, _, header) = traceparent();
    let r = h
        .http
        .post(format!("{front}/checkout"))
        .header("traceparent", header)
        .json(&serde_json::json!({ "user_id": 1, "product_id": 2, "quantity": 1 }))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 201);

    let api = format!("http://127.0.0.1:{port}/api/v1");
    let query = |q: &'static str| {
        let http = h.http.clone();
        let api = api.clone();
        async move {
            let v: serde_json::Value = http
                .get(
                    reqwest::Url::parse_with_params(&format!("{api}/query"), [("query", q)])
                        .ok()?,
                )
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["data"]["result"]
                .as_array()
                .filter(|a| !a.is_empty())
                .cloned()
        }
    };
    // Prometheus applies new targets every 5 s, then scrapes every second.
    let series = poll(Duration::from_secs(30), || {
        query(r#"http_requests_total{service="frontend",route="/checkout",status="201"}"#)
    })
    .await
    .expect("prometheus scraped the frontend");
    assert_eq!(series[0]["metric"]["method"], "POST");
    assert_eq!(series[0]["value"][1], "1");
    let steps = poll(Duration::from_secs(10), || {
        query(r#"workflow_steps_total{status="success"}"#)
    })
    .await
    .expect("worker series scraped");
    assert_eq!(steps[0]["value"][1], "1");
    let faults = query(r#"gauntlet_fault_active{kind="errors"}"#)
        .await
        .expect("fault gauge");
    assert_eq!(faults.len(), 2, "one per scraped service: {faults:?}");

    let exemplars: serde_json::Value = h
        .http
        .get(
            reqwest::Url::parse_with_params(
                &format!("{api}/query_exemplars"),
                [
                    ("query", r#"http_requests_total{service="frontend"}"#),
                    ("start", "0"),
                    ("end", "9999999999"),
                ],
            )
            .expect("url"),
        )
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = exemplars["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["exemplars"].as_array().into_iter().flatten())
        .filter_map(|e| e["labels"]["trace_id"].as_str())
        .collect();
    assert!(ids.contains(&trace_id.as_str()), "{exemplars}");
    h.fleet.shutdown().await;
}
