//! Stack tier, compose provider: the reference compose file runs as local-image containers
//! on the host network (dockerd started by gauntlet when none answers), and the stack answers
//! like the native one. Skips with a reason without Docker or the stack binaries.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use gauntlet::stack::StackConfig;
use gauntlet::stack::compose::ComposeStack;
use gauntlet::stack::compose::docker::{DockerDaemon, docker};
use gauntlet::stack::native::NativeBinaries;
use serde_json::Value as Json;

fn docker_available() -> Result<(), String> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("dockerd").is_file() && d.join("docker").is_file())
        || std::path::Path::new("/usr/local/bin/docker").is_file()
            && std::path::Path::new("/usr/sbin/dockerd").is_file();
    if found {
        Ok(())
    } else {
        Err("docker and dockerd not installed (scripts/provision.sh installs docker.io)".into())
    }
}

async fn get_json(client: &reqwest::Client, url: reqwest::Url) -> Result<Json, String> {
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_stack_runs_the_reference_services_in_containers() {
    if gauntlet::testing::require("native stack binaries", NativeBinaries::available()).is_none()
        || gauntlet::testing::require("docker", docker_available()).is_none()
    {
        return;
    }
    let app = Router::new().route("/metrics", get(|| async { "compose_test_value 7\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Held across stop() so `docker ps` can check for leftovers; the stack shares it.
    let daemon = DockerDaemon::acquire().await.expect("docker daemon");
    let mut config = StackConfig::for_tests();
    config.scrape_targets = vec![("composetest".into(), vec![addr.clone()])];
    config.ready_timeout = Duration::from_secs(60);
    let file = config.fixtures_dir.join("compose/docker-compose.test.yml");
    let stack = ComposeStack::start(&config, &file)
        .await
        .unwrap_or_else(|e| panic!("compose stack failed: {e}"));
    eprintln!("{}", stack.describe());
    let ids = stack.container_ids();
    assert_eq!(ids.len(), 5, "{ids:?}");
    let run_label = docker(
        &["inspect", "--format", "{{ index .Config.Labels \"gauntlet.run\" }} {{ .HostConfig.NetworkMode }} {{ .State.Running }}", &ids[0].1],
        Duration::from_secs(10),
    )
    .await
    .expect("inspect");
    let fields: Vec<&str> = run_label.split_whitespace().collect();
    assert_eq!(&fields[1..], ["host", "true"], "{run_label}");

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    // Prometheus in a container scrapes the test endpoint on the host's loopback.
    let url = stack
        .urls()
        .prometheus
        .join("api/v1/query?query=compose_test_value")
        .expect("url");
    let start = Instant::now();
    let mut last;
    let value = loop {
        match get_json(&client, url.clone()).await {
            Ok(v) if v["data"]["result"][0]["value"][1].is_string() => {
                break v["data"]["result"][0]["value"][1]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
            Ok(v) => last = v.to_string(),
            Err(e) => last = e,
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no sample: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(value, "7");
    let status = get_json(
        &client,
        stack
            .urls()
            .alertmanager
            .join("api/v2/status")
            .expect("url"),
    )
    .await
    .expect("alertmanager status");
    assert_eq!(status["cluster"]["status"], "disabled");
    let services = get_json(
        &client,
        stack.urls().jaeger_query.join("api/services").expect("url"),
    )
    .await
    .expect("jaeger query");
    assert!(services.get("data").is_some(), "{services}");
    // The log store is VictoriaLogs, built into a local image from the local binary.
    assert_eq!(
        stack.urls().log_store_kind,
        gauntlet::stack::LogStoreKind::Victorialogs
    );
    let health = client
        .get(stack.urls().log_store.join("health").expect("url"))
        .send()
        .await
        .expect("victoria-logs health")
        .text()
        .await
        .expect("body");
    assert_eq!(health, "OK");

    let run = fields[0].to_string();
    stack.stop().await;
    let left = docker(
        &[
            "ps",
            "-a",
            "--quiet",
            "--filter",
            &format!("label=gauntlet.run={run}"),
        ],
        Duration::from_secs(10),
    )
    .await
    .expect("docker ps");
    assert_eq!(left, "", "containers left after stop");
    // A dockerd gauntlet started goes away with the last handle.
    if let Some(pid) = daemon.pid() {
        drop(daemon);
        let start = Instant::now();
        while gauntlet::stack::process::pid_exists(pid)
            && gauntlet::stack::process::process_state(pid) != Some('Z')
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "dockerd {pid} still running"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
