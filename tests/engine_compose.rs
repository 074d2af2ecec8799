//! The runner on the compose provider: the reference stack in containers (local images, host
//! network) and a container fault (pause) that Prometheus must notice, then see rolled back.

use std::path::PathBuf;

use gauntlet::report::{ComponentKind, ExpectationStatus, ScenarioStatus};
use gauntlet::stack::native::NativeBinaries;

fn dockerd() -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("dockerd"))
        .find(|p| p.is_file())
        .map(|_| ())
        .ok_or_else(|| "dockerd is not installed (apt-get install docker.io)".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_pause_is_seen_by_prometheus_and_rolled_back() {
    if gauntlet::testing::require("native stack binaries", NativeBinaries::available()).is_none()
        || gauntlet::testing::require("docker", dockerd()).is_none()
    {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"));
    let run = gauntlet::testing::run_file(
        root.join("fixtures/engine/compose-collector-pause.yaml"),
        &exe,
        dir.path(),
    )
    .await
    .expect("the compose scenario runs");
    gauntlet::testing::assert_all_met(&run.result);
    assert_eq!(run.result.status, ScenarioStatus::Met);
    assert!(
        run.components
            .iter()
            .all(|c| c.kind == ComponentKind::Container),
        "{:?}",
        run.components
    );
    let fault = &run.result.faults[0];
    assert!(
        fault.injected_at_ms.is_some() && fault.rolled_back_at_ms.is_some(),
        "{fault:?}"
    );
    let down = &run
        .result
        .expectations
        .iter()
        .find(|e| e.id == "expect[0]")
        .expect("down expectation");
    assert_eq!(down.status, ExpectationStatus::Met);
    assert!(down.time_to_detect_ms.is_some_and(|t| t <= 10_000));
}
