//! The subset of the Compose file format (<https://docs.docker.com/reference/compose-file/>)
//! that gauntlet's compose provider runs, parsed with our own serde structs (Debian ships only
//! docker-compose v1, and testcontainers' compose support needs the v2 CLI).
//!
//! Supported per service: `image`, `command` (list form), `environment` (map form), `volumes`
//! (`host:container[:ro]` bind mounts), `network_mode` (must be `host`: no registry, no bridge),
//! `depends_on` (list form), `labels` (map), and gauntlet's extension `x-gauntlet`:
//! `component` (a native stack component whose rendered command the service runs when it has
//! no `command`), `binary` (build `image` locally from that stack binary), `ready` (a URL that
//! answers 200 when the service is ready). Anything else is rejected by name.
//!
//! Values are interpolated from the variables gauntlet provides (`${GAUNTLET_RUN_DIR}`, the
//! `${GAUNTLET_*_PORT}`s): `${NAME}`, `${NAME:-default}`, `$$` for a literal `$`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::stack::binaries::Binary;

/// A compose file as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    /// Ignored (informational in the Compose spec).
    #[serde(default)]
    pub version: Option<String>,
    pub services: BTreeMap<String, ComposeService>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeService {
    /// `name:tag`.
    pub image: String,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub network_mode: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, rename = "x-gauntlet")]
    pub x_gauntlet: Option<XGauntlet>,
}

/// gauntlet's per-service extension.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct XGauntlet {
    /// Native stack component this service plays (`prometheus`, `alertmanager`,
    /// `jaeger-query`, `otel-collector`, `victoria-logs`).
    #[serde(default)]
    pub component: Option<String>,
    /// Stack binary to build the image from (`prometheus`, `alertmanager`, `jaeger`,
    /// `victoria-logs`).
    #[serde(default)]
    pub binary: Option<String>,
    /// Readiness URL (interpolated); components have built-in readiness.
    #[serde(default)]
    pub ready: Option<String>,
}

/// Components a service may name in `x-gauntlet.component`.
pub const COMPONENTS: [&str; 5] = [
    "prometheus",
    "alertmanager",
    "jaeger-query",
    "otel-collector",
    "victoria-logs",
];

/// A bind mount after interpolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// A service ready to run: everything interpolated and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedService {
    pub name: String,
    pub image_name: String,
    pub image_tag: String,
    pub command: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub mounts: Vec<BindMount>,
    pub labels: BTreeMap<String, String>,
    pub component: Option<String>,
    pub binary: Option<Binary>,
    pub ready: Option<String>,
}

/// Reading or checking a compose file failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeFileError {
    #[error("cannot read compose file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid { path: String, problems: Vec<String> },
}

