//! Every scenario in `scenarios/` validates, and every file in `fixtures/invalid/` fails
//! with exactly the located diagnostics listed here.

use std::path::{Path, PathBuf};
use std::process::Command;

use gauntlet::scenario;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (file in fixtures/invalid, the full rendered diagnostics).
const INVALID: &[(&str, &str)] = &[
    (
        "bad-duration.yaml",
        "2:27: stack.scrape-interval: invalid duration \"soon\": expected number at 0\n  hint: durations look like 500ms, 45s, 1m 30s",
    ),
    (
        "bad-promql.yaml",
        "5:15: expect[0].metric: PromQL does not parse: unclosed left parenthesis",
    ),
    (
        "bad-yaml.yaml",
        "3:7: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'",
    ),
    (
        "closed-model-missing.yaml",
        "2:7: load: missing field `users` (model: closed)\n  hint: e.g. `users: 20`\n\
         @2:7: load: missing field `think-time` (model: closed)\n  hint: e.g. `think-time: 1s` or `think-time: 500ms..2s`",
    ),
    (
        "closed-model-problems.yaml",
        "4:10: load.users: must be at least 1\n\
         @5:15: load.think-time: invalid duration \"soon\": expected number at 0\n  hint: e.g. `think-time: 1s` or `think-time: 500ms..2s`\n\
         @6:9: load.rate: `rate` does not apply to `model: closed`: the users set the pace\n  hint: set `users` and `think-time`, or use `model: open` for an arrival rate\n\
         @8:22: load.journeys[1]: unknown journey \"checkuot\"\n  hint: did you mean \"checkout\"? known: browse, checkout, account, health",
    ),
    (
        "completeness-misplaced.yaml",
        "7:7: expect[0].completeness: `completeness` counts the whole run's telemetry after the faults, so it belongs in `recover.expect`\n  hint: move it to `recover.expect`; its deadline counts from the last rollback\n\
         @11:33: recover.expect[0].completeness.traces: 0% would be met with nothing stored\n  hint: give the share that must arrive, e.g. 99%\n\
         @11:46: recover.expect[0].completeness.metrics: percentage must be between 0% and 100%, got \"101%\"",
    ),
    (
        "container-fault-native.yaml",
        "4:31: faults[0].kind: kind `container-pause` needs provider `compose`, this scenario uses `native`",
    ),
    (
        "correlation-find-in-empty.yaml",
        "6:31: expect[0].correlation.find-in: `find-in` names no store, so any failed request would meet it\n  hint: list where failed requests' trace ids must be found: traces, logs (both when `find-in` is left out)",
    ),
    (
        "dashboard-unreadable.yaml",
        "2:92: stack.dashboards[1]: dashboard dashboards/broken.json cannot be read: `panels` is not an array\n  hint: export the dashboard as JSON from Grafana (Share → Export) or fix the file",
    ),
    (
        "dashboard-without-queries.yaml",
        "5:33: expect[0].panels: dashboard \"notes\" has no panel queries, so `all-have-data` would be met with nothing checked\n  hint: add panels with Prometheus targets (`expr`) to dashboards/notes.json, or name another dashboard\n\
         @6:32: expect[1].panel: panel \"Notes\" has no queries, so it can never cross `above` or `below`\n  hint: no panel of \"notes\" has a query",
    ),
    (
        "dashboard-wrong-datasource.yaml",
        "2:69: stack.dashboards[0]: dashboard dashboards/wrong-datasource.json: panel \"Error ratio\": datasource uid \"prometheus-prod\" is not provisioned (known: Prometheus (uid prometheus, prometheus), Jaeger (uid jaeger, jaeger), Loki (uid loki, loki)); did you mean \"prometheus\"?\n  hint: these are the datasources gauntlet provisions for its own stack; list your Grafana's datasource provisioning file in `stack.grafana-datasources`, or fix the reference",
    ),
    (
        "deadline-below-floor.yaml",
        "8:13: expect[0].within: deadline 20s is below the timing floor 1m (scrape 15s + evaluation 15s + for 30s)\n  hint: raise `within` to at least 1m, or shorten the intervals in `stack`",
    ),
    (
        "fault-after-load.yaml",
        "4:11: faults[0].at: fault at 45s starts after the load ends at 30s\n  hint: the stack cannot react to a fault nobody exercises; lengthen `load.duration`",
    ),
    (
        "fault-in-steady-state.yaml",
        "5:11: faults[0].at: fault at 10s starts inside the steady-state window (0s–20s)\n  hint: faults start after steady state; move `at` or shorten `steady-state.for`",
    ),
    (
        "fault-proxy-not-external.yaml",
        "5:3: services.fault-proxy: `fault-proxy` only applies to `mode: external`\n  hint: gauntlet's own services take HTTP faults through their admin API; the proxy is for services gauntlet does not run\n\
         @8:53: faults[0].service: kind `http-abort` needs an HTTP fault proxy in front of \"orders\"\n  hint: add `services.fault-proxy.orders` (external services) and send the load through it",
    ),
    (
        "fault-proxy-problems.yaml",
        "5:56: services.endpoints.search: cannot put the fault proxy in front of this endpoint: the fault proxy speaks plain HTTP, not https\n  hint: set `services.fault-proxy.search.upstream` to the service's loopback host:port\n\
         @7:21: services.fault-proxy.shop.listen: 10.0.0.5:18081 is not a loopback address\n  hint: gauntlet only listens and forwards on 127.0.0.0/8 (or ::1)\n\
         @10:13: services.fault-proxy.ledger: missing field `upstream`\n  hint: \"ledger\" has no endpoint to default to: give the service's loopback host:port, e.g. `upstream: 127.0.0.1:8080`\n\
         @12:24: services.fault-proxy.refunds.listen: 127.0.0.1:18088 is already the listen address of the fault proxy for \"orders\"\n\
         @13:21: services.fault-proxy.echo.listen: the proxy would listen on its own upstream 127.0.0.1:18087\n  hint: pick a free port for `listen`; callers go there, the service stays where it is\n\
         @16:53: faults[0].service: kind `http-abort` needs an HTTP fault proxy in front of \"catalog\"\n  hint: add `services.fault-proxy.catalog` (external services) and send the load through it\n\
         @17:47: faults[1].service: \"payments\" is reached only through its HTTP fault proxy, which cannot inject kind `hang`\n  hint: the proxy injects http-errors, latency, http-abort; `hang` needs gauntlet's fault admin API at the service's endpoint",
    ),
    (
        "field-not-for-kind.yaml",
        "9:5: faults[0].status: `status` does not apply to kind `latency`\n  hint: kind `latency` uses: service, delay, jitter, rate, replica",
    ),
    (
        "many-problems.yaml",
        "2:20: stack.provider: unknown provider \"natve\"\n  hint: known providers: native, compose, external, kubernetes\n\
         @3:15: load.rate: invalid rate \"fast\" (expected e.g. 200/s)\n  hint: e.g. `rate: 200/s`\n\
         @5:53: faults[0].service: unknown service \"cart\"\n  hint: known: frontend, api-gateway, users, products, orders, worker\n\
         @5:65: faults[0].rate: rate must be in (0, 1], got 1.5\n  hint: the fraction of requests affected, e.g. 0.3\n\
         @7:15: expect[0].metric: PromQL does not parse: unclosed left parenthesis",
    ),
    (
        "overhead-sampling.yaml",
        "3:46: overhead.sampling: invalid sampling \"ratio=1.5\": use always-on, parent-ratio=R or ratio=R with 0 <= R <= 1\n  hint: e.g. `sampling: ratio=0.1` measures 10% of traces sampled",
    ),
    (
        "missing-deadline.yaml",
        "5:5: expect[0]: missing deadline `within`\n  hint: how long the stack may take to react, e.g. `within: 20s`",
    ),
    (
        "missing-dependency.yaml",
        "2:30: services.only[1]: api-gateway calls users, orders, which `only` leaves out\n  hint: add users, orders to `services.only`",
    ),
    (
        "missing-name.yaml",
        "1:1: missing field `name`\n  hint: every scenario needs a `name`",
    ),
    (
        "mixed-expectation.yaml",
        "5:5: expect[0]: expectation mixes kinds `metric` and `log`\n  hint: write one expectation per list item",
    ),
    (
        "negative-rate.yaml",
        "2:15: load.rate: rate must be positive, got \"-5/s\"\n  hint: e.g. `rate: 200/s`",
    ),
    (
        "no-alerts-outside-steady-state.yaml",
        "7:7: expect[0].no-alerts: `no-alerts` needs a window to watch and only `steady-state` has one\n  hint: move it to `steady-state.expect`; its window is `steady-state.for`\n\
         @10:9: recover.expect[0].no-alerts: `no-alerts` needs a window to watch and only `steady-state` has one\n  hint: move it to `steady-state.expect`; its window is `steady-state.for`",
    ),
    (
        "overlapping-faults.yaml",
        "7:5: faults[1]: overlaps faults[0] on \"orders\" (10s–30s vs 15s–25s): `kill-process` cannot combine with `http-errors`\n  hint: move one fault so the windows do not overlap, or merge them",
    ),
    (
        "rate-overflow.yaml",
        "3:15: load.rate: rate \"104444444444444444444444444444444444444444444444/s\" is above the maximum 1000000/s\n  hint: e.g. `rate: 200/s`",
    ),
    (
        "rate-too-low.yaml",
        "2:15: load.rate: rate \"1e-20/s\" sends fewer than one request per 30s of load\n  hint: raise `rate` (at least `rate: 2/m` for this duration) or lengthen `load.duration`",
    ),
    (
        "require-annotations-resolved.yaml",
        "8:69: recover.expect[0].require-annotations: `require-annotations` applies to state `firing` or `pending`\n  hint: require them on the expectation that the alert fires",
    ),
    (
        "resolved-below-window.yaml",
        "10:82: recover.expect[0].within: deadline 10s is below the timing floor 36s (scrape 1s + evaluation 1s + held in [30s] window 29s + keep_firing_for 5s)\n  hint: raise `within` to at least 36s, or shorten the intervals in `stack`",
    ),
    (
        "running-stack-settings.yaml",
        "2:49: stack.alert-for: `alert-for` only applies to stacks gauntlet starts (native, compose), not `kubernetes`\n  hint: a running stack keeps its own rules; list them in `rules` so deadlines are checked against their real `for`\n\
         @2:64: stack.webhook-listen: \"nowhere\" is not an ip:port address\n  hint: e.g. webhook-listen: 127.0.0.1:9099, with the Alertmanager receiver's webhook url http://127.0.0.1:9099/hook/<token>/<receiver> and the token in GAUNTLET_WEBHOOK_TOKEN\n\
         @3:13: services.mode: provider `kubernetes` needs `mode: external`: gauntlet cannot add scrape targets to a stack it does not run\n  hint: list the services under test in `endpoints`",
    ),
    (
        "unknown-prometheus-version.yaml",
        "2:30: stack.prometheus-version: unknown Prometheus version \"9.9\"\n  hint: known versions: 2.42, 3.16 (quote it: prometheus-version: \"3.16\")",
    ),
    (
        "trace-store-compose.yaml",
        "2:42: stack.trace-store: `trace-store: opensearch` only applies to provider `native` (gauntlet starts OpenSearch beside it), not `compose`\n  hint: no OpenSearch image can be built here; use provider `native`",
    ),
    (
        "trace-store-targets.yaml",
        "5:52: faults[0].target: `trace-store` is a process only with `stack.trace-store: opensearch`\n  hint: Jaeger's memory store lives in the `jaeger` process; target `jaeger`, or set `trace-store: opensearch`",
    ),
    (
        "trace-store-url.yaml",
        "2:73: stack.urls.trace-store: gauntlet reads spans through Jaeger's query API, not from its storage\n  hint: give Jaeger's query URL as `urls.jaeger`",
    ),
    (
        "unproxied-link.yaml",
        "6:71: faults[0].to: frontend does not call orders, so a fault on this link would never be exercised\n  hint: network faults act on links gauntlet proxies: a service -> an upstream it calls (frontend -> api-gateway, api-gateway -> users|products|orders, orders -> worker), a service -> collector, prometheus -> a service (its scrapes), collector -> log-store (native)\n\
         @7:68: faults[1].to: gauntlet cannot interpose on collector -> jaeger\n  hint: network faults act on links gauntlet proxies: a service -> an upstream it calls (frontend -> api-gateway, api-gateway -> users|products|orders, orders -> worker), a service -> collector, prometheus -> a service (its scrapes), collector -> log-store (native)",
    ),
    (
        "unread-urls.yaml",
        "4:3: stack.urls: `urls` only applies to stacks gauntlet does not run (external, kubernetes), not `native`\n  hint: gauntlet starts every component itself; remove `urls`, or use provider `external`\n\
         @4:50: stack.urls.grafana: gauntlet does not query Grafana: dashboard checks evaluate the panels of the `stack.dashboards` files against Prometheus\n  hint: export the dashboards as JSON, list them in `stack.dashboards`, and remove `urls.grafana`",
    ),
    (
        "telemetry-shape.yaml",
        "4:12: services.dialect: unknown dialect \"prometheus\"\n  hint: known: gauntlet, prometheus-client, otel-semconv\n\
         @5:17: services.jobs.cart: unknown service \"cart\"\n  hint: known: frontend, api-gateway, users, products, orders, worker\n\
         @6:36: services.replicas.frontend: frontend is the load's target: the load calls one URL, so its replicas would not share it\n  hint: replicate a service the target calls (callers balance across replicas)\n\
         @8:7: services.metric_relabel_configs[0]: action replace needs `target_label`\n  hint: Prometheus refuses this relabel_config at start-up\n\
         @9:30: services.metric_relabel_configs[1].regex: invalid regex \"(5..\": unclosed group\n  hint: Prometheus refuses this relabel_config at start-up\n\
         @12:86: faults[0].replica: orders runs 2 replica(s): `replica` must be in 1..=2, got 3\n  hint: set `services.replicas: { orders: N }`",
    ),
    (
        "unknown-fault-kind.yaml",
        "4:31: faults[0].kind: unknown fault kind \"http-error\"\n  hint: did you mean \"http-errors\"? known: http-errors, latency, http-abort, hang, crash, cpu-burn, memory-growth, dependency-failure, queue-stall, kill-process, pause-process, container-stop, container-pause, container-kill, network-delay, network-bandwidth, network-blackhole, network-reset, pod-kill, scale-to-zero, rollout-restart, network-partition",
    ),
    (
        "unknown-journey.yaml",
        "2:55: load.journeys[1]: unknown journey \"chekout\"\n  hint: did you mean \"checkout\"? known: browse, checkout, account, health",
    ),
    (
        "unknown-load-model.yaml",
        "2:16: load.model: unknown load model \"opne\"\n  hint: did you mean \"open\"? known: open, closed",
    ),
    (
        "unknown-receiver.yaml",
        "7:21: expect[0].notification: unknown receiver \"sms\"\n  hint: known: pager, chat",
    ),
    (
        "unknown-service.yaml",
        "5:53: faults[0].service: unknown service \"cart\"\n  hint: known: frontend, api-gateway, users, products, orders, worker",
    ),
    (
        "unknown-top-level-field.yaml",
        "2:1: laod: unknown field `laod`\n  hint: did you mean `load`? known fields: name, description, tags, stack, services, load, steady-state, faults, expect, recover, overhead, timeout",
    ),
    (
        "users-without-closed-model.yaml",
        "2:16: load.users: `users` applies only to `model: closed`\n  hint: add `model: closed` for user sessions, or remove it\n\
         @2:31: load.think-time: `think-time` applies only to `model: closed`\n  hint: add `model: closed` for user sessions, or remove it",
    ),
    (
        "wrong-type.yaml",
        "2:50: load.max-requests: invalid type: string \"lots\", expected u64",
    ),
    (
        "zero-rate.yaml",
        "2:15: load.rate: rate must be positive, got \"0/s\"\n  hint: e.g. `rate: 200/s`",
    ),
];

