//! The Docker daemon and local images for the compose provider.
//!
//! [`DockerDaemon::acquire`] uses a daemon that already answers on the default socket, or
//! starts `dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false` (no
//! network plumbing: every container uses the host network on 127.0.0.1) as a
//! [`ManagedProcess`], shared by every user in this process and stopped when the last one
//! drops it. Docker Engine API: <https://docs.docker.com/reference/api/engine/>.
//!
//! No registry is reachable, so [`build_binary_image`] builds a `FROM scratch` image holding one
//! local binary plus the shared libraries `ldd` lists, with the docker CLI and the classic
//! builder (`DOCKER_BUILDKIT=0`: the buildx plugin is not installed). An image is rebuilt only
//! when the binary changed (size and mtime recorded in a label).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::stack::config::gauntlet_home;
use crate::stack::process::{ManagedProcess, ProcessError};

const DOCKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
const DOCKERD_START_TIMEOUT: Duration = Duration::from_secs(40);
const LABEL_BINARY_ID: &str = "gauntlet.binary-id";

/// Docker could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("dockerd is not installed and no Docker daemon answers ({0})")]
    NotInstalled(String),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("dockerd did not answer within {waited:?} (last: {last}); log {log}:\n{log_tail}")]
    DaemonStart {
        waited: Duration,
        last: String,
        log: PathBuf,
        log_tail: String,
    },
    #[error("cannot prepare the image build context {path}")]
    Context {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
}

/// A Docker daemon that answers on the default socket; stops it on drop if gauntlet started it.
#[derive(Debug)]
pub struct DockerDaemon {
    /// Server version as reported by `docker version`.
    pub version: String,
    /// Present when gauntlet started dockerd.
    process: Option<Mutex<ManagedProcess>>,
}

impl DockerDaemon {
    /// Whether gauntlet started (and will stop) this daemon.
    pub fn owned(&self) -> bool {
        self.process.is_some()
    }

