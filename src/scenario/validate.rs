//! Pure validation: YAML text → [`Scenario`] or every problem found, each located.
//!
//! No network and no Docker. It reads only local files the scenario names (rule files,
//! the Alertmanager config, dashboards) to check alert, receiver and dashboard names and to
//! compute timing floors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use yaml_serde::Value;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::floor::timing_floor;
use super::model::*;
use super::raw::*;
use super::references::{self, References};
use super::source::{SourceMap, join_index, join_key};
use super::values::{parse_duration, parse_percent, parse_rate, show, similar};

const DEFAULT_SCRAPE: Duration = Duration::from_secs(15);
const DEFAULT_EVALUATION: Duration = Duration::from_secs(15);
const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
const DEFAULT_TELEMETRY_FLUSH: Duration = Duration::from_secs(1);
const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Added to the planned timeline for stack start-up and teardown.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(120);

/// Validates one scenario file's text. `file` names it in diagnostics and anchors relative
/// paths.
pub fn validate_text(file: &Path, text: &str) -> Result<Scenario, Diagnostics> {
    let mut v = Validator::new(file);
    let scenario = v.run(text);
    match scenario {
        Some(s) if v.diags.is_empty() => Ok(s),
        _ => {
            v.diags.sort_by_key(|a| a.position);
            Err(Diagnostics(v.diags))
        }
    }
}

struct Validator {
    file: PathBuf,
    base_dir: PathBuf,
    map: SourceMap,
    diags: Vec<Diagnostic>,
}