impl ComposeFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ComposeFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ComposeFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses compose YAML; `name` only labels errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, ComposeFileError> {
        yaml_serde::from_str(text).map_err(|e| ComposeFileError::Parse {
            path: name.to_string(),
            message: e.to_string(),
        })
    }

    /// Interpolates and checks every service, returning them in start order (dependencies
    /// first), or every problem found.
    pub fn plan(
        &self,
        name: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Vec<PlannedService>, ComposeFileError> {
        // Shared by the interpolation closure and the checks below, in discovery order.
        let problems = std::cell::RefCell::new(Vec::new());
        let mut planned = BTreeMap::new();
        for (svc_name, svc) in &self.services {
            let interp = |field: &str, value: &str| match interpolate(value, vars) {
                Ok(v) => v,
                Err(e) => {
                    problems
                        .borrow_mut()
                        .push(format!("services.{svc_name}.{field}: {e}"));
                    String::new()
                }
            };
            let image = interp("image", &svc.image);
            let (image_name, image_tag) = match image.rsplit_once(':') {
                Some((n, t)) if !n.is_empty() && !t.is_empty() && !t.contains('/') => {
                    (n.to_string(), t.to_string())
                }
                _ => (image.clone(), "latest".to_string()),
            };
            let command = svc.command.as_ref().map(|c| {
                c.iter()
                    .enumerate()
                    .map(|(i, a)| interp(&format!("command[{i}]"), a))
                    .collect::<Vec<_>>()
            });
            let environment = svc
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), interp(&format!("environment.{k}"), v)))
                .collect();
            let labels = svc
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), interp(&format!("labels.{k}"), v)))
                .collect();
            let mut mounts = Vec::new();
            for (i, v) in svc.volumes.iter().enumerate() {
                let v = interp(&format!("volumes[{i}]"), v);
                let parts: Vec<&str> = v.split(':').collect();
                let mount = match parts.as_slice() {
                    [h, c] => Some((h, c, false)),
                    [h, c, "ro"] => Some((h, c, true)),
                    [h, c, "rw"] => Some((h, c, false)),
                    _ => None,
                };
                match mount {
                    Some((h, c, ro)) if h.starts_with('/') && c.starts_with('/') => {
                        mounts.push(BindMount {
                            host: h.to_string(),
                            container: c.to_string(),
                            read_only: ro,
                        })
                    }
                    _ => problems.borrow_mut().push(format!(
                        "services.{svc_name}.volumes[{i}]: {v:?} is not an absolute host:container[:ro] bind mount (named volumes are not supported)"
                    )),
                }
            }
            if svc.network_mode.as_deref() != Some("host") {
                problems.borrow_mut().push(format!(
                    "services.{svc_name}.network_mode: must be \"host\" (got {:?}); gauntlet runs everything on 127.0.0.1 without bridge networks",
                    svc.network_mode.as_deref().unwrap_or("unset")
                ));
            }
            for dep in &svc.depends_on {
                if !self.services.contains_key(dep) {
                    problems.borrow_mut().push(format!(
                        "services.{svc_name}.depends_on: unknown service {dep:?} (known: {})",
                        self.services.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            let x = svc.x_gauntlet.clone().unwrap_or(XGauntlet {
                component: None,
                binary: None,
                ready: None,
            });
            if let Some(c) = &x.component
                && !COMPONENTS.contains(&c.as_str())
            {
                problems.borrow_mut().push(format!(
                    "services.{svc_name}.x-gauntlet.component: unknown component {c:?} (known: {})",
                    COMPONENTS.join(", ")
                ));
            }
            let binary = match &x.binary {
                None => None,
                Some(b) => {
                    let found = Binary::ALL.into_iter().find(|k| k.name() == b);
                    if found.is_none() {
                        problems.borrow_mut().push(format!(
                            "services.{svc_name}.x-gauntlet.binary: unknown binary {b:?} (known: {})",
                            Binary::ALL.map(Binary::name).join(", ")
                        ));
                    }
                    found
                }
            };
            if x.component.is_none() && command.is_none() {
                problems.borrow_mut().push(format!(
                    "services.{svc_name}: needs a command or x-gauntlet.component"
                ));
            }
            let ready = x.ready.as_ref().map(|r| interp("x-gauntlet.ready", r));
            planned.insert(
                svc_name.clone(),
                PlannedService {
                    name: svc_name.clone(),
                    image_name,
                    image_tag,
                    command,
                    environment,
                    mounts,
                    labels,
                    component: x.component.clone(),
                    binary,
                    ready,
                },
            );
        }
        let order = match start_order(&self.services) {
            Ok(o) => o,
            Err(cycle) => {
                problems
                    .borrow_mut()
                    .push(format!("depends_on has a cycle through {cycle}"));
                Vec::new()
            }
        };
        let problems = problems.into_inner();
        if !problems.is_empty() {
            return Err(ComposeFileError::Invalid {
                path: name.to_string(),
                problems,
            });
        }
        Ok(order
            .into_iter()
            .filter_map(|n| planned.remove(&n))
            .collect())
    }
}

/// Dependencies first; ties in name order. `Err(service)` names one service on a cycle.
fn start_order(services: &BTreeMap<String, ComposeService>) -> Result<Vec<String>, String> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    // Each pass starts at least one service or stops: at most n passes.
    for _ in 0..=services.len() {
        if order.len() == services.len() {
            break;
        }
        let ready: Vec<String> = services
            .iter()
            .filter(|(n, s)| {
                !done.contains(*n)
                    && s.depends_on
                        .iter()
                        .all(|d| done.contains(d) || !services.contains_key(d))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            let stuck = services
                .keys()
                .find(|n| !done.contains(*n))
                .cloned()
                .unwrap_or_default();
            return Err(stuck);
        }
        for n in ready {
            done.insert(n.clone());
            order.push(n);
        }
    }
    Ok(order)
}

/// `${NAME}`, `${NAME:-default}` and `$$`; unknown names are errors (no silent empty strings).
pub fn interpolate(value: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated ${{ in {value:?}"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            match (vars.get(name), default) {
                (Some(v), _) => out.push_str(v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "unknown variable {name} (known: {})",
                        vars.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            return Err(format!(
                "bare $ in {value:?}: write ${{NAME}} or $$ for a literal $"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("GAUNTLET_RUN_DIR".to_string(), "/tmp/run".to_string()),
            ("GAUNTLET_PROMETHEUS_PORT".to_string(), "9999".to_string()),
        ])
    }

    #[test]
    fn interpolation_table() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("${GAUNTLET_RUN_DIR}/x", Ok("/tmp/run/x")),
            (
                "127.0.0.1:${GAUNTLET_PROMETHEUS_PORT}",
                Ok("127.0.0.1:9999"),
            ),
            ("${NOPE:-fallback}", Ok("fallback")),
            ("cost $$5", Ok("cost $5")),
            ("plain", Ok("plain")),
            (
                "${NOPE}",
                Err("unknown variable NOPE (known: GAUNTLET_PROMETHEUS_PORT, GAUNTLET_RUN_DIR)"),
            ),
            ("${OPEN", Err("unterminated ${ in \"${OPEN\"")),
            (
                "$HOME",
                Err("bare $ in \"$HOME\": write ${NAME} or $$ for a literal $"),
            ),
        ];
        for (input, want) in cases {
            let got = interpolate(input, &vars());
            assert_eq!(got.as_deref().map_err(String::as_str), *want, "{input}");
        }
    }

    #[test]
    fn plans_in_dependency_order() {
        let text = r#"
services:
  prometheus:
    image: gauntlet/prometheus:local
    network_mode: host
    depends_on: [alertmanager]
    volumes: ["${GAUNTLET_RUN_DIR}:${GAUNTLET_RUN_DIR}"]
    x-gauntlet: { component: prometheus, binary: prometheus }
  alertmanager:
    image: gauntlet/alertmanager:local
    network_mode: host
    x-gauntlet: { component: alertmanager, binary: alertmanager }
  web:
    image: example/web
    network_mode: host
    command: ["--port", "${GAUNTLET_PROMETHEUS_PORT}"]
    x-gauntlet: { ready: "http://127.0.0.1:${GAUNTLET_PROMETHEUS_PORT}/" }
"#;
        let file = ComposeFile::parse("c.yml", text).expect("parses");
        let plan = file.plan("c.yml", &vars()).expect("valid");
        let names: Vec<&str> = plan.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["alertmanager", "web", "prometheus"]);
        let prom = &plan[2];
        assert_eq!(
            (prom.image_name.as_str(), prom.image_tag.as_str()),
            ("gauntlet/prometheus", "local")
        );
        assert_eq!(prom.binary, Some(Binary::Prometheus));
        assert_eq!(
            prom.mounts,
            [BindMount {
                host: "/tmp/run".into(),
                container: "/tmp/run".into(),
                read_only: false
            }]
        );
        assert_eq!(plan[1].image_tag, "latest");
        assert_eq!(
            plan[1].command.as_deref(),
            Some(&["--port".to_string(), "9999".to_string()][..])
        );
        assert_eq!(plan[1].ready.as_deref(), Some("http://127.0.0.1:9999/"));
    }

    #[test]
    fn every_problem_is_reported_by_field() {
        let text = r#"
services:
  a:
    image: x:1
    depends_on: [b, ghost]
    volumes: [data:/data]
    x-gauntlet: { component: grafana, binary: nginx }
  b:
    image: y:1
    network_mode: host
    depends_on: [a]
    command: ["${MISSING}"]
"#;
        let file = ComposeFile::parse("c.yml", text).expect("parses");
        let err = file.plan("c.yml", &vars()).expect_err("invalid");
        let ComposeFileError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let expected = [
            "services.a.volumes[0]: \"data:/data\" is not an absolute host:container[:ro] bind mount (named volumes are not supported)",
            "services.a.network_mode: must be \"host\" (got \"unset\"); gauntlet runs everything on 127.0.0.1 without bridge networks",
            "services.a.depends_on: unknown service \"ghost\" (known: a, b)",
            "services.a.x-gauntlet.component: unknown component \"grafana\" (known: prometheus, alertmanager, jaeger-query, otel-collector, victoria-logs)",
            "services.a.x-gauntlet.binary: unknown binary \"nginx\" (known: prometheus, alertmanager, jaeger, victoria-logs)",
            "services.b.command[0]: unknown variable MISSING (known: GAUNTLET_PROMETHEUS_PORT, GAUNTLET_RUN_DIR)",
            "depends_on has a cycle through a",
        ];
        assert_eq!(problems, &expected);
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = ComposeFile::parse(
            "c.yml",
            "services:\n  a:\n    image: x\n    ports: [\"80:80\"]\n",
        )
        .expect_err("ports unsupported");
        assert!(err.to_string().contains("unknown field `ports`"), "{err}");
    }

    #[test]
    fn the_shipped_compose_file_plans() {
        let path =
            crate::stack::config::default_fixtures_dir().join("compose/docker-compose.test.yml");
        let file = ComposeFile::load(&path).expect("loads");
        let mut vars = vars();
        for c in ["ALERTMANAGER", "LOG_STORE"] {
            vars.insert(format!("GAUNTLET_{c}_PORT"), "1".into());
        }
        let plan = file.plan("compose", &vars).expect("valid");
        let components: BTreeSet<&str> =
            plan.iter().filter_map(|s| s.component.as_deref()).collect();
        assert_eq!(components, COMPONENTS.into_iter().collect());
    }
}
