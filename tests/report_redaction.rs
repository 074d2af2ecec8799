//! Credentials in the URLs a scenario gives (`user:pass@`) never reach a report,
//! the terminal or the log: `gauntlet run` on an external stack whose URLs carry secrets,
//! against a fake Prometheus (recorded answers), then every file it wrote and everything it
//! printed is searched for them.

mod observe_support;

use std::path::PathBuf;

use observe_support::{FixtureServer, Route};

const SECRETS: [&str; 4] = ["prom-s3cret", "am-s3cret", "jaeger-t0ken", "svc-pw"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_with_credentials_never_reach_reports_terminal_or_logs() {
    // An empty vector: the warm-up needs no service up on a stack gauntlet does not run, and
    // the metric check below misses (so its last observation is reported too).
    let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    let prometheus = FixtureServer::start(vec![
        Route::get("/api/v1/query", empty.to_string()),
        Route::get(
            "/api/v1/alerts",
            r#"{"status":"success","data":{"alerts":[]}}"#.into(),
        ),
    ])
    .await;
    let addr = prometheus.url().trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("secret-urls.yaml");
    std::fs::write(
        &scenario,
        format!(
            r#"name: secret-urls
stack:
  provider: external
  scrape-interval: 1s
  evaluation-interval: 1s
  urls:
    prometheus: "http://gauntlet:prom-s3cret@{addr}/"
    alertmanager: "http://ops:am-s3cret@127.0.0.1:1/"
    jaeger: "http://tracing:jaeger-t0ken@127.0.0.1:1/"
services: {{ endpoints: {{ frontend: "http://svc:svc-pw@127.0.0.1:1/" }} }}
expect:
  - {{ metric: 'up{{job="nothing"}}', within: 2s }}
  - {{ trace: {{ service: frontend }}, within: 2s }}
"#
        ),
    )
    .expect("scenario");
    let report_dir = dir.path().join("report");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["--log", "debug", "run", "--no-progress", "--report-dir"])
        .arg(&report_dir)
        .arg(&scenario)
        .current_dir(root())
        .kill_on_drop(true)
        .output()
        .await
        .expect("runs gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The scenario ran and missed (exit 1): its reports hold components, misses and errors.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");

    let written = files(&report_dir);
    for ext in ["json", "xml", "md", "html"] {
        assert!(
            written
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == ext)),
            "no .{ext} report in {written:?}"
        );
    }
    let mut texts: Vec<(String, String)> = vec![
        ("stdout".into(), stdout.to_string()),
        ("stderr".into(), stderr.to_string()),
    ];
    for f in &written {
        texts.push((
            f.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(f).expect("read report")).into_owned(),
        ));
    }
    for (name, text) in &texts {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{name} shows {secret}:\n{text}");
        }
    }
    // The URLs are still shown, masked, where a reader needs them.
    let results = std::fs::read_to_string(report_dir.join("results.json")).expect("results");
    assert!(
        results.contains(&format!("external at http://***@{addr}/")),
        "{results}"
    );
    assert!(results.contains("http://***@127.0.0.1:1/"), "{results}");
}

/// `gauntlet check` refuses a token in a base URL's query (no client could use it) without
/// printing the token.
#[test]
fn check_refuses_query_tokens_without_showing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("query-token.yaml");
    std::fs::write(
        &scenario,
        r#"name: query-token
stack:
  provider: external
  urls: { prometheus: "http://127.0.0.1:9090/?token=q-t0ken", grafana: "ftp://admin:ftp-s3cret@h/" }
services: { endpoints: { frontend: "http://127.0.0.1:8080" } }
expect:
  - { metric: up, within: 30s }
"#,
    )
    .expect("scenario");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("check")
        .arg(&scenario)
        .output()
        .expect("runs gauntlet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(r#"stack.urls.prometheus: "http://127.0.0.1:9090/?token=***": a base URL takes no query or fragment"#),
        "{stderr}"
    );
    for secret in ["q-t0ken", "ftp-s3cret"] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

/// A `webhook-listen` without a usable `GAUNTLET_WEBHOOK_TOKEN` is the user's input to fix
/// (exit 2, naming the variable), and a too-short token is not echoed.
#[test]
fn webhook_listen_without_a_usable_token_is_invalid_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("hook.yaml");
    std::fs::write(
        &scenario,
        r#"name: hook
stack: { provider: external, urls: { prometheus: "http://127.0.0.1:1/" }, webhook-listen: "127.0.0.1:0" }
services: { endpoints: { frontend: "http://127.0.0.1:1" } }
expect:
  - { metric: up, within: 30s }
"#,
    )
    .expect("scenario");
    for token in [None, Some("sh0rt-t0ken")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"));
        cmd.arg("run")
            .arg(&scenario)
            .arg("--report-dir")
            .arg(dir.path().join("report"))
            .env_remove(gauntlet::observe::webhook::WEBHOOK_TOKEN_ENV);
        if let Some(t) = token {
            cmd.env(gauntlet::observe::webhook::WEBHOOK_TOKEN_ENV, t);
        }
        let out = cmd.output().expect("runs gauntlet");
        // The run's summary (and the error in it) is on stdout, tracing on stderr.
        let stderr = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{token:?}: {stderr}");
        assert!(stderr.contains("GAUNTLET_WEBHOOK_TOKEN"), "{stderr}");
        assert!(!stderr.contains("sh0rt-t0ken"), "{stderr}");
    }
}