impl Validator {
    fn new(file: &Path) -> Self {
        let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Validator {
            file: file.to_path_buf(),
            base_dir,
            map: SourceMap::default(),
            diags: Vec::new(),
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>, hint: Option<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            position: self.map.locate(field),
            field: field.to_string(),
            message: message.into(),
            hint,
        });
    }

    fn error_at_key(&mut self, field: &str, message: impl Into<String>, hint: Option<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            position: self.map.locate_key(field),
            field: field.to_string(),
            message: message.into(),
            hint,
        });
    }

    /// Deserializes one piece of the document, reporting a type error at its exact path.
    fn piece<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut field = path.to_string();
                for segment in e.path() {
                    match segment {
                        serde_path_to_error::Segment::Seq { index } => {
                            field = join_index(&field, *index)
                        }
                        serde_path_to_error::Segment::Map { key } => field = join_key(&field, key),
                        serde_path_to_error::Segment::Enum { variant } => {
                            field = join_key(&field, variant)
                        }
                        serde_path_to_error::Segment::Unknown => {}
                    }
                }
                let message = e.into_inner().to_string();
                // serde names the offending key in its message; point at that key if we can.
                let unknown_key = message
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split('`').next())
                    .map(|key| join_key(&field, key));
                match unknown_key {
                    Some(key_path) if self.map.contains(&key_path) => {
                        self.error_at_key(&key_path, message, None)
                    }
                    _ => self.error(&field, message, None),
                }
                None
            }
        }
    }

    fn duration(&mut self, path: &str, text: Option<&String>) -> Option<Duration> {
        let text = text?;
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    path,
                    e,
                    Some("durations look like 500ms, 45s, 1m 30s".into()),
                );
                None
            }
        }
    }

    fn positive_duration(&mut self, path: &str, text: Option<&String>) -> Option<Duration> {
        let d = self.duration(path, text)?;
        if d.is_zero() {
            self.error(path, "must be greater than zero", None);
            return None;
        }
        Some(d)
    }

    fn run(&mut self, text: &str) -> Option<Scenario> {
        self.map = match SourceMap::parse(text) {
            Ok(map) => map,
            Err((position, message)) => {
                self.diags.push(Diagnostic {
                    file: self.file.clone(),
                    position,
                    field: String::new(),
                    message: format!("invalid YAML: {message}"),
                    hint: None,
                });
                return None;
            }
        };
        let doc: Value = match yaml_serde::from_str(text) {
            Ok(doc) => doc,
            Err(e) => {
                let position = e
                    .location()
                    .map(|l| super::source::Position {
                        line: l.line(),
                        column: l.column(),
                    })
                    .unwrap_or_default();
                self.diags.push(Diagnostic {
                    file: self.file.clone(),
                    position,
                    field: String::new(),
                    message: format!("invalid YAML: {e}"),
                    hint: None,
                });
                return None;
            }
        };
        let Value::Mapping(top) = doc else {
            self.error(
                "",
                "a scenario must be a mapping with at least `name`",
                None,
            );
            return None;
        };

        let mut sections: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in top {
            let Some(key) = key.as_str().map(str::to_string) else {
                self.error("", "top-level keys must be strings", None);
                continue;
            };
            if TOP_LEVEL_KEYS.contains(&key.as_str()) {
                sections.insert(key, value);
            } else {
                let hint = match similar(&key, TOP_LEVEL_KEYS.iter().copied()) {
                    Some(s) => format!(
                        "did you mean `{s}`? known fields: {}",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                    None => format!("known fields: {}", TOP_LEVEL_KEYS.join(", ")),
                };
                self.error_at_key(&key, format!("unknown field `{key}`"), Some(hint));
            }
        }

        let name = match sections.remove("name") {
            Some(v) => self.piece::<String>("name", v),
            None => {
                self.error(
                    "",
                    "missing field `name`",
                    Some("every scenario needs a `name`".into()),
                );
                None
            }
        };
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.error("name", "must not be empty", None);
        }
        let description = sections
            .remove("description")
            .and_then(|v| self.piece::<String>("description", v));
        let tags = sections
            .remove("tags")
            .and_then(|v| self.piece::<Vec<String>>("tags", v))
            .unwrap_or_default();

        let raw_stack = match sections.remove("stack") {
            Some(v) => self.piece::<RawStack>("stack", v),
            None => Some(RawStack::default()),
        };
        let stack = raw_stack.map(|r| self.stack(&r));

        let raw_services = match sections.remove("services") {
            Some(v) => self.piece::<RawServices>("services", v),
            None => Some(RawServices::default()),
        };
        let provider = stack
            .as_ref()
            .map(|s| s.spec.provider)
            .unwrap_or(Provider::Native);
        let services = raw_services.map(|r| self.services(&r, provider));
        let known_services: Vec<String> = services
            .as_ref()
            .map(|s| s.names.clone())
            .unwrap_or_default();

        let load = sections
            .remove("load")
            .and_then(|v| self.piece::<RawLoad>("load", v))
            .and_then(|r| self.load(&r, &known_services));

        let steady_raw = self.window_raw(&mut sections, "steady-state");
        let recover_raw = self.window_raw(&mut sections, "recover");

        let faults = match sections.remove("faults") {
            Some(v) => self.faults(v, &known_services, provider, services.as_ref()),
            None => Vec::new(),
        };

        let refs = stack
            .as_ref()
            .map(|s| s.references.clone())
            .unwrap_or_default();
        let stack_spec = stack.map(|s| s.spec);
        let fault_names: Vec<String> = faults.iter().map(|f| f.name.clone()).collect();
        let ctx = ExpectContext {
            services: &known_services,
            faults: &fault_names,
            stack: stack_spec.as_ref(),
            export_interval: services
                .as_ref()
                .map(|s| s.export_interval)
                .unwrap_or(DEFAULT_EXPORT_INTERVAL),
            refs: &refs,
        };

        let expect = match sections.remove("expect") {
            Some(v) => self.expectations(v, "expect", &ctx),
            None => Vec::new(),
        };

        let steady_state = steady_raw.and_then(|(head, items)| {
            let duration = match head.for_.as_ref() {
                Some(t) => self.positive_duration("steady-state.for", Some(t)),
                None => {
                    self.error(
                        "steady-state",
                        "missing field `for`",
                        Some(
                            "how long the stack must stay quiet under load, e.g. `for: 20s`".into(),
                        ),
                    );
                    None
                }
            };
            let expect = self.expectations(items, "steady-state.expect", &ctx);
            duration.map(|duration| Window { duration, expect })
        });
        let recover = recover_raw.map(|(head, items)| {
            let expect = self.expectations(items, "recover.expect", &ctx);
            let duration = match head.for_.as_ref() {
                Some(t) => self.positive_duration("recover.for", Some(t)),
                None => None,
            }
            .unwrap_or_else(|| {
                let longest = expect
                    .iter()
                    .filter_map(|e| e.within)
                    .max()
                    .unwrap_or(Duration::from_secs(30));
                longest + Duration::from_secs(5)
            });
            Window { duration, expect }
        });

        let overhead = sections
            .remove("overhead")
            .and_then(|v| self.piece::<RawOverhead>("overhead", v))
            .and_then(|r| self.overhead(&r));

        self.timeline_checks(&faults, load.as_ref(), steady_state.as_ref(), &expect);

        let planned = planned_length(
            load.as_ref(),
            steady_state.as_ref(),
            &faults,
            recover.as_ref(),
        );
        let timeout = match sections.remove("timeout") {
            Some(v) => {
                let text = self.piece::<String>("timeout", v);
                let t = self.positive_duration("timeout", text.as_ref());
                if let Some(t) = t
                    && t < planned
                {
                    self.error(
                        "timeout",
                        format!(
                            "timeout {} is shorter than the planned timeline {}",
                            show(t),
                            show(planned)
                        ),
                        Some("raise `timeout` or shorten load, faults or recovery".into()),
                    );
                }
                t
            }
            None => Some(planned + TIMEOUT_MARGIN),
        };

        Some(Scenario {
            name: name?,
            description,
            tags,
            file: self.file.clone(),
            stack: stack_spec?,
            services: services?,
            load,
            steady_state,
            faults,
            expect,
            recover,
            overhead,
            timeout: timeout?,
        })
    }

    fn window_raw(
        &mut self,
        sections: &mut BTreeMap<String, Value>,
        key: &str,
    ) -> Option<(RawWindowHead, Value)> {
        let value = sections.remove(key)?;
        let Value::Mapping(mut m) = value else {
            self.error(key, "must be a mapping with `for` and `expect`", None);
            return None;
        };
        let items = m.remove("expect").unwrap_or(Value::Sequence(Vec::new()));
        let head = self.piece::<RawWindowHead>(key, Value::Mapping(m))?;
        Some((head, items))
    }

    fn stack(&mut self, r: &RawStack) -> CheckedStack {
        let provider = match r.provider.as_deref() {
            None => Provider::Native,
            Some(p) => Provider::parse(p).unwrap_or_else(|| {
                self.error(
                    "stack.provider",
                    format!("unknown provider {p:?}"),
                    Some(format!("known providers: {}", Provider::NAMES.join(", "))),
                );
                Provider::Native
            }),
        };
        let scrape = self
            .positive_duration("stack.scrape-interval", r.scrape_interval.as_ref())
            .unwrap_or(DEFAULT_SCRAPE);
        let evaluation = self
            .positive_duration("stack.evaluation-interval", r.evaluation_interval.as_ref())
            .unwrap_or(DEFAULT_EVALUATION);
        let group_wait = self
            .duration("stack.group-wait", r.group_wait.as_ref())
            .unwrap_or(DEFAULT_GROUP_WAIT);
        let group_interval = self
            .positive_duration("stack.group-interval", r.group_interval.as_ref())
            .unwrap_or(DEFAULT_GROUP_INTERVAL);
        let repeat_interval = self
            .positive_duration("stack.repeat-interval", r.repeat_interval.as_ref())
            .unwrap_or(DEFAULT_REPEAT_INTERVAL);
        let alert_for = self.duration("stack.alert-for", r.alert_for.as_ref());
        let telemetry_flush = self
            .duration("stack.telemetry-flush", r.telemetry_flush.as_ref())
            .unwrap_or(DEFAULT_TELEMETRY_FLUSH);

        let fixtures = references::fixtures_dir(&self.base_dir);
        let rule_files = self.paths(
            "stack.rules",
            r.rules.as_ref(),
            fixtures.as_ref().map(|f| f.join("stack/prometheus/rules")),
            &["yml", "yaml"],
        );
        let dashboards = self.paths(
            "stack.dashboards",
            r.dashboards.as_ref(),
            fixtures
                .as_ref()
                .map(|f| f.join("stack/grafana/dashboards")),
            &["json"],
        );
        let alertmanager_config = match &r.alertmanager_config {
            Some(p) => {
                let path = self.base_dir.join(p);
                if !path.is_file() {
                    self.error(
                        "stack.alertmanager-config",
                        format!("file not found: {}", path.display()),
                        None,
                    );
                }
                Some(path)
            }
            None => fixtures
                .as_ref()
                .map(|f| f.join("stack/alertmanager/alertmanager.yml.tmpl"))
                .filter(|p| p.is_file()),
        };

        let mut references = References::default();
        match references::alert_rules(&rule_files) {
            Ok(rules) => references.alerts = rules,
            Err(e) => self.error("stack.rules", e, None),
        }
        if let Some(path) = &alertmanager_config {
            match references::receivers(path) {
                Ok(names) => references.receivers = names,
                Err(e) => self.error("stack.alertmanager-config", e, None),
            }
        }
        match references::dashboards(&dashboards) {
            Ok(d) => references.dashboards = d,
            Err(e) => self.error("stack.dashboards", e, None),
        }

        let compose_file = match provider {
            Provider::Compose => {
                let path = match &r.compose_file {
                    Some(p) => Some(self.base_dir.join(p)),
                    None => references::find_upwards(&self.base_dir, "docker-compose.test.yml"),
                };
                match path {
                    Some(p) if p.is_file() => Some(p),
                    Some(p) => {
                        self.error(
                            "stack.compose-file",
                            format!("file not found: {}", p.display()),
                            None,
                        );
                        None
                    }
                    None => {
                        self.error(
                            "stack.provider",
                            "provider `compose` needs a compose file and none was found",
                            Some("set `compose-file: path/to/docker-compose.yml`".into()),
                        );
                        None
                    }
                }
            }
            _ => {
                if r.compose_file.is_some() {
                    self.error_at_key(
                        "stack.compose-file",
                        "`compose-file` only applies to provider `compose`",
                        None,
                    );
                }
                None
            }
        };

        let urls = r.urls.clone().unwrap_or_default();
        for (component, url) in &urls {
            let path = format!("stack.urls.{component}");
            if !STACK_COMPONENTS.contains(&component.as_str())
                && component != "grafana"
                && component != "loki"
            {
                self.error_at_key(
                    &path,
                    format!("unknown component {component:?}"),
                    Some(format!(
                        "known components: {}, grafana, loki",
                        STACK_COMPONENTS.join(", ")
                    )),
                );
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.error(&path, format!("{url:?} is not an http(s) URL"), None);
            }
        }
        if provider == Provider::External && !urls.contains_key("prometheus") {
            self.error(
                "stack",
                "provider `external` needs `urls` with at least `prometheus`",
                Some("e.g. urls: { prometheus: http://127.0.0.1:9090, alertmanager: http://127.0.0.1:9093 }".into()),
            );
        }
        if provider == Provider::Kubernetes && r.namespace.is_none() {
            self.error(
                "stack",
                "provider `kubernetes` needs `namespace`",
                Some("the namespace must carry the label gauntlet.io/chaos=enabled".into()),
            );
        }
        if provider != Provider::Kubernetes {
            for (field, present) in [
                ("namespace", r.namespace.is_some()),
                ("context", r.context.is_some()),
            ] {
                if present {
                    self.error_at_key(
                        &format!("stack.{field}"),
                        format!("`{field}` only applies to provider `kubernetes`"),
                        None,
                    );
                }
            }
        }

        CheckedStack {
            spec: StackSpec {
                provider,
                scrape_interval: scrape,
                evaluation_interval: evaluation,
                group_wait,
                group_interval,
                repeat_interval,
                alert_for,
                telemetry_flush,
                rule_files,
                alertmanager_config,
                dashboards,
                compose_file,
                urls,
                namespace: r.namespace.clone(),
                context: r.context.clone(),
                alert_rules: references.alerts.clone(),
                receivers: references.receivers.clone(),
            },
            references,
        }
    }

    /// Resolves file-or-directory lists relative to the scenario file.
    fn paths(
        &mut self,
        field: &str,
        given: Option<&Vec<String>>,
        default: Option<PathBuf>,
        exts: &[&str],
    ) -> Vec<PathBuf> {
        let roots: Vec<(String, PathBuf)> = match given {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, p)| (join_index(field, i), self.base_dir.join(p)))
                .collect(),
            None => default
                .into_iter()
                .filter(|p| p.exists())
                .map(|p| (field.to_string(), p))
                .collect(),
        };
        let mut files = Vec::new();
        for (path_field, root) in roots {
            if root.is_dir() {
                match references::files_with_ext(&root, exts) {
                    Ok(found) => files.extend(found),
                    Err(e) => self.error(&path_field, e, None),
                }
            } else if root.is_file() {
                files.push(root);
            } else {
                self.error(
                    &path_field,
                    format!("no such file or directory: {}", root.display()),
                    None,
                );
            }
        }
        files
    }

    fn services(&mut self, r: &RawServices, provider: Provider) -> ServicesSpec {
        let default_mode = match provider {
            Provider::External | Provider::Kubernetes => ServicesMode::External,
            _ => ServicesMode::PerProcess,
        };
        let mode = match r.mode.as_deref() {
            None => default_mode,
            Some("per-process") => ServicesMode::PerProcess,
            Some("in-process") => ServicesMode::InProcess,
            Some("external") => ServicesMode::External,
            Some(other) => {
                self.error(
                    "services.mode",
                    format!("unknown mode {other:?}"),
                    Some("known modes: per-process, in-process, external".into()),
                );
                default_mode
            }
        };
        let instrumentation = match r.instrumentation.as_deref() {
            None | Some("full") => Instrumentation::Full,
            Some("metrics") => Instrumentation::Metrics,
            Some("off") => Instrumentation::Off,
            Some(other) => {
                self.error(
                    "services.instrumentation",
                    format!("unknown instrumentation level {other:?}"),
                    Some("known levels: off, metrics, full".into()),
                );
                Instrumentation::Full
            }
        };
        let endpoints = r.endpoints.clone().unwrap_or_default();
        let names: Vec<String> = if mode == ServicesMode::External {
            if r.only.is_some() {
                self.error_at_key(
                    "services.only",
                    "`only` does not apply to external services; list `endpoints`",
                    None,
                );
            }
            for (name, url) in &endpoints {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.error(
                        &format!("services.endpoints.{name}"),
                        format!("{url:?} is not an http(s) URL"),
                        None,
                    );
                }
            }
            endpoints.keys().cloned().collect()
        } else {
            if r.endpoints.is_some() {
                self.error_at_key(
                    "services.endpoints",
                    "`endpoints` only applies to `mode: external`",
                    None,
                );
            }
            match &r.only {
                None => BUILTIN_SERVICES.iter().map(|s| s.to_string()).collect(),
                Some(list) => {
                    for (i, name) in list.iter().enumerate() {
                        if !BUILTIN_SERVICES.contains(&name.as_str()) {
                            self.unknown_name(
                                &join_index("services.only", i),
                                "service",
                                name,
                                BUILTIN_SERVICES,
                            );
                        }
                        let needs = SERVICE_DEPENDENCIES
                            .iter()
                            .find(|(s, _)| s == name)
                            .map_or(&[][..], |(_, deps)| *deps);
                        let missing: Vec<&str> = needs
                            .iter()
                            .copied()
                            .filter(|d| !list.iter().any(|n| n == d))
                            .collect();
                        if !missing.is_empty() {
                            self.error(
                                &join_index("services.only", i),
                                format!(
                                    "{name} calls {}, which `only` leaves out",
                                    missing.join(", ")
                                ),
                                Some(format!("add {} to `services.only`", missing.join(", "))),
                            );
                        }
                    }
                    list.clone()
                }
            }
        };
        let export_interval = self
            .positive_duration("services.export-interval", r.export_interval.as_ref())
            .unwrap_or(DEFAULT_EXPORT_INTERVAL);
        ServicesSpec {
            mode,
            instrumentation,
            names,
            endpoints,
            export_interval,
        }
    }

    fn unknown_name(&mut self, field: &str, what: &str, name: &str, known: &[&str]) {
        let hint = match similar(name, known.iter().copied()) {
            Some(s) => format!("did you mean {s:?}? known: {}", known.join(", ")),
            None => format!("known: {}", known.join(", ")),
        };
        self.error(field, format!("unknown {what} {name:?}"), Some(hint));
    }

    fn load(&mut self, r: &RawLoad, services: &[String]) -> Option<LoadSpec> {
        let rate = match &r.rate {
            Some(t) => match parse_rate(t) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error("load.rate", e, Some("e.g. `rate: 200/s`".into()));
                    None
                }
            },
            None => {
                self.error(
                    "load",
                    "missing field `rate`",
                    Some("e.g. `rate: 200/s`".into()),
                );
                None
            }
        };
        let duration = match &r.duration {
            Some(t) => self.positive_duration("load.duration", Some(t)),
            None => {
                self.error(
                    "load",
                    "missing field `duration`",
                    Some("e.g. `duration: 90s`".into()),
                );
                None
            }
        };
        let ramp = self.duration("load.ramp", r.ramp.as_ref());
        if let (Some(ramp), Some(duration)) = (ramp, duration)
            && ramp >= duration
        {
            self.error(
                "load.ramp",
                format!(
                    "ramp {} is not shorter than the load duration {}",
                    show(ramp),
                    show(duration)
                ),
                None,
            );
        }
        let journeys = r
            .journeys
            .clone()
            .unwrap_or_else(|| vec!["browse".to_string()]);
        if journeys.is_empty() {
            self.error(
                "load.journeys",
                "must name at least one journey",
                Some(format!("known: {}", JOURNEYS.join(", "))),
            );
        }
        for (i, j) in journeys.iter().enumerate() {
            if !JOURNEYS.contains(&j.as_str()) {
                self.unknown_name(&join_index("load.journeys", i), "journey", j, JOURNEYS);
            }
        }
        let timeout = self
            .positive_duration("load.timeout", r.timeout.as_ref())
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let target = r.target.clone().unwrap_or_else(|| "frontend".to_string());
        if !services.contains(&target) {
            let known: Vec<&str> = services.iter().map(String::as_str).collect();
            self.unknown_name("load.target", "service", &target, &known);
        }
        if r.max_requests == Some(0) {
            self.error("load.max-requests", "must be at least 1", None);
        }
        let (rate, duration) = (rate?, duration?);
        let max_requests = r.max_requests.unwrap_or_else(|| {
            ((rate * duration.as_secs_f64() * 1.1).ceil() as u64).saturating_add(10)
        });
        Some(LoadSpec {
            rate,
            duration,
            ramp,
            journeys,
            max_requests,
            timeout,
            target,
        })
    }

    fn faults(
        &mut self,
        value: Value,
        services: &[String],
        provider: Provider,
        svc: Option<&ServicesSpec>,
    ) -> Vec<Fault> {
        let Value::Sequence(items) = value else {
            self.error("faults", "must be a list of faults", None);
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = join_index("faults", i);
            let Some(raw) = self.piece::<RawFault>(&path, item) else {
                continue;
            };
            if let Some(fault) = self.fault(&path, &raw, services, provider, svc) {
                if !names.insert(fault.name.clone()) {
                    self.error(
                        &join_key(&path, "name"),
                        format!("duplicate fault name {:?}", fault.name),
                        None,
                    );
                }
                out.push(fault);
            }
        }
        self.overlaps(&out);
        out
    }

    fn fault(
        &mut self,
        path: &str,
        r: &RawFault,
        services: &[String],
        provider: Provider,
        svc: Option<&ServicesSpec>,
    ) -> Option<Fault> {
        let Some(kind) = r.kind.as_deref() else {
            self.error(
                path,
                "missing field `kind`",
                Some(format!("known kinds: {}", FAULT_KINDS.join(", "))),
            );
            return None;
        };
        let Some(spec) = fault_spec(kind) else {
            self.unknown_name(&join_key(path, "kind"), "fault kind", kind, FAULT_KINDS);
            return None;
        };
        // Fields the kind does not use are mistakes, not decoration.
        for field in set_fault_fields(r) {
            if !spec.allowed.contains(&field) {
                self.error_at_key(
                    &join_key(path, field),
                    format!("`{field}` does not apply to kind `{kind}`"),
                    Some(format!("kind `{kind}` uses: {}", spec.allowed.join(", "))),
                );
            }
        }
        let at = match &r.at {
            Some(t) => self.duration(&join_key(path, "at"), Some(t)),
            None => {
                self.error(
                    path,
                    "missing field `at`",
                    Some("when to inject, from the start of the load, e.g. `at: 20s`".into()),
                );
                None
            }
        };
        let duration = match &r.for_ {
            Some(t) => self.positive_duration(&join_key(path, "for"), Some(t)),
            None if spec.needs_for => {
                self.error(
                    path,
                    "missing field `for`",
                    Some(format!("kind `{kind}` needs a duration, e.g. `for: 30s`")),
                );
                None
            }
            None => None,
        };
        if let Some(p) = spec.provider
            && provider != p
        {
            self.error(
                &join_key(path, "kind"),
                format!(
                    "kind `{kind}` needs provider `{}`, this scenario uses `{}`",
                    provider_name(p),
                    provider_name(provider)
                ),
                None,
            );
        }

        let known: Vec<&str> = services.iter().map(String::as_str).collect();
        let service =
            |v: &mut Self, field: &str, value: Option<&String>, required: bool| -> Option<String> {
                let fpath = join_key(path, field);
                match value {
                    Some(s) if known.contains(&s.as_str()) => Some(s.clone()),
                    Some(s) => {
                        v.unknown_name(&fpath, "service", s, &known);
                        None
                    }
                    None if required => {
                        v.error(
                            path,
                            format!("missing field `{field}`"),
                            Some(format!("known services: {}", known.join(", "))),
                        );
                        None
                    }
                    None => None,
                }
            };
        let endpoint = |v: &mut Self, field: &str, value: Option<&String>| -> Option<String> {
            let fpath = join_key(path, field);
            let mut all: Vec<&str> = known.clone();
            all.extend(STACK_COMPONENTS);
            match value {
                Some(s) if all.contains(&s.as_str()) => Some(s.clone()),
                Some(s) => {
                    v.unknown_name(&fpath, "service or component", s, &all);
                    None
                }
                None => {
                    v.error(
                        path,
                        format!("missing field `{field}`"),
                        Some(format!("known: {}", all.join(", "))),
                    );
                    None
                }
            }
        };
        let rate = |v: &mut Self, value: Option<f64>| -> Option<f64> {
            let r = value.unwrap_or(1.0);
            if !(r > 0.0 && r <= 1.0) {
                v.error(
                    &join_key(path, "rate"),
                    format!("rate must be in (0, 1], got {r}"),
                    Some("the fraction of requests affected, e.g. 0.3".into()),
                );
                return None;
            }
            Some(r)
        };
        let status = |v: &mut Self, value: Option<u16>, default: u16| -> Option<u16> {
            let s = value.unwrap_or(default);
            if !(100..=599).contains(&s) {
                v.error(
                    &join_key(path, "status"),
                    format!("HTTP status must be in 100..=599, got {s}"),
                    None,
                );
                return None;
            }
            Some(s)
        };
        let required_str = |v: &mut Self, field: &str, value: Option<&String>| -> Option<String> {
            if value.is_none() {
                v.error(path, format!("missing field `{field}`"), None);
            }
            value.cloned()
        };

        let action = match kind {
            "http-errors" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let rate = rate(self, r.rate);
                let status = status(self, r.status, 500);
                FaultAction::HttpErrors {
                    service: s?,
                    rate: rate?,
                    status: status?,
                    route: r.route.clone(),
                }
            }
            "latency" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let delay = match &r.delay {
                    Some(d) => self.positive_duration(&join_key(path, "delay"), Some(d)),
                    None => {
                        self.error(
                            path,
                            "missing field `delay`",
                            Some("e.g. `delay: 800ms`".into()),
                        );
                        None
                    }
                };
                let jitter = self
                    .duration(&join_key(path, "jitter"), r.jitter.as_ref())
                    .unwrap_or_default();
                let rate = rate(self, r.rate);
                FaultAction::Latency {
                    service: s?,
                    delay: delay?,
                    jitter,
                    rate: rate?,
                }
            }
            "hang" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let rate = rate(self, r.rate);
                FaultAction::Hang {
                    service: s?,
                    rate: rate?,
                }
            }
            "crash" => {
                let s = service(self, "service", r.service.as_ref(), true);
                FaultAction::Crash {
                    service: s?,
                    exit_code: r.exit_code.unwrap_or(1),
                }
            }
            "cpu-burn" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let threads = r.threads.unwrap_or(1);
                if threads == 0 || threads > 64 {
                    self.error(
                        &join_key(path, "threads"),
                        format!("threads must be in 1..=64, got {threads}"),
                        None,
                    );
                }
                FaultAction::CpuBurn {
                    service: s?,
                    threads,
                }
            }
            "memory-growth" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let (Some(mbps), Some(max)) = (r.mb_per_second, r.max_mb) else {
                    self.error(
                        path,
                        "missing field `mb-per-second` or `max-mb`",
                        Some("e.g. `mb-per-second: 10, max-mb: 200`".into()),
                    );
                    return None;
                };
                if mbps == 0 || max == 0 {
                    self.error(path, "`mb-per-second` and `max-mb` must be positive", None);
                }
                FaultAction::MemoryGrowth {
                    service: s?,
                    mb_per_second: mbps,
                    max_mb: max,
                }
            }
            "dependency-failure" => {
                let s = service(self, "service", r.service.as_ref(), true);
                let dep = service(self, "dependency", r.dependency.as_ref(), true);
                let rate = rate(self, r.rate);
                let status = status(self, r.status, 503);
                FaultAction::DependencyFailure {
                    service: s?,
                    dependency: dep?,
                    rate: rate?,
                    status: status?,
                }
            }
            "queue-stall" => {
                let s = service(
                    self,
                    "service",
                    r.service.as_ref().or(Some(&"worker".to_string())),
                    true,
                )?;
                if s != "worker" {
                    self.error(
                        &join_key(path, "service"),
                        "queue-stall applies only to the `worker` service",
                        None,
                    );
                }
                FaultAction::QueueStall { service: s }
            }
            "kill-process" | "pause-process" => {
                let target = endpoint(self, "target", r.target.as_ref())?;
                if services.contains(&target)
                    && svc.is_some_and(|s| s.mode != ServicesMode::PerProcess)
                {
                    self.error(
                        &join_key(path, "target"),
                        format!("kind `{kind}` on a service needs `services.mode: per-process`"),
                        None,
                    );
                }
                if STACK_COMPONENTS.contains(&target.as_str()) && provider != Provider::Native {
                    self.error(
                        &join_key(path, "target"),
                        format!("kind `{kind}` on stack component `{target}` needs provider `native` (use container-* with compose)"),
                        None,
                    );
                }
                if kind == "pause-process" {
                    FaultAction::PauseProcess { target }
                } else {
                    let signal = match r.signal.as_deref() {
                        None | Some("kill") | Some("SIGKILL") => KillSignal::Kill,
                        Some("term") | Some("SIGTERM") => KillSignal::Term,
                        Some(other) => {
                            self.error(
                                &join_key(path, "signal"),
                                format!("unknown signal {other:?}"),
                                Some("known: kill, term".into()),
                            );
                            return None;
                        }
                    };
                    FaultAction::KillProcess { target, signal }
                }
            }
            "container-stop" | "container-pause" | "container-kill" => {
                let container = required_str(self, "container", r.container.as_ref())?;
                match kind {
                    "container-stop" => FaultAction::ContainerStop { container },
                    "container-pause" => FaultAction::ContainerPause { container },
                    _ => FaultAction::ContainerKill { container },
                }
            }
            "network-delay" | "network-bandwidth" | "network-blackhole" | "network-reset" => {
                let from = endpoint(self, "from", r.from.as_ref());
                let to = endpoint(self, "to", r.to.as_ref());
                let (from, to) = (from?, to?);
                if from == to {
                    self.error(
                        &join_key(path, "to"),
                        format!("`from` and `to` are both {from:?}"),
                        None,
                    );
                }
                match kind {
                    "network-delay" => {
                        let delay = match &r.delay {
                            Some(d) => self.positive_duration(&join_key(path, "delay"), Some(d)),
                            None => {
                                self.error(path, "missing field `delay`", None);
                                None
                            }
                        };
                        let jitter = self
                            .duration(&join_key(path, "jitter"), r.jitter.as_ref())
                            .unwrap_or_default();
                        FaultAction::NetworkDelay {
                            from,
                            to,
                            delay: delay?,
                            jitter,
                        }
                    }
                    "network-bandwidth" => {
                        let Some(bps) = r.bytes_per_second.filter(|b| *b > 0) else {
                            self.error(path, "missing or zero field `bytes-per-second`", None);
                            return None;
                        };
                        FaultAction::NetworkBandwidth {
                            from,
                            to,
                            bytes_per_second: bps,
                        }
                    }
                    "network-blackhole" => FaultAction::NetworkBlackhole { from, to },
                    _ => FaultAction::NetworkReset { from, to },
                }
            }
            "pod-kill" | "network-partition" => {
                let selector = required_str(self, "selector", r.selector.as_ref())?;
                if !selector.contains('=') {
                    self.error(
                        &join_key(path, "selector"),
                        format!("{selector:?} is not a label selector"),
                        Some("e.g. `app=orders`".into()),
                    );
                }
                let namespace = r.namespace.clone();
                if kind == "pod-kill" {
                    FaultAction::PodKill {
                        selector,
                        namespace,
                    }
                } else {
                    FaultAction::NetworkPartition {
                        selector,
                        namespace,
                    }
                }
            }
            "scale-to-zero" | "rollout-restart" => {
                let workload = required_str(self, "workload", r.workload.as_ref())?;
                let valid = workload.split_once('/').is_some_and(|(k, n)| {
                    matches!(k, "deployment" | "statefulset") && !n.is_empty()
                });
                if !valid {
                    self.error(
                        &join_key(path, "workload"),
                        format!("{workload:?} is not a workload reference"),
                        Some("use deployment/NAME or statefulset/NAME".into()),
                    );
                }
                let namespace = r.namespace.clone();
                if kind == "scale-to-zero" {
                    FaultAction::ScaleToZero {
                        workload,
                        namespace,
                    }
                } else {
                    FaultAction::RolloutRestart {
                        workload,
                        namespace,
                    }
                }
            }
            _ => unreachable_kind(kind)?,
        };
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("{}@{}", action.kind(), action.target()));
        Some(Fault {
            name,
            at: at?,
            duration,
            action,
        })
    }

    /// Two faults on the same target at the same time that cannot both hold.
    fn overlaps(&mut self, faults: &[Fault]) {
        for (j, b) in faults.iter().enumerate() {
            for (i, a) in faults.iter().enumerate().take(j) {
                if a.target() != b.target() || !windows_overlap(a, b) {
                    continue;
                }
                let same_kind = a.action.kind() == b.action.kind();
                let exclusive = a.action.is_exclusive() || b.action.is_exclusive();
                let network = a.action.kind().starts_with("network-")
                    && b.action.kind().starts_with("network-");
                if same_kind || exclusive || network {
                    let reason = if same_kind {
                        format!("two `{}` faults on the same target", a.action.kind())
                    } else {
                        format!(
                            "`{}` cannot combine with `{}`",
                            b.action.kind(),
                            a.action.kind()
                        )
                    };
                    self.error(
                        &join_index("faults", j),
                        format!(
                            "overlaps faults[{i}] on {:?} ({} vs {}): {reason}",
                            a.target(),
                            window_text(a),
                            window_text(b)
                        ),
                        Some("move one fault so the windows do not overlap, or merge them".into()),
                    );
                }
            }
        }
    }

    fn expectations(&mut self, value: Value, base: &str, ctx: &ExpectContext) -> Vec<Expectation> {
        let Value::Sequence(items) = value else {
            self.error(base, "must be a list of expectations", None);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = join_index(base, i);
            let Some(raw) = self.piece::<RawExpectation>(&path, item) else {
                continue;
            };
            if let Some(e) = self.expectation(&path, &raw, ctx) {
                out.push(e);
            }
        }
        out
    }

    fn expectation(
        &mut self,
        path: &str,
        r: &RawExpectation,
        ctx: &ExpectContext,
    ) -> Option<Expectation> {
        let mut kinds: Vec<&str> = Vec::new();
        for (k, present) in [
            ("metric", r.metric.is_some()),
            ("notification", r.notification.is_some()),
            ("alert", r.alert.is_some() && r.notification.is_none()),
            ("trace", r.trace.is_some()),
            ("log", r.log.is_some()),
            ("dashboard", r.dashboard.is_some()),
            ("no-alerts", r.no_alerts.is_some()),
            ("correlation", r.correlation.is_some()),
        ] {
            if present {
                kinds.push(k);
            }
        }
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                self.error(
                    path,
                    "expectation has no kind",
                    Some(format!("start it with one of: {}", EXPECT_KINDS.join(", "))),
                );
                return None;
            }
            [a, b, ..] => {
                self.error(
                    path,
                    format!("expectation mixes kinds `{a}` and `{b}`"),
                    Some("write one expectation per list item".into()),
                );
                return None;
            }
        };
        let allowed = expect_fields(kind);
        for field in set_expect_fields(r) {
            if !allowed.contains(&field) {
                self.error_at_key(
                    &join_key(path, field),
                    format!("`{field}` does not apply to a `{kind}` expectation"),
                    Some(format!(
                        "a `{kind}` expectation uses: {}",
                        allowed.join(", ")
                    )),
                );
            }
        }

        let within = match (&r.within, kind) {
            (Some(t), _) => self.positive_duration(&join_key(path, "within"), Some(t)),
            (None, "no-alerts") => None,
            (None, _) => {
                self.error(
                    path,
                    "missing deadline `within`",
                    Some("how long the stack may take to react, e.g. `within: 20s`".into()),
                );
                None
            }
        };
        if let Some(after) = &r.after
            && !ctx.faults.contains(after)
        {
            let known: Vec<&str> = ctx.faults.iter().map(String::as_str).collect();
            self.unknown_name(&join_key(path, "after"), "fault", after, &known);
        }

        let check = self.check(path, kind, r, ctx)?;
        let stack = ctx.stack?;
        let (floor, floor_explained) = timing_floor(&check, stack, ctx.export_interval);
        if let Some(w) = within
            && w < floor
        {
            self.error(
                &join_key(path, "within"),
                format!(
                    "deadline {} is below the timing floor {} ({floor_explained})",
                    show(w),
                    show(floor)
                ),
                Some(format!(
                    "raise `within` to at least {}, or shorten the intervals in `stack`",
                    show(floor)
                )),
            );
        }
        Some(Expectation {
            id: path.to_string(),
            name: r.name.clone(),
            within,
            after: r.after.clone(),
            floor,
            floor_explained,
            check,
        })
    }

    fn check(
        &mut self,
        path: &str,
        kind: &str,
        r: &RawExpectation,
        ctx: &ExpectContext,
    ) -> Option<Check> {
        let labels = r.labels.clone().unwrap_or_default();
        Some(match kind {
            "metric" => {
                let query = r.metric.clone()?;
                if let Err(e) = promql_parser::parser::parse(&query) {
                    self.error(
                        &join_key(path, "metric"),
                        format!("PromQL does not parse: {e}"),
                        None,
                    );
                    return None;
                }
                Check::Metric { query }
            }
            "alert" => {
                let alert = r.alert.clone()?;
                self.known_alert(&join_key(path, "alert"), &alert, ctx);
                let state = match r.state.as_deref() {
                    None | Some("firing") => AlertState::Firing,
                    Some("pending") => AlertState::Pending,
                    Some("resolved") => AlertState::Resolved,
                    Some("inactive") => AlertState::Inactive,
                    Some(other) => {
                        self.error(
                            &join_key(path, "state"),
                            format!("unknown alert state {other:?}"),
                            Some("known: firing, pending, resolved, inactive".into()),
                        );
                        return None;
                    }
                };
                Check::Alert {
                    alert,
                    labels,
                    state,
                }
            }
            "notification" => {
                let receiver = r.notification.clone()?;
                if !ctx.refs.receivers.is_empty() && !ctx.refs.receivers.contains(&receiver) {
                    let known: Vec<&str> = ctx.refs.receivers.iter().map(String::as_str).collect();
                    self.unknown_name(
                        &join_key(path, "notification"),
                        "receiver",
                        &receiver,
                        &known,
                    );
                }
                if let Some(alert) = &r.alert {
                    self.known_alert(&join_key(path, "alert"), alert, ctx);
                }
                let status = match r.status.as_deref() {
                    None | Some("firing") => NotificationStatus::Firing,
                    Some("resolved") => NotificationStatus::Resolved,
                    Some(other) => {
                        self.error(
                            &join_key(path, "status"),
                            format!("unknown notification status {other:?}"),
                            Some("known: firing, resolved".into()),
                        );
                        return None;
                    }
                };
                Check::Notification {
                    receiver,
                    alert: r.alert.clone(),
                    labels,
                    status,
                }
            }
            "trace" => {
                let t = r.trace.clone()?;
                let tpath = join_key(path, "trace");
                let service = self.expect_service(&tpath, "service", t.service.as_ref(), ctx)?;
                let spans_from = t.spans_from.clone().unwrap_or_default();
                for (i, s) in spans_from.iter().enumerate() {
                    self.expect_service(
                        &join_index(&join_key(&tpath, "spans-from"), i),
                        "",
                        Some(s),
                        ctx,
                    );
                }
                Check::Trace {
                    service,
                    operation: t.operation,
                    error: t.error,
                    spans_from,
                    tags: t.tags.unwrap_or_default(),
                }
            }
            "log" => {
                let l = r.log.clone()?;
                let lpath = join_key(path, "log");
                let service = self.expect_service(&lpath, "service", l.service.as_ref(), ctx)?;
                let level = match l.level.as_deref() {
                    None => None,
                    Some("debug") => Some(LogLevel::Debug),
                    Some("info") => Some(LogLevel::Info),
                    Some("warn") | Some("warning") => Some(LogLevel::Warn),
                    Some("error") => Some(LogLevel::Error),
                    Some(other) => {
                        self.error(
                            &join_key(&lpath, "level"),
                            format!("unknown log level {other:?}"),
                            Some("known: debug, info, warn, error".into()),
                        );
                        return None;
                    }
                };
                Check::Log {
                    service,
                    level,
                    contains: l.contains,
                    correlated_trace: l.correlated_trace.unwrap_or(false),
                }
            }
            "dashboard" => {
                let dashboard = r.dashboard.clone()?;
                let known = &ctx.refs.dashboards;
                let entry = known.get(&dashboard);
                if !known.is_empty() && entry.is_none() {
                    let names: Vec<&str> = known.keys().map(String::as_str).collect();
                    self.unknown_name(
                        &join_key(path, "dashboard"),
                        "dashboard",
                        &dashboard,
                        &names,
                    );
                }
                match (&r.panels, &r.panel) {
                    (Some(p), None) if p == "all-have-data" => {
                        Check::DashboardHasData { dashboard }
                    }
                    (Some(p), None) => {
                        self.error(
                            &join_key(path, "panels"),
                            format!("unknown panels condition {p:?}"),
                            Some(
                                "known: all-have-data (or use `panel:` with `above:`/`below:`)"
                                    .into(),
                            ),
                        );
                        return None;
                    }
                    (None, Some(panel)) => {
                        if let Some(titles) = entry
                            && !titles.contains(panel)
                        {
                            let known: Vec<&str> = titles.iter().map(String::as_str).collect();
                            self.unknown_name(&join_key(path, "panel"), "panel", panel, &known);
                        }
                        if r.above.is_none() && r.below.is_none() {
                            self.error(
                                path,
                                "a `panel` expectation needs `above` or `below`",
                                None,
                            );
                            return None;
                        }
                        Check::DashboardPanel {
                            dashboard,
                            panel: panel.clone(),
                            above: r.above,
                            below: r.below,
                        }
                    }
                    (Some(_), Some(_)) => {
                        self.error(
                            path,
                            "use either `panels: all-have-data` or `panel:`, not both",
                            None,
                        );
                        return None;
                    }
                    (None, None) => {
                        self.error(
                            path,
                            "a dashboard expectation needs `panels: all-have-data` or `panel:`",
                            None,
                        );
                        return None;
                    }
                }
            }
            "no-alerts" => {
                let alerts = match r.no_alerts.clone()? {
                    AlertNames::Any => None,
                    AlertNames::Named(names) => {
                        for (i, n) in names.iter().enumerate() {
                            self.known_alert(&join_index(&join_key(path, "no-alerts"), i), n, ctx);
                        }
                        Some(names)
                    }
                };
                Check::NoAlerts { alerts }
            }
            "correlation" => {
                let c = r.correlation.clone()?;
                let find_in = c
                    .find_in
                    .unwrap_or_else(|| vec!["traces".into(), "logs".into()]);
                for (i, f) in find_in.iter().enumerate() {
                    if f != "traces" && f != "logs" {
                        self.error(
                            &join_index(&join_key(&join_key(path, "correlation"), "find-in"), i),
                            format!("unknown signal {f:?}"),
                            Some("known: traces, logs".into()),
                        );
                    }
                }
                Check::Correlation {
                    find_in,
                    min_requests: c.min_requests.unwrap_or(1).max(1),
                }
            }
            _ => return None,
        })
    }

    fn known_alert(&mut self, field: &str, alert: &str, ctx: &ExpectContext) {
        let known = &ctx.refs.alerts;
        if !known.is_empty() && !known.contains_key(alert) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            self.unknown_name(field, "alert", alert, &names);
        }
    }

    fn expect_service(
        &mut self,
        base: &str,
        field: &str,
        value: Option<&String>,
        ctx: &ExpectContext,
    ) -> Option<String> {
        let path = if field.is_empty() {
            base.to_string()
        } else {
            join_key(base, field)
        };
        let known: Vec<&str> = ctx.services.iter().map(String::as_str).collect();
        match value {
            Some(s) if known.contains(&s.as_str()) => Some(s.clone()),
            Some(s) => {
                self.unknown_name(&path, "service", s, &known);
                None
            }
            None => {
                self.error(
                    base,
                    format!("missing field `{field}`"),
                    Some(format!("known services: {}", known.join(", "))),
                );
                None
            }
        }
    }

    fn overhead(&mut self, r: &RawOverhead) -> Option<OverheadSpec> {
        let pct = |v: &mut Self, field: &str, value: Option<&String>| -> Option<f64> {
            let text = value?;
            match parse_percent(text) {
                Ok(p) => Some(p),
                Err(e) => {
                    v.error(&format!("overhead.{field}"), e, None);
                    None
                }
            }
        };
        let p99 = pct(
            self,
            "max-latency-p99-increase",
            r.max_latency_p99_increase.as_ref(),
        );
        let tput = pct(self, "max-throughput-drop", r.max_throughput_drop.as_ref());
        if r.max_latency_p99_increase.is_none() && r.max_throughput_drop.is_none() {
            self.error(
                "overhead",
                "needs `max-latency-p99-increase` and/or `max-throughput-drop`",
                None,
            );
            return None;
        }
        let rate = match &r.rate {
            Some(t) => match parse_rate(t) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error("overhead.rate", e, None);
                    None
                }
            },
            None => None,
        };
        let duration = self.positive_duration("overhead.duration", r.duration.as_ref());
        Some(OverheadSpec {
            max_latency_p99_increase_pct: p99.unwrap_or(100.0),
            max_throughput_drop_pct: tput.unwrap_or(100.0),
            rate,
            duration,
        })
    }

    fn timeline_checks(
        &mut self,
        faults: &[Fault],
        load: Option<&LoadSpec>,
        steady: Option<&Window>,
        expect: &[Expectation],
    ) {
        for (i, f) in faults.iter().enumerate() {
            let path = join_key(&join_index("faults", i), "at");
            if let Some(ss) = steady
                && f.at < ss.duration
            {
                self.error(
                    &path,
                    format!(
                        "fault at {} starts inside the steady-state window (0s–{})",
                        show(f.at),
                        show(ss.duration)
                    ),
                    Some(
                        "faults start after steady state; move `at` or shorten `steady-state.for`"
                            .into(),
                    ),
                );
            }
            if let Some(load) = load
                && f.at >= load.duration
            {
                self.error(
                        &path,
                        format!("fault at {} starts after the load ends at {}", show(f.at), show(load.duration)),
                        Some("the stack cannot react to a fault nobody exercises; lengthen `load.duration`".into()),
                    );
            }
        }
        if faults.is_empty()
            && let Some(e) = expect.iter().find(|e| e.within.is_some())
        {
            // Deadlines then count from the start of the load; allowed, but `after` is not.
            if e.after.is_some() {
                self.error(
                    &join_key(&e.id, "after"),
                    "there are no faults to measure from",
                    None,
                );
            }
        }
    }
}