/// Expands the table's shorthand: each diagnostic starts with `line:col:`; `@` separates them.
fn expected_text(file: &Path, compact: &str) -> String {
    compact
        .split("\n@")
        .map(|d| format!("{}:{d}", file.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_invalid_fixture_fails_with_its_diagnostics() {
    let dir = root().join("fixtures/invalid");
    let on_disk =
        scenario::collect(std::slice::from_ref(&dir)).expect("fixtures/invalid is readable");
    assert!(
        on_disk.len() >= 15,
        "at least 15 broken scenarios, found {}",
        on_disk.len()
    );
    let listed: Vec<PathBuf> = INVALID.iter().map(|(f, _)| dir.join(f)).collect();
    for file in &on_disk {
        assert!(
            listed.contains(file),
            "{} has no expected diagnostic in INVALID",
            file.display()
        );
    }
    for (name, compact) in INVALID {
        let file = dir.join(name);
        let err = scenario::load(&file).expect_err(&format!("{name} must be invalid"));
        assert_eq!(
            err.to_string(),
            expected_text(&file, compact),
            "diagnostics of {name}"
        );
    }
}

#[test]
fn every_shipped_scenario_is_valid() {
    let files = scenario::collect(&[root().join("scenarios")]).expect("scenarios/ is readable");
    assert!(!files.is_empty());
    for file in files {
        if let Err(e) = scenario::load(&file) {
            panic!("{} is invalid:\n{e}", file.display());
        }
    }
}

#[test]
fn cli_check_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_gauntlet");
    let ok = Command::new(bin)
        .args(["check", "scenarios"])
        .current_dir(root())
        .output()
        .expect("runs gauntlet");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad = Command::new(bin)
        .args(["check", "fixtures/invalid"])
        .current_dir(root())
        .output()
        .expect("runs gauntlet");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    // One located diagnostic per problem: every problem line starts with file:line:col.
    let located = stderr
        .lines()
        .filter(|l| l.starts_with("fixtures/invalid/"))
        .count();
    let expected: usize = INVALID.iter().map(|(_, c)| c.split("\n@").count()).sum();
    assert_eq!(located, expected, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{expected} problem(s) in {} of {} scenario file(s)",
            INVALID.len(),
            INVALID.len()
        )),
        "{stderr}"
    );
}

