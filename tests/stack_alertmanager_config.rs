//! The user's own Alertmanager config is what runs (`stack.alertmanager-config`): rendered
//! by the same function the native and compose stacks use, started as the real Alertmanager
//! 0.25, fed alerts through its API. The page reaches the user's receiver name, the inhibited
//! alert is never delivered, an email receiver is redirected to the sink too, and none of the
//! file's secrets reach the rendered config, Alertmanager or the notes.

mod observe_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use gauntlet::observe::alertmanager::{AlertFilter, AlertState, AlertmanagerClient};
use gauntlet::observe::webhook::{NotificationStatus, WebhookSink};
use gauntlet::stack::StackConfig;
use gauntlet::stack::native::alertmanager_config;
use observe_support::{RealProcess, binary, eventually, http};

const USER_CONFIG: &str = r#"
global:
  resolve_timeout: 5m
  smtp_smarthost: 'smtp.example.org:587'
  smtp_auth_password: 'smtp-s3cret'
route:
  receiver: team-mail
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - receiver: oncall
      matchers: ['severity="critical"']
inhibit_rules:
  - source_matchers: ['alertname="ServiceDown"']
    target_matchers: ['alertname="HighErrorRate"']
    equal: [service]
receivers:
  - name: oncall
    webhook_configs:
      - url: 'https://ops:hook-s3cret@pager.example.org/hooks/T0K3N?key=query-s3cret'
  - name: team-mail
    email_configs:
      - to: 'team@example.org'
"#;

const SECRETS: [&str; 5] = [
    "smtp-s3cret",
    "hook-s3cret",
    "T0K3N",
    "query-s3cret",
    "team@example.org",
];