struct CheckedStack {
    spec: StackSpec,
    references: References,
}

struct ExpectContext<'a> {
    services: &'a [String],
    faults: &'a [String],
    stack: Option<&'a StackSpec>,
    export_interval: Duration,
    refs: &'a References,
}

fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Native => "native",
        Provider::Compose => "compose",
        Provider::External => "external",
        Provider::Kubernetes => "kubernetes",
    }
}

fn unreachable_kind(_kind: &str) -> Option<FaultAction> {
    // fault_spec() already rejected unknown kinds; every known kind has an arm above.
    None
}

fn windows_overlap(a: &Fault, b: &Fault) -> bool {
    let end = |f: &Fault| f.duration.map(|d| f.at + d).unwrap_or(Duration::MAX);
    a.at < end(b) && b.at < end(a)
}

fn window_text(f: &Fault) -> String {
    match f.duration {
        Some(d) => format!("{}–{}", show(f.at), show(f.at + d)),
        None => format!("{}–end", show(f.at)),
    }
}

fn planned_length(
    load: Option<&LoadSpec>,
    steady: Option<&Window>,
    faults: &[Fault],
    recover: Option<&Window>,
) -> Duration {
    let load_end = load.map(|l| l.duration).unwrap_or_default();
    let steady_end = steady.map(|s| s.duration).unwrap_or_default();
    let faults_end = faults
        .iter()
        .map(|f| f.at + f.duration.unwrap_or_default())
        .max()
        .unwrap_or_default();
    let recover_len = recover.map(|r| r.duration).unwrap_or_default();
    load_end.max(steady_end).max(faults_end + recover_len)
}