/// A folder where scenarios sit beside the configs they test: `check` and `list` skip the
/// rule file, the Alertmanager config and the Grafana datasource file, one line each with
/// why, and still fail on a file that is a scenario but a broken one.
#[test]
fn a_folder_skips_configs_beside_scenarios_but_not_broken_scenarios() {
    let dir = tempfile::tempdir().expect("temp dir");
    let put = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    put(
        "smoke.yaml",
        &std::fs::read_to_string(root().join("scenarios/smoke.yaml")).expect("smoke"),
    );
    put("rules.yml", "groups:\n  - name: g\n    rules: []\n");
    put(
        "alertmanager.yml",
        "route: { receiver: chat }\nreceivers: [{ name: chat }]\n",
    );
    put(
        "datasources.yaml",
        "apiVersion: 1\ndatasources: [{ name: Prometheus, type: prometheus, uid: prometheus }]\n",
    );
    let gauntlet = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .args(args)
            .arg(dir.path())
            .output()
            .expect("runs gauntlet")
    };
    let skipped = |name: &str, what: &str| {
        format!(
            "skipped {}: {what}, not a scenario",
            dir.path().join(name).display()
        )
    };
    let check = gauntlet(&["check"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for line in [
        skipped(
            "alertmanager.yml",
            "Alertmanager config (top-level `route`)",
        ),
        skipped(
            "datasources.yaml",
            "Grafana datasource provisioning (top-level `datasources`)",
        ),
        skipped("rules.yml", "Prometheus rule file (top-level `groups`)"),
        "1 scenario file(s) valid".to_string(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} not in:\n{stdout}"
        );
    }
    let list = gauntlet(&["list"]);
    assert_eq!(list.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&list.stdout).contains("smoke"));
    assert!(String::from_utf8_lossy(&list.stderr).contains(&skipped(
        "rules.yml",
        "Prometheus rule file (top-level `groups`)"
    )));

    // A scenario with a mistake is still a scenario, and fails as one.
    put(
        "broken.yaml",
        "name: broken\nexpect: [ { metric: 'sum(', within: 5s } ]\n",
    );
    let check = gauntlet(&["check"]);
    assert_eq!(check.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("PromQL does not parse"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn validated_model_carries_floors_and_defaults() {
    let s = scenario::load(&root().join("scenarios/error-burst.yaml")).expect("valid");
    let alert = s
        .expect
        .iter()
        .find(|e| e.check.kind() == "alert")
        .expect("alert expectation");
    // scrape 1s + evaluation 1s + alert-for 2s
    assert_eq!(alert.floor.as_secs(), 4, "{}", alert.floor_explained);
    let notification = s
        .expect
        .iter()
        .find(|e| e.check.kind() == "notification")
        .expect("notification");
    assert_eq!(
        notification.floor.as_secs(),
        5,
        "{}",
        notification.floor_explained
    );
    // The rule compares a ratio with 5 %, which a small burst falls below long before its
    // [10s] window empties: only the intervals are guaranteed, and the window is named.
    let resolved = s
        .recover
        .as_ref()
        .and_then(|r| r.expect.iter().find(|e| e.check.kind() == "alert"))
        .expect("resolved alert");
    assert_eq!(resolved.floor.as_secs(), 2, "{}", resolved.floor_explained);
    assert!(
        resolved
            .floor_explained
            .contains("[10s] window not counted: `> 0.05` can clear before it empties"),
        "{}",
        resolved.floor_explained
    );
    let load = s.load.as_ref().expect("load");
    assert_eq!(load.rate, 40.0);
    assert_eq!(load.max_requests, (40.0f64 * 60.0 * 1.1).ceil() as u64 + 10);
    assert_eq!(s.faults[0].action.kind(), "http-errors");
}

#[test]
fn dry_run_prints_the_kubernetes_plan_without_a_cluster() {
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "run",
            "--dry-run",
            "--workers",
            "4",
            "--worker-image",
            "registry.example/gauntlet:1",
            "deploy/scenarios/kube-faults.yaml",
        ])
        .current_dir(root())
        .output()
        .expect("runs gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("inject    DELETE /api/v1/namespaces/shop/pods?labelSelector=app%3Dorders%2Cgauntlet.io%2Fchaos%3Denabled"), "{stdout}");
    assert!(stdout.contains("rollback  DELETE /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/gauntlet-partition-cut-products"), "{stdout}");
    assert!(stdout.contains("load: a Job of 4 worker pod(s) (image registry.example/gauntlet:1) in namespace shop, 12.5/s each for 10m"), "{stdout}");
}

/// A scenario can pass `check` and still ask for something only the run can refuse: a load
/// target that resolves off loopback. That is invalid input (exit 2), not an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_target_refused_at_run_time_exits_as_invalid_input() {
    // A Prometheus that answers every query with an empty vector: enough to attach and warm
    // up (an external stack gauntlet does not scrape expects no services up).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let prometheus = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async {
        axum::Json(serde_json::json!({
            "status": "success",
            "data": { "resultType": "vector", "result": [] }
        }))
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("off-host-load.yaml");
    std::fs::write(
        &file,
        format!(
            r#"name: off-host-load
stack: {{ provider: external, scrape-interval: 1s, evaluation-interval: 1s, urls: {{ prometheus: "http://{prometheus}" }} }}
services: {{ endpoints: {{ frontend: "http://192.0.2.1:8080" }} }}
load: {{ rate: 5/s, duration: 5s }}
"#
        ),
    )
    .expect("write scenario");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("--no-progress")
        .arg("run")
        .arg(&file)
        .arg("--report-dir")
        .arg(dir.path().join("report"))
        .output()
        .await
        .expect("runs gauntlet");
    server.abort();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("not a loopback address"), "{text}");
    assert_eq!(out.status.code(), Some(2), "{text}");
}
