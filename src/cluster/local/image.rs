//! The images a real kubelet runs here, made from the `gauntlet` binary itself: there is no
//! registry on loopback and no image build tool, so gauntlet writes a `docker save` archive
//! (one layer: the binary at `/usr/local/bin/gauntlet` and the shared libraries `ldd` names)
//! that `ctr images import` loads into containerd.
//!
//! Two tags share the layer: `gauntlet.local/gauntlet:<tag>` (the load workers' image: the Job
//! runs `gauntlet load-worker`) and `gauntlet.local/pause:<tag>`, the pod sandbox image, whose
//! entrypoint is `gauntlet pause`. The tag is the layer's digest, so one binary always makes
//! the same images.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use super::LocalError;

/// Where the binary goes in the image; `PATH` includes its directory.
const BINARY_IN_IMAGE: &str = "usr/local/bin/gauntlet";

/// The machine's CA certificates (Debian's ca-certificates), copied into the image.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The two image references an archive carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImages {
    /// `gauntlet.local/gauntlet:<tag>`: `gauntlet` on `PATH`, no entrypoint of its own.
    pub gauntlet: String,
    /// `gauntlet.local/pause:<tag>`: runs `gauntlet pause` (the pod sandbox).
    pub pause: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError + use<> {
    let path = path.to_path_buf();
    move |source| LocalError::Io { path, source }
}

/// Writes the archive of `binary`'s images to `out` and names them.
pub fn write_archive(binary: &Path, out: &Path) -> Result<LocalImages, LocalError> {
    let layer = layer_tar(binary)?;
    let layer_digest = hex_sha256(&layer);
    let tag = &layer_digest[..16];
    let images = LocalImages {
        gauntlet: format!("gauntlet.local/gauntlet:{tag}"),
        pause: format!("gauntlet.local/pause:{tag}"),
    };
    let mut manifest = Vec::new();
    let mut blobs = vec![(format!("{layer_digest}/layer.tar"), layer)];
    for (reference, entrypoint) in [
        (&images.gauntlet, serde_json::Value::Null),
        (
            &images.pause,
            serde_json::json!([format!("/{BINARY_IN_IMAGE}"), "pause"]),
        ),
    ] {
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Entrypoint": entrypoint,
                "WorkingDir": "/",
            },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
            "history": [{ "created_by": "gauntlet: the gauntlet binary and its shared libraries" }],
        });
        let config = serde_json::to_vec(&config).expect("a JSON value always serializes");
        let config_name = format!("{}.json", hex_sha256(&config));
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": [reference],
            "Layers": [format!("{layer_digest}/layer.tar")],
        }));
        blobs.push((config_name, config));
    }
    let manifest = serde_json::to_vec(&manifest).expect("a JSON value always serializes");
    blobs.push(("manifest.json".into(), manifest));

    let file = std::fs::File::create(out).map_err(io(out))?;
    let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
    for (name, bytes) in &blobs {
        append(&mut archive, name, 0o644, bytes).map_err(io(out))?;
    }
    archive
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io(out))?;
    Ok(images)
}