/// Every fault kind, for hints.
pub const FAULT_KINDS: &[&str] = &[
    "http-errors",
    "latency",
    "hang",
    "crash",
    "cpu-burn",
    "memory-growth",
    "dependency-failure",
    "queue-stall",
    "kill-process",
    "pause-process",
    "container-stop",
    "container-pause",
    "container-kill",
    "network-delay",
    "network-bandwidth",
    "network-blackhole",
    "network-reset",
    "pod-kill",
    "scale-to-zero",
    "rollout-restart",
    "network-partition",
];

/// Every expectation kind, for hints.
pub const EXPECT_KINDS: &[&str] = &[
    "metric",
    "alert",
    "notification",
    "trace",
    "log",
    "dashboard",
    "no-alerts",
    "correlation",
];

struct FaultSpec {
    allowed: &'static [&'static str],
    needs_for: bool,
    provider: Option<Provider>,
}

fn fault_spec(kind: &str) -> Option<FaultSpec> {
    let (allowed, needs_for, provider): (&'static [&'static str], bool, Option<Provider>) =
        match kind {
            "http-errors" => (&["service", "rate", "status", "route"], true, None),
            "latency" => (&["service", "delay", "jitter", "rate"], true, None),
            "hang" => (&["service", "rate"], true, None),
            "crash" => (&["service", "exit-code"], false, None),
            "cpu-burn" => (&["service", "threads"], true, None),
            "memory-growth" => (&["service", "mb-per-second", "max-mb"], true, None),
            "dependency-failure" => (&["service", "dependency", "rate", "status"], true, None),
            "queue-stall" => (&["service"], true, None),
            "kill-process" => (&["target", "signal"], false, None),
            "pause-process" => (&["target"], true, None),
            "container-stop" | "container-pause" | "container-kill" => (
                &["container"],
                kind == "container-pause",
                Some(Provider::Compose),
            ),
            "network-delay" => (&["from", "to", "delay", "jitter"], true, None),
            "network-bandwidth" => (&["from", "to", "bytes-per-second"], true, None),
            "network-blackhole" | "network-reset" => (&["from", "to"], true, None),
            "pod-kill" => (
                &["selector", "namespace"],
                false,
                Some(Provider::Kubernetes),
            ),
            "network-partition" => (&["selector", "namespace"], true, Some(Provider::Kubernetes)),
            "scale-to-zero" => (&["workload", "namespace"], true, Some(Provider::Kubernetes)),
            "rollout-restart" => (
                &["workload", "namespace"],
                false,
                Some(Provider::Kubernetes),
            ),
            _ => return None,
        };
    Some(FaultSpec {
        allowed,
        needs_for,
        provider,
    })
}

