//! `gauntlet run` on a `provider: external` scenario: gauntlet starts nothing and observes a
//! stack someone else runs. Here "someone else" is this test: it starts the real native stack
//! and the sample services itself, then hands only their URLs to the scenario — the way a
//! team points gauntlet at a shared staging stack. Its Alertmanager notifies gauntlet because
//! the owner pointed the receivers at `stack.webhook-listen` with the run's token.

use std::path::PathBuf;
use std::time::Duration;

use gauntlet::report::{ExpectationStatus, RunResults, ScenarioStatus};
use gauntlet::services::{FleetConfig, LogOutput, start_fleet};
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::{NativeStack, StackConfig};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_stack_is_observed_by_url_and_notifies_gauntlet_through_webhook_listen() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = gauntlet::runner::rules::override_alert_for(
        &[root().join("fixtures/stack/prometheus/rules/services.yml")],
        Duration::from_secs(2),
        dir.path(),
    )
    .expect("rules");
    // The stack's owner points its Alertmanager's receivers at gauntlet's `webhook-listen`,
    // with the token it also gives gauntlet in GAUNTLET_WEBHOOK_TOKEN.
    let webhook_port = gauntlet::stack::ports::allocate_port().expect("a free port");
    let token = gauntlet::observe::webhook::WebhookToken::random();
    let webhook_receivers = ["pager", "chat"]
        .into_iter()
        .map(|r| {
            let url = format!(
                "http://127.0.0.1:{webhook_port}/hook/{}/{r}",
                token.expose()
            );
            (r.to_string(), url.parse().expect("url"))
        })
        .collect();
    let stack = NativeStack::start(&StackConfig {
        rule_files: rules.clone(),
        webhook_receivers,
        log_dir: Some(dir.path().join("stack-logs")),
        ..StackConfig::for_tests()
    })
    .await
    .expect("native stack");
    let urls = stack.urls().clone();
    let fleet = start_fleet(FleetConfig {
        otlp_endpoint: Some(urls.otlp_http.as_str().trim_end_matches('/').to_string()),
        export_interval: Duration::from_secs(1),
        log_output: LogOutput::Discard,
        ..FleetConfig::default()
    })
    .await
    .expect("services");
    let mut endpoints = String::new();
    for (name, url) in fleet.urls() {
        let target = url.trim_start_matches("http://").trim_end_matches('/');
        stack
            .set_service_targets(name.as_str(), &[target.to_string()])
            .expect("scrape target");
        endpoints.push_str(&format!("{}: \"{url}\", ", name.as_str()));
    }

    let scenario = dir.path().join("external.yaml");
    std::fs::write(
        &scenario,
        format!(
            r#"name: external-error-burst
stack:
  provider: external
  scrape-interval: 1s
  evaluation-interval: 1s
  group-wait: 1s
  rules: [{rules}]
  webhook-listen: "127.0.0.1:{webhook_port}"
  urls: {{ prometheus: "{prometheus}", alertmanager: "{alertmanager}", jaeger: "{jaeger}",
          victorialogs: "{victorialogs}", collector: "{collector}" }}
services: {{ endpoints: {{ {endpoints} }} }}
load: {{ rate: 30/s, duration: 35s, journeys: [browse, checkout] }}
faults:
  - {{ name: burst, at: 5s, for: 15s, kind: http-errors, service: orders, rate: 0.3, status: 500 }}
expect:
  - {{ alert: HighErrorRate, labels: {{ service: orders }}, state: firing, within: 20s }}
  - {{ notification: pager, alert: HighErrorRate, within: 25s }}
  - {{ trace: {{ service: orders, error: true, spans-from: [frontend, api-gateway, orders] }}, within: 10s }}
  - {{ log: {{ service: orders, level: error, correlated-trace: true }}, within: 10s }}
  - {{ correlation: {{ find-in: [traces, logs] }}, within: 15s }}
"#,
            rules = rules[0].display(),
            prometheus = urls.prometheus,
            alertmanager = urls.alertmanager,
            jaeger = urls.jaeger_query,
            victorialogs = urls.log_store,
            collector = urls.otlp_http,
        ),
    )
    .expect("scenario");
    let report_dir = dir.path().join("report");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run", "--no-progress", "--report-dir"])
        .arg(&report_dir)
        .arg(&scenario)
        .current_dir(root())
        .env(
            gauntlet::observe::webhook::WEBHOOK_TOKEN_ENV,
            token.expose(),
        )
        .kill_on_drop(true)
        .output()
        .await
        .expect("runs gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");

    let text = std::fs::read_to_string(report_dir.join("results.json")).expect("results.json");
    let results: RunResults = serde_json::from_str(&text).expect("parses");
    let s = &results.scenarios[0];
    assert_eq!(s.status, ScenarioStatus::Met, "{s:#?}");
    for e in &s.expectations {
        assert_eq!(e.status, ExpectationStatus::Met, "{e:?}");
        assert!(e.backend_real, "{e:?}");
    }
    let backends: Vec<&str> = s.expectations.iter().map(|e| e.backend.as_str()).collect();
    for b in [
        "prometheus",
        "jaeger",
        "victorialogs",
        "jaeger and victorialogs",
        "alertmanager webhook",
    ] {
        assert!(backends.contains(&b), "{backends:?}");
    }
    // Every component is reported as external, at the URL it was given.
    let components = &results.environment.components;
    assert_eq!(components.len(), 5, "{components:?}");
    for c in components {
        assert_eq!(c.kind, gauntlet::report::ComponentKind::External, "{c:?}");
    }
    let load = s.load.as_ref().expect("load");
    assert!(load.failures > 0 && load.requests > 300, "{load:?}");

    fleet.shutdown().await;
    stack.stop().await;
}
