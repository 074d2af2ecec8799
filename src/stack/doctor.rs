//! Every component gauntlet knows, as data: what it is, its licence, and whether it is real
//! here (a binary gauntlet builds or installs and runs) or a users' backend that gauntlet
//! only talks to, tested against recorded or documentation-shaped responses.
//!
//! `gauntlet doctor` renders this list (see [`crate::stack::cli::doctor`]). Adding a
//! component is one entry in [`COMPONENTS`]; a new executable needs no other change, since
//! [`Lookup::Exe`] carries how to find it and ask its version.

use super::binaries::{self, Binary};

/// How a component is present on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A stack binary the native provider starts ([`Binary`]: its env override, file names,
    /// version flag).
    Binary(Binary),
    /// Another executable, found like a [`Binary`]: `env` overrides the path, else the first
    /// of `files` in `$GAUNTLET_HOME/bin` or `PATH`; `version_arg` prints its version (a
    /// `<file>.version` stamp next to it wins).
    Exe {
        env: &'static str,
        files: &'static [&'static str],
        version_arg: &'static str,
        hint: &'static str,
    },
    /// Part of gauntlet itself (the sample services, the load generator, the webhook sink).
    Builtin,
    /// Never built or run here (AGPL): only gauntlet's client exists, tested against the
    /// responses under this fixtures folder.
    FixturesOnly(&'static str),
}

/// One component of the observability stack, or one users' backend gauntlet can observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Name shown by `doctor` (for stack binaries: [`Binary::name`]).
    pub name: &'static str,
    /// What it does for gauntlet.
    pub role: &'static str,
    /// The upstream licence (SPDX id).
    pub licence: &'static str,
    pub lookup: Lookup,
    /// Needed by the default native stack: `doctor` fails (exit 3) when it is missing.
    pub required: bool,
}

const fn run(name: &'static str, role: &'static str, b: Binary) -> Component {
    Component {
        name,
        role,
        licence: "Apache-2.0",
        lookup: Lookup::Binary(b),
        required: true,
    }
}

/// A provisioned executable that only some scenarios need (a `<file>.version` stamp names it).
const fn optional(
    name: &'static str,
    role: &'static str,
    files: &'static [&'static str],
) -> Component {
    Component {
        name,
        role,
        licence: "Apache-2.0",
        lookup: Lookup::Exe {
            env: "",
            files,
            version_arg: "--version",
            hint: "scripts/provision.sh builds it",
        },
        required: false,
    }
}

const fn fixtures(name: &'static str, role: &'static str, dir: &'static str) -> Component {
    Component {
        name,
        role,
        licence: "AGPL-3.0-only",
        lookup: Lookup::FixturesOnly(dir),
        required: false,
    }
}

/// Every component, in display order: one line each.
pub const COMPONENTS: &[Component] = &[
    run("prometheus", "metrics, rules, alerts", Binary::Prometheus),
    run(
        "alertmanager",
        "routing, notifications",
        Binary::Alertmanager,
    ),
    run(
        "jaeger",
        "collector role (OTLP in) and query role (trace store)",
        Binary::Jaeger,
    ),
    run("victoria-logs", "log store (LogsQL)", Binary::VictoriaLogs),
    optional(
        "prometheus-3.16",
        "metrics, rules, alerts (stack.prometheus-version: \"3.16\")",
        &["prometheus-3.16"],
    ),
    optional("promtool-3.16", "rule checks for 3.16", &["promtool-3.16"]),
    optional(
        "alertmanager-0.31",
        "routing, notifications (with Prometheus 3.16)",
        &["alertmanager-0.31"],
    ),
    optional("amtool-0.31", "config checks for 0.31", &["amtool-0.31"]),
    // Optional: only `stack.trace-store: opensearch` starts it.
    Component {
        name: "opensearch",
        role: "span store with `stack.trace-store: opensearch` (optional)",
        licence: "Apache-2.0",
        lookup: Lookup::Binary(Binary::OpenSearch),
        required: false,
    },
    // The local Kubernetes cluster (`gauntlet cluster up`, the Kubernetes tests).
    optional(
        "kube-apiserver",
        "local control plane (`gauntlet cluster up`), with etcd, controllers, scheduler",
        &["kube-apiserver"],
    ),
    optional(
        "kwok",
        "local cluster's fake node (pods run no containers)",
        &["kwok"],
    ),
    optional(
        "kubelet",
        "local cluster's real node (`gauntlet cluster up --kubelet`)",
        &["kubelet"],
    ),
    optional(
        "containerd",
        "the real node's container runtime (Debian's, with runc)",
        &["containerd"],
    ),
    Component {
        name: "gauntlet",
        role: "sample services, load, fault proxy, webhook sink",
        licence: env!("CARGO_PKG_LICENSE"),
        lookup: Lookup::Builtin,
        required: false,
    },
    fixtures(
        "loki",
        "users' log store (LogQL)",
        "fixtures/backends/loki/",
    ),
    fixtures(
        "grafana",
        "users' dashboards (API)",
        "fixtures/backends/grafana/",
    ),
];