    /// The dockerd pid when gauntlet started it.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| {
            p.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pid()
        })
    }

    /// A shared handle: the running daemon, or one started now.
    pub async fn acquire() -> Result<Arc<DockerDaemon>, DockerError> {
        static SHARED: Mutex<Weak<DockerDaemon>> = Mutex::new(Weak::new());
        // A tokio Mutex is not needed: the lock is never held across an await.
        if let Some(d) = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .upgrade()
        {
            return Ok(d);
        }
        let daemon = Arc::new(Self::start_or_attach().await?);
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another task may have won the race; prefer the one already shared.
        if let Some(d) = shared.upgrade() {
            return Ok(d);
        }
        *shared = Arc::downgrade(&daemon);
        Ok(daemon)
    }

    async fn start_or_attach() -> Result<Self, DockerError> {
        if let Ok(version) = server_version().await {
            tracing::debug!(%version, "using the running Docker daemon");
            return Ok(Self {
                version,
                process: None,
            });
        }
        let dockerd = which("dockerd")
            .ok_or_else(|| DockerError::NotInstalled("dockerd not in PATH".into()))?;
        let log_dir = gauntlet_home().join("logs");
        let mut cmd = std::process::Command::new(dockerd);
        cmd.args([
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
        ]);
        let mut process = ManagedProcess::spawn("dockerd", cmd, &log_dir)?;
        let started = Instant::now();
        let mut last = String::from("no answer yet");
        while started.elapsed() < DOCKERD_START_TIMEOUT {
            match server_version().await {
                Ok(version) => {
                    tracing::info!(%version, pid = process.pid(), "started dockerd");
                    return Ok(Self {
                        version,
                        process: Some(Mutex::new(process)),
                    });
                }
                Err(e) => last = e,
            }
            if !process.is_running() {
                // Possibly another gauntlet process started one at the same moment.
                if let Ok(version) = server_version().await {
                    return Ok(Self {
                        version,
                        process: None,
                    });
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(DockerError::DaemonStart {
            waited: started.elapsed(),
            last,
            log: process.log_path().to_path_buf(),
            log_tail: process.log_tail(2048),
        })
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs the docker CLI with a timeout; stdout on success, the first stderr line otherwise.
pub async fn docker(args: &[&str], timeout: Duration) -> Result<String, DockerError> {
    let command = format!("docker {}", args.join(" "));
    let run = tokio::process::Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(DockerError::Command {
            command,
            message: format!("no answer within {timeout:?}"),
        }),
        Ok(Err(e)) => Err(DockerError::Command {
            command,
            message: e.to_string(),
        }),
        Ok(Ok(o)) if o.status.success() => {
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        Ok(Ok(o)) => Err(DockerError::Command {
            command,
            message: String::from_utf8_lossy(&o.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty() && !l.contains("DEPRECATED"))
                .unwrap_or("failed")
                .trim()
                .to_string(),
        }),
    }
}

async fn server_version() -> Result<String, String> {
    docker(
        &["version", "--format", "{{.Server.Version}}"],
        DOCKER_ANSWER_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Identity of a binary for rebuild decisions: path, size, mtime.
fn binary_id(binary: &Path) -> Result<String, std::io::Error> {
    let meta = std::fs::metadata(binary)?;
    let mtime = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The leading layout version forces a rebuild when the image layout changes.
    Ok(format!("v3:{}:{}:{}", binary.display(), meta.len(), mtime))
}

/// Shared libraries a dynamically linked binary needs, from `ldd` output.
pub fn parse_ldd(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux… (0x…)"
            let path = match line.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Data files a packaged binary reads at run time, copied into its image at the same path
/// (Debian's Alertmanager loads its default notification template from disk).
pub fn data_paths(binary: &Path) -> Vec<PathBuf> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.as_str() {
        "prometheus" | "prometheus-alertmanager" | "alertmanager" => {
            [PathBuf::from("/usr/share/prometheus")]
                .into_iter()
                .filter(|p| p.is_dir())
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Every regular file under `root` (bounded depth), for copying data dirs into an image.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 16 {
                stack.push((p, depth + 1));
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}

/// Builds (or reuses) `image` (`name:tag`) = `FROM scratch` + `binary` at `/bin/<file name>`
/// plus its libraries and its [`data_paths`], with the binary as entrypoint. Returns whether
/// a build ran.
pub async fn build_binary_image(image: &str, binary: &Path) -> Result<bool, DockerError> {
    let ctx_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DockerError::Context { path, source }
    };
    let id = binary_id(binary).map_err(ctx_err(binary))?;
    let label_format = format!("{{{{ index .Config.Labels \"{LABEL_BINARY_ID}\" }}}}");
    if let Ok(existing) = docker(
        &["image", "inspect", "--format", &label_format, image],
        Duration::from_secs(10),
    )
    .await
        && existing == id
    {
        return Ok(false);
    }
    let ldd = tokio::process::Command::new("ldd")
        .arg(binary)
        .output()
        .await
        .map_err(ctx_err(binary))?;
    // A static binary makes ldd exit non-zero ("not a dynamic executable"): no libraries.
    let libs = parse_ldd(&String::from_utf8_lossy(&ldd.stdout));
    let ctx = tempfile::Builder::new()
        .prefix("gauntlet-image-")
        .tempdir()
        .map_err(ctx_err(Path::new("/tmp")))?;
    let rootfs = ctx.path().join("rootfs");
    let file_name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let mut files = vec![(binary.to_path_buf(), rootfs.join("bin").join(&file_name))];
    for lib in libs {
        let rel = lib.strip_prefix("/").unwrap_or(&lib).to_path_buf();
        files.push((lib, rootfs.join(rel)));
    }
    for data in data_paths(binary) {
        for f in files_under(&data) {
            let rel = f.strip_prefix("/").unwrap_or(&f).to_path_buf();
            files.push((f, rootfs.join(rel)));
        }
    }
    // The scratch image needs a /tmp for programs that use it.
    std::fs::create_dir_all(rootfs.join("tmp")).map_err(ctx_err(&rootfs))?;
    for (src, dest) in &files {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(ctx_err(parent))?;
        }
        // Library paths are often symlinks (/lib64/ld-linux… → /lib/x86_64-linux-gnu/…) and
        // link(2) would copy the symlink, dangling in the image: resolve first.
        let real = std::fs::canonicalize(src).map_err(ctx_err(src))?;
        // Hard links avoid copying 100+ MB binaries when the temp dir shares their filesystem.
        if std::fs::hard_link(&real, dest).is_err() {
            std::fs::copy(&real, dest).map_err(ctx_err(&real))?;
        }
    }
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nLABEL {LABEL_BINARY_ID}=\"{id}\"\nENTRYPOINT [\"/bin/{file_name}\"]\n"
    );
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).map_err(ctx_err(ctx.path()))?;
    let ctx_path = ctx.path().display().to_string();
    let started = Instant::now();
    docker(
        &["build", "--quiet", "--tag", image, &ctx_path],
        Duration::from_secs(300),
    )
    .await?;
    tracing::info!(image, binary = %binary.display(), elapsed = ?started.elapsed(), "built local image");
    Ok(true)
}

impl Drop for DockerDaemon {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            let mut p = p
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tracing::info!(pid = p.pid(), "stopping the dockerd gauntlet started");
            // containerd-shim daemonizes out of dockerd's process group, so killing the group
            // would orphan running containers: remove gauntlet's containers first (blocking,
            // best effort, bounded by docker's own timeouts).
            remove_gauntlet_containers_blocking();
            // Let dockerd shut down cleanly (it unmounts and tidies its state), then the
            // ManagedProcess drop SIGKILLs whatever is left of the group.
            let _ = p.signal(nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && p.is_running() {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(p);
        }
    }
}

/// `docker rm -f` every container labelled `gauntlet.run` (synchronous, for `Drop`).
fn remove_gauntlet_containers_blocking() {
    let ids = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=gauntlet.run"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(ids) = ids else { return };
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return;
    }
    tracing::warn!(
        count = ids.len(),
        "removing gauntlet containers left on the daemon"
    );
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f"])
        .args(&ids)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_lists_library_paths() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f72)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f72)\n";
        assert_eq!(
            parse_ldd(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
    }
}
