//! The local control plane's credentials, made with the `openssl` command for each run: a CA,
//! the API server's serving certificate (also kwok's, which stands in for the kubelet), one
//! client certificate per component, the ServiceAccount signing key pair, and the
//! kubeconfigs that point at them.
//!
//! Keys are P-256 (fast to generate; the API server, etcd's clients and rustls all accept them).
//! Certificates live for two days: a run never needs longer, and a leaked one expires soon.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::LocalError;

/// Days every certificate is valid.
const VALID_DAYS: &str = "2";

/// Paths of everything [`make`] wrote.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

/// A client identity: certificate and key for `CN=<user>`, `O=<group>`.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), LocalError> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| LocalError::Openssl {
            step: args.join(" "),
            detail: source.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LocalError::Openssl {
            step: args.join(" "),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

const EC_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// Writes the CA, the serving certificate and the ServiceAccount key pair into `dir`.
pub fn make(dir: &Path) -> Result<Pki, LocalError> {
    let mut ca = vec!["req", "-x509", "-nodes", "-days", VALID_DAYS];
    ca.extend(EC_KEY);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=gauntlet-local-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca)?;
    // The names clients use for the API server (and in-cluster ones, for completeness); the
    // same certificate serves kwok's kubelet endpoint on 127.0.0.1.
    signed(
        dir,
        "serving",
        "/CN=kube-apiserver",
        &[
            "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
            "extendedKeyUsage=serverAuth",
        ],
    )?;
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
            "sa.key",
        ],
    )?;
    openssl(dir, &["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
    Ok(Pki {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("serving.crt"),
        serving_key: dir.join("serving.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
    })
}

/// A client certificate signed by the CA in `dir`: the API server maps `CN` to the user and
/// `O` to a group.
pub fn client(
    dir: &Path,
    file_stem: &str,
    user: &str,
    group: &str,
) -> Result<ClientCert, LocalError> {
    signed(
        dir,
        file_stem,
        &format!("/O={group}/CN={user}"),
        &["extendedKeyUsage=clientAuth"],
    )?;
    Ok(ClientCert {
        cert: dir.join(format!("{file_stem}.crt")),
        key: dir.join(format!("{file_stem}.key")),
    })
}

fn signed(dir: &Path, stem: &str, subject: &str, extensions: &[&str]) -> Result<(), LocalError> {
    let key = format!("{stem}.key");
    let cert = format!("{stem}.crt");
    let mut args = vec![
        "req", "-x509", "-nodes", "-days", VALID_DAYS, "-CA", "ca.crt", "-CAkey", "ca.key",
    ];
    args.extend(EC_KEY);
    args.extend([
        "-keyout",
        key.as_str(),
        "-out",
        cert.as_str(),
        "-subj",
        subject,
    ]);
    args.extend(["-addext", "basicConstraints=CA:FALSE"]);
    for ext in extensions {
        args.extend(["-addext", ext]);
    }
    openssl(dir, &args)
}

/// How a kubeconfig authenticates.
pub enum Credential<'a> {
    Cert(&'a ClientCert),
    Token(&'a str),
}

/// Writes a kubeconfig with one cluster, user and context (all named `gauntlet-local`).
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_cert: &Path,
    credential: Credential<'_>,
) -> Result<(), LocalError> {
    let user = match credential {
        Credential::Cert(c) => serde_json::json!({
            "client-certificate": c.cert,
            "client-key": c.key,
        }),
        Credential::Token(token) => serde_json::json!({ "token": token }),
    };
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "gauntlet-local", "cluster": {
            "server": server,
            "certificate-authority": ca_cert,
        }}],
        "users": [{ "name": "gauntlet-local", "user": user }],
        "contexts": [{ "name": "gauntlet-local", "context": {
            "cluster": "gauntlet-local",
            "user": "gauntlet-local",
            "namespace": "default",
        }}],
        "current-context": "gauntlet-local",
    });
    // JSON is YAML: every kubeconfig reader accepts it.
    let text = serde_json::to_string_pretty(&config).expect("a JSON value always serializes");
    write_private(path, &text)
}

/// Writes a file only its owner can read (kubeconfigs carry credentials).
pub fn write_private(path: &Path, text: &str) -> Result<(), LocalError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)
}