async fn post_alert(am: &str, labels: serde_json::Value) {
    let alert = serde_json::json!([{
        "labels": labels,
        "startsAt": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
    }]);
    let response = http()
        .post(format!("{am}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alert.to_string())
        .send()
        .await
        .expect("post alert");
    assert!(response.status().is_success(), "{}", response.status());
}

fn labels(alertname: &str, service: &str, severity: &str) -> serde_json::Value {
    serde_json::json!({"alertname": alertname, "service": service, "severity": severity})
}

#[tokio::test]
async fn the_users_routes_and_inhibitions_run_with_receivers_redirected() {
    let Some(bin) = gauntlet::testing::require(
        "alertmanager",
        binary(
            &["prometheus-alertmanager", "alertmanager"],
            &["/usr/bin/prometheus-alertmanager"],
        ),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let user_file = dir.path().join("alertmanager.yml");
    std::fs::write(&user_file, USER_CONFIG).expect("user config");
    let sink = WebhookSink::start().await.expect("sink");
    let webhook_receivers: BTreeMap<String, reqwest::Url> = ["oncall", "team-mail"]
        .into_iter()
        .map(|r| (r.to_string(), sink.url_for(r).parse().expect("url")))
        .collect();
    let config = StackConfig {
        alertmanager_config: Some(user_file.clone()),
        webhook_receivers,
        ..StackConfig::for_tests()
    };
    let rendered = alertmanager_config(&config).expect("renders");
    for secret in SECRETS {
        assert!(!rendered.contains(secret), "{secret} in:\n{rendered}");
    }
    let rendered_file = dir.path().join("rendered.yml");
    std::fs::write(&rendered_file, &rendered).expect("write");

    let args = vec![
        format!("--config.file={}", rendered_file.display()),
        format!("--storage.path={}", dir.path().join("data").display()),
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--cluster.listen-address=".to_string(),
    ];
    let (process, addr) = RealProcess::start_listening("alertmanager", &bin, &args);
    let am = format!("http://{addr}");
    let client = AlertmanagerClient::new(&am, http()).expect("client");
    process.wait_ready(|| client.ready()).await;
    // The user's routes and inhibition are loaded, without the file's secrets.
    let loaded = client.status().await.expect("status").config_yaml;
    assert!(loaded.contains("ServiceDown"), "{loaded}");
    for secret in SECRETS {
        assert!(!loaded.contains(secret), "{secret} in:\n{loaded}");
    }

    let posted_at = SystemTime::now();
    post_alert(&am, labels("ServiceDown", "orders", "critical")).await;
    // The inhibitor must be known before its target arrives.
    let active = eventually(Duration::from_secs(10), || async {
        let alerts = client.alerts(&AlertFilter::default()).await.ok()?;
        alerts
            .iter()
            .any(|a| a.name() == "ServiceDown")
            .then_some(())
    })
    .await;
    assert!(active.is_some(), "ServiceDown never reached Alertmanager");
    post_alert(&am, labels("HighErrorRate", "orders", "critical")).await;
    post_alert(&am, labels("HighLatency", "users", "warning")).await;

    // severity=critical → the user's `oncall` receiver, under its own name.
    let page = eventually(Duration::from_secs(15), || async {
        sink.notifications_for("oncall").into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no page reached oncall:\n{}", process.log_tail()));
    assert_eq!(page.payload.receiver, "oncall");
    assert_eq!(page.payload.status, NotificationStatus::Firing);
    assert_eq!(page.payload.alerts[0].name(), "ServiceDown");
    assert!(page.received_wall >= posted_at);
    // Everything else falls through to the root's email receiver, redirected to the sink.
    let mail = eventually(Duration::from_secs(15), || async {
        sink.notifications_for("team-mail").into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("nothing reached team-mail:\n{}", process.log_tail()));
    assert_eq!(mail.payload.alerts[0].name(), "HighLatency");

    // The inhibited alert is held by Alertmanager and never delivered: wait past several
    // group_wait + group_interval rounds, then look at everything the sink received.
    let inhibited = eventually(Duration::from_secs(10), || async {
        let alerts = client.alerts(&AlertFilter::default()).await.ok()?;
        alerts
            .into_iter()
            .find(|a| a.name() == "HighErrorRate" && !a.status.inhibited_by.is_empty())
    })
    .await
    .expect("HighErrorRate is inhibited");
    assert_eq!(inhibited.status.state, AlertState::Suppressed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let delivered: Vec<String> = sink
        .notifications()
        .iter()
        .flat_map(|n| n.payload.alerts.iter().map(|a| a.name().to_string()))
        .collect();
    assert!(
        !delivered.iter().any(|a| a == "HighErrorRate"),
        "the inhibited alert was delivered: {delivered:?}"
    );
    assert!(
        delivered.iter().any(|a| a == "ServiceDown"),
        "{delivered:?}"
    );
    assert_eq!(sink.refused(), 0);
}

/// `gauntlet check` on a scenario using the same file: the notes say what the run changes,
/// and notification floors come from the user's route to the receiver.
#[test]
fn check_shows_the_redirection_and_takes_floors_from_the_users_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("alertmanager.yml"), USER_CONFIG).expect("user config");
    let scenario = |within: &str| {
        format!(
            r#"name: user-routes
stack:
  scrape-interval: 1s
  evaluation-interval: 1s
  alert-for: 1s
  rules: [{rules}]
  alertmanager-config: alertmanager.yml
load: {{ rate: 10/s, duration: 30s }}
faults:
  - {{ at: 5s, for: 10s, kind: http-errors, service: orders, rate: 0.5 }}
expect:
  - {{ notification: oncall, alert: HighErrorRate, within: {within} }}
"#,
            rules = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/stack/prometheus/rules/services.yml")
                .display()
        )
    };
    let run_check = |text: String| {
        let file = dir.path().join("scenario.yaml");
        std::fs::write(&file, text).expect("scenario");
        std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .arg("check")
            .arg(&file)
            .output()
            .expect("runs gauntlet")
    };
    let out = run_check(scenario("10s"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for note in [
        "config: alertmanager: alertmanager.yml runs as written, except for the changes below",
        "config: receiver oncall: webhook https://pager.example.org/… → gauntlet webhook sink",
        "config: receiver team-mail: email → gauntlet webhook sink (no resolved notifications, as its integrations)",
        "config: global: only resolve_timeout kept; smtp_smarthost, smtp_auth_password configured the replaced integrations",
    ] {
        assert!(stdout.contains(note), "{note}\n{stdout}");
    }
    for secret in SECRETS {
        assert!(!stdout.contains(secret), "{secret} in:\n{stdout}");
    }
    // scrape 1s + evaluation 1s + for 1s + the route's group_wait 1s = 4s; not Alertmanager's
    // default 30s group_wait, which the floor used before the file was read.
    let out = run_check(scenario("3s"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("group_wait 1s"), "{stderr}");
    assert!(stderr.contains("4s"), "{stderr}");
}

/// For a person trying their own file: renders `$GAUNTLET_AM_CONFIG` the way a run would
/// (sink URLs on a placeholder port, random token), prints the notes and the result, and runs
/// `amtool check-config` on it.
/// `GAUNTLET_AM_CONFIG=path cargo test --test stack_alertmanager_config -- --ignored --nocapture`
#[test]
#[ignore = "renders GAUNTLET_AM_CONFIG for a person to look at"]
fn render_a_users_config() {
    let Some(path) = std::env::var_os("GAUNTLET_AM_CONFIG").map(std::path::PathBuf::from) else {
        eprintln!("set GAUNTLET_AM_CONFIG to an Alertmanager config file");
        return;
    };
    let text = std::fs::read_to_string(&path).expect("read the config");
    let user = match gauntlet::stack::alertmanager::UserConfig::parse(&text) {
        Ok(user) => user,
        Err(problems) => panic!("gauntlet refuses it: {problems}"),
    };
    let token = gauntlet::observe::webhook::WebhookToken::random();
    let webhook_receivers = user
        .receiver_names()
        .into_iter()
        .map(|r| {
            let url = format!("http://127.0.0.1:9/hook/{}/{r}", token.expose());
            (r, url.parse().expect("url"))
        })
        .collect();
    let config = StackConfig {
        alertmanager_config: Some(path.clone()),
        webhook_receivers,
        ..StackConfig::for_tests()
    };
    let rendered = alertmanager_config(&config).expect("renders");
    let overrides = gauntlet::stack::alertmanager::RouteTimings::default();
    for note in user.notes("the file", &overrides) {
        println!("note: {note}");
    }
    println!("{rendered}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("rendered.yml");
    std::fs::write(&out_file, &rendered).expect("write");
    if let Ok(amtool) = binary(&["amtool"], &["/usr/bin/amtool"]) {
        let out = std::process::Command::new(amtool)
            .arg("check-config")
            .arg(&out_file)
            .output()
            .expect("amtool runs");
        println!(
            "amtool check-config: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success());
    }
}