/// The layer: `binary`, the libraries it loads, and the directories above them.
fn layer_tar(binary: &Path) -> Result<Vec<u8>, LocalError> {
    let mut files: Vec<(String, u32, PathBuf)> =
        vec![(BINARY_IN_IMAGE.to_owned(), 0o755, binary.to_path_buf())];
    for library in shared_libraries(binary)? {
        let in_image = library.to_string_lossy().trim_start_matches('/').to_owned();
        files.push((in_image, 0o755, library));
    }
    // gauntlet's HTTP clients load the system's roots at start and refuse to run without.
    let roots = Path::new(CA_BUNDLE);
    if roots.is_file() {
        files.push((
            CA_BUNDLE.trim_start_matches('/').to_owned(),
            0o644,
            roots.to_path_buf(),
        ));
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    let mut dirs: Vec<String> = files
        .iter()
        .flat_map(|(path, _, _)| {
            Path::new(path)
                .ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    dirs.sort();
    dirs.dedup();

    let mut layer = tar::Builder::new(Vec::new());
    let err = |e| LocalError::Io {
        path: binary.to_path_buf(),
        source: e,
    };
    for dir in dirs {
        let mut header = header(0o755, 0);
        header.set_entry_type(tar::EntryType::Directory);
        layer
            .append_data(&mut header, format!("{dir}/"), std::io::empty())
            .map_err(err)?;
    }
    for (in_image, mode, source) in files {
        // Libraries are often symlinks; the image gets the file they point at.
        let bytes = std::fs::read(&source).map_err(io(&source))?;
        append(&mut layer, &in_image, mode, &bytes).map_err(err)?;
    }
    layer.into_inner().map_err(err)
}

/// A header with fixed owner and time, so the same inputs make the same bytes.
fn header(mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append<W: std::io::Write>(
    archive: &mut tar::Builder<W>,
    name: &str,
    mode: u32,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = header(mode, bytes.len() as u64);
    header.set_entry_type(tar::EntryType::Regular);
    archive.append_data(&mut header, name, bytes)
}

/// The absolute paths `ldd` prints for `binary` (the dynamic loader included).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, LocalError> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(io(Path::new("ldd")))?;
    if !output.status.success() {
        // A static binary needs nothing more.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if stdout.contains("not a dynamic executable") || stderr.contains("not a dynamic") {
            return Ok(Vec::new());
        }
        return Err(LocalError::Io {
            path: binary.to_path_buf(),
            source: std::io::Error::other(format!("ldd failed: {}", stderr.trim())),
        });
    }
    Ok(crate::stack::compose::docker::parse_ldd(
        &String::from_utf8_lossy(&output.stdout),
    ))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_both_tags_over_one_layer_whose_digest_the_configs_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = Path::new("/bin/true");
        let out = dir.path().join("images.tar");
        let images = write_archive(binary, &out).expect("archive");
        assert!(images.gauntlet.starts_with("gauntlet.local/gauntlet:"));
        assert_eq!(
            images.gauntlet.rsplit(':').next(),
            images.pause.rsplit(':').next()
        );
        // The same binary makes the same archive.
        let again = dir.path().join("again.tar");
        assert_eq!(write_archive(binary, &again).expect("archive"), images);
        assert_eq!(
            std::fs::read(&out).expect("read"),
            std::fs::read(&again).expect("read")
        );

        let mut entries = std::collections::BTreeMap::new();
        let mut archive = tar::Archive::new(std::fs::File::open(&out).expect("open"));
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).expect("read");
            entries.insert(name, bytes);
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&entries["manifest.json"]).expect("manifest");
        let manifest = manifest.as_array().expect("array");
        assert_eq!(manifest.len(), 2);
        for image in manifest {
            let layer_name = image["Layers"][0].as_str().expect("layer");
            let layer = &entries[layer_name];
            let config: serde_json::Value =
                serde_json::from_slice(&entries[image["Config"].as_str().expect("config")])
                    .expect("config json");
            assert_eq!(
                config["rootfs"]["diff_ids"][0],
                format!("sha256:{}", hex_sha256(layer))
            );
            // The layer has the binary (executable) and the loader ldd names.
            let mut names = Vec::new();
            for entry in tar::Archive::new(layer.as_slice())
                .entries()
                .expect("layer entries")
            {
                let entry = entry.expect("entry");
                let name = entry.path().expect("path").to_string_lossy().into_owned();
                if name == BINARY_IN_IMAGE {
                    assert_eq!(entry.header().mode().expect("mode"), 0o755);
                    assert_eq!(
                        entry.header().size().expect("size"),
                        std::fs::metadata(binary).expect("meta").len()
                    );
                }
                names.push(name);
            }
            assert!(names.contains(&BINARY_IN_IMAGE.to_owned()), "{names:?}");
            assert!(names.iter().any(|n| n.contains("ld-linux")), "{names:?}");
            assert!(names.contains(&"usr/local/bin/".to_owned()), "{names:?}");
        }
        let pause = manifest
            .iter()
            .find(|m| m["RepoTags"][0] == images.pause.as_str())
            .expect("pause image");
        let config: serde_json::Value =
            serde_json::from_slice(&entries[pause["Config"].as_str().expect("config")])
                .expect("config");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/local/bin/gauntlet", "pause"])
        );
    }
}