/// Whether a component is real here, and in what form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Found and runnable: path and version.
    Real { path: String, version: String },
    /// Part of gauntlet: its version.
    Builtin { version: String },
    /// Could be real but is not installed: where it was looked for.
    Missing(String),
    /// Never built or run here: tested against these fixtures.
    FixturesOnly(&'static str),
}

impl Component {
    /// Looks the component up on this machine (runs `--version` at most once per path).
    pub async fn presence(&self) -> Presence {
        match self.lookup {
            Lookup::Binary(b) => match b.find() {
                Ok(path) => Presence::Real {
                    version: binaries::version_of(b, &path).await,
                    path: path.display().to_string(),
                },
                Err(why) => Presence::Missing(why),
            },
            Lookup::Exe {
                env,
                files,
                version_arg,
                hint,
            } => match binaries::find_exe(env, files, hint) {
                Ok(path) => Presence::Real {
                    version: binaries::version_with(&path, version_arg).await,
                    path: path.display().to_string(),
                },
                Err(why) => Presence::Missing(why),
            },
            Lookup::Builtin => Presence::Builtin {
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            Lookup::FixturesOnly(dir) => Presence::FixturesOnly(dir),
        }
    }
}

impl Presence {
    /// The `here` column: how the component exists on this machine.
    pub fn here(&self) -> &'static str {
        match self {
            Presence::Real { .. } => "real (run by gauntlet)",
            Presence::Builtin { .. } => "real (built in)",
            Presence::Missing(_) => "missing",
            Presence::FixturesOnly(_) => "fixtures only (AGPL: never built or run)",
        }
    }

    /// Usable here, as what it is (a fixtures-only backend is as it should be).
    pub fn ok(&self) -> bool {
        !matches!(self, Presence::Missing(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binary_is_listed_once_and_agpl_components_are_never_run() {
        for b in Binary::ALL.into_iter().chain(Binary::OPTIONAL) {
            let rows: Vec<_> = COMPONENTS
                .iter()
                .filter(|c| c.lookup == Lookup::Binary(b))
                .collect();
            assert_eq!(rows.len(), 1, "{b:?}");
            assert_eq!(rows[0].name, b.name());
            assert_eq!(rows[0].licence, b.licence());
        }
        for c in COMPONENTS {
            if c.licence.starts_with("AGPL") {
                assert!(
                    matches!(c.lookup, Lookup::FixturesOnly(_)),
                    "{} is AGPL and must never be run",
                    c.name
                );
            }
            if let Lookup::FixturesOnly(dir) = c.lookup {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
                assert!(path.is_dir(), "{} names missing fixtures {dir}", c.name);
            }
        }
        let names: std::collections::BTreeSet<_> = COMPONENTS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), COMPONENTS.len(), "component names are unique");
    }

    #[tokio::test]
    async fn an_exe_entry_is_found_and_versioned_by_the_shared_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("fake-store");
        std::fs::write(&bin, "#!/bin/sh\necho 'fake-store, version 3.16.0 (x)'\n").expect("write");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let dirs = [dir.path().join("nothing-here"), dir.path().to_path_buf()];
        let found = binaries::find_in(None, &dirs, "GAUNTLET_X", &["fake-store"], "hint")
            .expect("found in the second dir");
        assert_eq!(found, bin);
        assert_eq!(binaries::version_with(&found, "--version").await, "3.16.0");
        let missing = binaries::find_in(None, &dirs, "GAUNTLET_X", &["other"], "get it")
            .expect_err("not there");
        assert!(
            missing.contains("other not found") && missing.ends_with("get it"),
            "{missing}"
        );
        assert_eq!(Presence::Missing(missing).here(), "missing");
        assert_eq!(
            Presence::FixturesOnly("fixtures/backends/loki/").here(),
            "fixtures only (AGPL: never built or run)"
        );
    }
}