fn set_fault_fields(r: &RawFault) -> Vec<&'static str> {
    [
        ("service", r.service.is_some()),
        ("target", r.target.is_some()),
        ("rate", r.rate.is_some()),
        ("status", r.status.is_some()),
        ("route", r.route.is_some()),
        ("delay", r.delay.is_some()),
        ("jitter", r.jitter.is_some()),
        ("exit-code", r.exit_code.is_some()),
        ("threads", r.threads.is_some()),
        ("mb-per-second", r.mb_per_second.is_some()),
        ("max-mb", r.max_mb.is_some()),
        ("dependency", r.dependency.is_some()),
        ("signal", r.signal.is_some()),
        ("container", r.container.is_some()),
        ("from", r.from.is_some()),
        ("to", r.to.is_some()),
        ("bytes-per-second", r.bytes_per_second.is_some()),
        ("selector", r.selector.is_some()),
        ("namespace", r.namespace.is_some()),
        ("workload", r.workload.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

fn expect_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "metric" => &["name", "within", "after", "metric"],
        "alert" => &["name", "within", "after", "alert", "labels", "state"],
        "notification" => &[
            "name",
            "within",
            "after",
            "notification",
            "alert",
            "labels",
            "status",
        ],
        "trace" => &["name", "within", "after", "trace"],
        "log" => &["name", "within", "after", "log"],
        "dashboard" => &[
            "name",
            "within",
            "after",
            "dashboard",
            "panels",
            "panel",
            "above",
            "below",
        ],
        "no-alerts" => &["name", "no-alerts"],
        "correlation" => &["name", "within", "after", "correlation"],
        _ => &[],
    }
}

fn set_expect_fields(r: &RawExpectation) -> Vec<&'static str> {
    [
        ("name", r.name.is_some()),
        ("within", r.within.is_some()),
        ("after", r.after.is_some()),
        ("metric", r.metric.is_some()),
        ("alert", r.alert.is_some()),
        ("labels", r.labels.is_some()),
        ("state", r.state.is_some()),
        ("notification", r.notification.is_some()),
        ("status", r.status.is_some()),
        ("trace", r.trace.is_some()),
        ("log", r.log.is_some()),
        ("dashboard", r.dashboard.is_some()),
        ("panels", r.panels.is_some()),
        ("panel", r.panel.is_some()),
        ("above", r.above.is_some()),
        ("below", r.below.is_some()),
        ("no-alerts", r.no_alerts.is_some()),
        ("correlation", r.correlation.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}
