//! Container faults against a real Docker daemon (skipped with a reason when none answers).
//!
//! No image can be pulled here, so the test imports a tiny local image: `/bin/sleep` and the
//! libraries `ldd` lists, via `docker import`.

use gauntlet::fault::FaultRegistry;
use gauntlet::fault::container::{ContainerAction, ContainerFaults};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{ContainerCreateBody, HostConfig};

const IMAGE: &str = "gauntlet-test-sleep:latest";

/// Removes the container on drop.
struct Owned(String);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn daemon() -> Result<ContainerFaults, String> {
    let faults = ContainerFaults::connect().map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(3), faults.ping())
        .await
        .map_err(|_| "docker daemon did not answer /_ping within 3 s".to_owned())?
        .map_err(|e| format!("docker daemon not reachable: {e}"))?;
    Ok(faults)
}

/// Imports a rootfs with /bin/sleep and its shared libraries as `IMAGE`.
fn import_image() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sleep = Path::new("/bin/sleep");
    let ldd = Command::new("ldd")
        .arg(sleep)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    let mut files = vec![sleep.to_path_buf()];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(p) = line.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(p.into());
        }
    }
    for f in &files {
        let dest = dir
            .path()
            .join(f.strip_prefix("/").map_err(|e| e.to_string())?);
        std::fs::create_dir_all(dest.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
        std::fs::copy(f, &dest).map_err(|e| format!("copy {}: {e}", f.display()))?;
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import - {IMAGE}",
            dir.path().display()
        ))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("docker import exited {status}"))
}

async fn state(docker: &Docker, id: &str) -> (bool, bool) {
    let s = docker
        .inspect_container(id, None)
        .await
        .expect("inspect")
        .state
        .expect("state");
    (s.running.unwrap_or(false), s.paused.unwrap_or(false))
}

async fn wait_state(docker: &Docker, id: &str, want: (bool, bool)) -> (bool, bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = state(docker, id).await;
        if s == want || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_kill_a_container_then_roll_back() {
    let Some(faults) = gauntlet::testing::require("docker daemon", daemon().await) else {
        return;
    };
    import_image().expect("import test image");
    let docker = Docker::connect_with_local_defaults().expect("docker");
    let created = docker
        .create_container(
            None,
            ContainerCreateBody {
                image: Some(IMAGE.to_owned()),
                cmd: Some(vec!["/bin/sleep".to_owned(), "60".to_owned()]),
                host_config: Some(HostConfig {
                    network_mode: Some("none".to_owned()),
                    ..HostConfig::default()
                }),
                ..ContainerCreateBody::default()
            },
        )
        .await
        .expect("create");
    let owned = Owned(created.id.clone());
    docker.start_container(&owned.0, None).await.expect("start");
    assert_eq!(
        wait_state(&docker, &owned.0, (true, false)).await,
        (true, false)
    );

    let reg = FaultRegistry::new();
    let guard = faults
        .inject(&reg, &owned.0, ContainerAction::Pause)
        .await
        .expect("pause");
    assert_eq!(
        wait_state(&docker, &owned.0, (true, true)).await,
        (true, true)
    );
    guard.rollback().await.expect("unpause");
    assert_eq!(
        wait_state(&docker, &owned.0, (true, false)).await,
        (true, false)
    );

    let guard = faults
        .inject(
            &reg,
            &owned.0,
            ContainerAction::Kill {
                signal: "SIGKILL".to_owned(),
            },
        )
        .await
        .expect("kill");
    assert_eq!(
        wait_state(&docker, &owned.0, (false, false)).await,
        (false, false)
    );
    drop(guard); // rollback on drop: start again
    assert_eq!(
        wait_state(&docker, &owned.0, (true, false)).await,
        (true, false)
    );

    let _guard = faults
        .inject(&reg, &owned.0, ContainerAction::Stop { grace_secs: 0 })
        .await
        .expect("stop");
    assert_eq!(
        wait_state(&docker, &owned.0, (false, false)).await,
        (false, false)
    );
    assert!(reg.rollback_all().await.is_empty());
    assert_eq!(
        wait_state(&docker, &owned.0, (true, false)).await,
        (true, false)
    );
}
