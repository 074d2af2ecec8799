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

mod alertmanager;
mod expectations;
mod faults;
mod proxies;
mod shape;
mod trace_store;

pub use expectations::EXPECT_KINDS;

use crate::scenario::datasources;
use crate::scenario::diagnostic::{Diagnostic, Diagnostics};
use crate::scenario::floor::timing_floor;
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::scenario::references::{self, References};
use crate::scenario::source::{SourceMap, join_index, join_key};
use crate::scenario::values::{
    parse_duration, parse_percent, parse_rate, parse_think_time, show, similar,
};

const DEFAULT_SCRAPE: Duration = Duration::from_secs(15);
const DEFAULT_EVALUATION: Duration = Duration::from_secs(15);
const DEFAULT_TELEMETRY_FLUSH: Duration = Duration::from_secs(1);
/// A/B/A' rounds of the overhead measurement when the scenario gives none.
const DEFAULT_OVERHEAD_ROUNDS: u32 = 5;
const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Each closed-model user is a goose task with its own HTTP client and cookie store.
const MAX_CLOSED_USERS: u64 = 10_000;
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
        if let (Some(s), Some(l)) = (services.as_ref(), load.as_ref()) {
            self.replicated_load_target(s, &l.target);
        }

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
        if let Some(spec) = &stack_spec {
            self.trace_store_faults(&faults, spec.trace_store);
        }
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
        // Explicit values only: they replace the route tree's own (see `alertmanager`).
        let route_overrides = crate::stack::alertmanager::RouteTimings {
            group_wait: self.duration("stack.group-wait", r.group_wait.as_ref()),
            group_interval: self
                .positive_duration("stack.group-interval", r.group_interval.as_ref()),
            repeat_interval: self
                .positive_duration("stack.repeat-interval", r.repeat_interval.as_ref()),
        };
        let alert_for = self.duration("stack.alert-for", r.alert_for.as_ref());
        if alert_for.is_some() && matches!(provider, Provider::External | Provider::Kubernetes) {
            self.error_at_key(
                "stack.alert-for",
                format!(
                    "`alert-for` only applies to stacks gauntlet starts (native, compose), not `{}`",
                    provider_name(provider)
                ),
                Some("a running stack keeps its own rules; list them in `rules` so deadlines are checked against their real `for`".into()),
            );
        }
        let telemetry_flush = self
            .duration("stack.telemetry-flush", r.telemetry_flush.as_ref())
            .unwrap_or(DEFAULT_TELEMETRY_FLUSH);
        let prometheus_version = self.prometheus_version(r.prometheus_version.as_ref(), provider);
        let trace_store = self.trace_store(r.trace_store.as_ref(), provider);

        let fixtures = references::fixtures_dir(&self.base_dir);
        let rule_files: Vec<PathBuf> = self
            .paths(
                "stack.rules",
                r.rules.as_ref(),
                fixtures.as_ref().map(|f| f.join("stack/prometheus/rules")),
                &["yml", "yaml"],
            )
            .into_iter()
            .map(|(_, file)| file)
            .collect();
        let dashboard_files = self.paths(
            "stack.dashboards",
            r.dashboards.as_ref(),
            fixtures
                .as_ref()
                .map(|f| f.join("stack/grafana/dashboards")),
            &["json"],
        );
        let dashboards: Vec<PathBuf> = dashboard_files.iter().map(|(_, f)| f.clone()).collect();
        let am = self.alertmanager(
            r.alertmanager_config.as_ref(),
            provider,
            fixtures.as_deref(),
            route_overrides,
        );

        let mut references = References::default();
        match references::rules(&rule_files) {
            Ok(rules) => {
                references.alerts = rules.alerts;
                references.recorded = rules.recorded;
            }
            Err(e) => self.error("stack.rules", e, None),
        }
        references.receivers = am.receivers.clone();
        references.silent_receivers = am.silent_receivers.clone();
        for (field, file) in &dashboard_files {
            match references::dashboard(file) {
                Ok((names, info)) => {
                    for name in names {
                        references.dashboards.insert(name, info.clone());
                    }
                }
                // The runner would skip this file and report its checks as "not found".
                Err(e) => self.error(
                    field,
                    format!("dashboard {} cannot be read: {e}", self.shown(file)),
                    Some("export the dashboard as JSON from Grafana (Share → Export) or fix the file".into()),
                ),
            }
        }

        self.dashboard_datasources(r, provider, fixtures.as_deref(), &dashboard_files);

        let compose_file = match provider {
            Provider::Compose => {
                let path = match &r.compose_file {
                    Some(p) => Some(self.base_dir.join(p)),
                    // gauntlet's own compose set (local images of the same components).
                    None => fixtures
                        .as_ref()
                        .map(|f| f.join("stack/compose/docker-compose.test.yml")),
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
        if !urls.is_empty() && matches!(provider, Provider::Native | Provider::Compose) {
            // gauntlet starts these components on ports it chooses; a URL here would be
            // accepted and never read.
            self.error_at_key(
                "stack.urls",
                format!(
                    "`urls` only applies to stacks gauntlet does not run (external, kubernetes), not `{}`",
                    provider_name(provider)
                ),
                Some("gauntlet starts every component itself; remove `urls`, or use provider `external`".into()),
            );
        }
        for (component, url) in &urls {
            let path = format!("stack.urls.{component}");
            if component == "trace-store" {
                // Spans are read through Jaeger's API, never from its storage directly.
                self.error_at_key(
                    &path,
                    "gauntlet reads spans through Jaeger's query API, not from its storage",
                    Some("give Jaeger's query URL as `urls.jaeger`".into()),
                );
                continue;
            }
            if component == "grafana" {
                // Dashboards are read from files and their queries run against Prometheus;
                // no probe asks Grafana, so accepting its URL would pretend it was checked.
                self.error_at_key(
                    &path,
                    "gauntlet does not query Grafana: dashboard checks evaluate the panels of the `stack.dashboards` files against Prometheus",
                    Some("export the dashboards as JSON, list them in `stack.dashboards`, and remove `urls.grafana`".into()),
                );
                continue;
            }
            if !STACK_COMPONENTS.contains(&component.as_str())
                && !URL_ONLY_COMPONENTS.contains(&component.as_str())
            {
                self.error_at_key(
                    &path,
                    format!("unknown component {component:?}"),
                    Some(format!(
                        "known components: {}, {}",
                        STACK_COMPONENTS.join(", "),
                        URL_ONLY_COMPONENTS.join(", ")
                    )),
                );
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.error(
                    &path,
                    format!("{:?} is not an http(s) URL", crate::redact::url(url)),
                    None,
                );
            } else if url.contains(['?', '#']) {
                // Clients append API paths and queries to a base URL; the run would refuse it.
                self.error(
                    &path,
                    format!(
                        "{:?}: a base URL takes no query or fragment",
                        crate::redact::url(url)
                    ),
                    Some("credentials go in the user info: http://user:password@host:port (sent as basic auth, masked in reports)".into()),
                );
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
                ("observe-namespace", r.observe_namespace.is_some()),
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

        let webhook_listen = match &r.webhook_listen {
            None => None,
            Some(_) if !matches!(provider, Provider::External | Provider::Kubernetes) => {
                self.error_at_key(
                    "stack.webhook-listen",
                    format!(
                        "`webhook-listen` only applies to stacks gauntlet does not run, not `{}`",
                        provider_name(provider)
                    ),
                    Some("gauntlet points the Alertmanager it starts at its own webhook".into()),
                );
                None
            }
            Some(text) => match text.parse::<std::net::SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.error_at_key(
                        "stack.webhook-listen",
                        format!("{text:?} is not an ip:port address"),
                        Some("e.g. webhook-listen: 127.0.0.1:9099, with the Alertmanager receiver's webhook url http://127.0.0.1:9099/hook/<token>/<receiver> and the token in GAUNTLET_WEBHOOK_TOKEN".into()),
                    );
                    None
                }
            },
        };

        CheckedStack {
            spec: StackSpec {
                provider,
                scrape_interval: scrape,
                evaluation_interval: evaluation,
                group_wait: am.timings.group_wait,
                group_interval: am.timings.group_interval,
                repeat_interval: am.timings.repeat_interval,
                route_overrides,
                receiver_timings: am.receiver_timings,
                config_notes: [am.notes, prometheus_version.config_notes()].concat(),
                alert_for,
                telemetry_flush,
                trace_store,
                rule_files,
                alertmanager_config: am.path,
                dashboards,
                compose_file,
                urls,
                namespace: r.namespace.clone(),
                observe_namespace: r.observe_namespace.clone(),
                webhook_listen,
                context: r.context.clone(),
                // The shortest `for` of the rules sharing a name: floors are lower bounds.
                alert_rules: references
                    .alerts
                    .iter()
                    .filter_map(|(name, rules)| {
                        rules
                            .iter()
                            .map(|r| r.for_)
                            .min()
                            .map(|f| (name.clone(), f))
                    })
                    .collect(),
                receivers: references.receivers.clone(),
                prometheus_version,
            },
            references,
        }
    }

    /// Every dashboard's datasource references against the datasources provisioned for the
    /// run: the user's `grafana-datasources` file, else (for stacks gauntlet starts) the one it
    /// provisions for its own stack. A stack someone else runs has datasources gauntlet cannot
    /// know without the file, so its dashboards are not checked then.
    fn dashboard_datasources(
        &mut self,
        r: &RawStack,
        provider: Provider,
        fixtures: Option<&Path>,
        dashboard_files: &[(String, PathBuf)],
    ) {
        let field = "stack.grafana-datasources";
        let known = match &r.grafana_datasources {
            Some(p) => {
                let file = self.base_dir.join(p);
                match datasources::read_provisioning(&file, &self.shown(&file)) {
                    Ok(known) => known,
                    Err(e) => {
                        self.error(
                            field,
                            format!("{}: {e}", self.shown(&file)),
                            Some("give Grafana's provisioning file (apiVersion: 1, datasources: [{ name, type, uid, url }]) or its provisioning/datasources folder".into()),
                        );
                        return;
                    }
                }
            }
            None if matches!(provider, Provider::Native | Provider::Compose) => {
                let Some(file) = fixtures.map(|f| f.join("stack/grafana/datasources.yml")) else {
                    return;
                };
                match datasources::read_provisioning(&file, "gauntlet's own datasources") {
                    Ok(known) => known,
                    Err(_) => return,
                }
            }
            None => return,
        };
        for (dashboard_field, file) in dashboard_files {
            // Unreadable files are reported by the dashboard check itself.
            let Some(json) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            else {
                continue;
            };
            for u in datasources::check_dashboard(&json, &known) {
                let hint = if r.grafana_datasources.is_some() {
                    format!(
                        "the datasources come from {}; fix the reference or the file",
                        known.source
                    )
                } else {
                    "these are the datasources gauntlet provisions for its own stack; list your Grafana's datasource provisioning file in `stack.grafana-datasources`, or fix the reference".to_string()
                };
                self.error(
                    dashboard_field,
                    format!("dashboard {}: {}: {}", self.shown(file), u.place, u.why),
                    Some(hint),
                );
            }
        }
    }

    /// `stack.prometheus-version`: a version gauntlet knows, for a stack it starts, and
    /// provisioned on this machine (the run would fail to start it otherwise).
    fn prometheus_version(
        &mut self,
        given: Option<&VersionText>,
        provider: Provider,
    ) -> crate::stack::PrometheusVersion {
        use crate::stack::PrometheusVersion;
        let Some(VersionText(text)) = given else {
            return PrometheusVersion::DEFAULT;
        };
        const FIELD: &str = "stack.prometheus-version";
        if matches!(provider, Provider::External | Provider::Kubernetes) {
            self.error_at_key(
                FIELD,
                format!(
                    "`prometheus-version` only applies to stacks gauntlet starts (native, compose), not `{}`",
                    provider_name(provider)
                ),
                Some("a running stack keeps its own Prometheus; reports show the version it answers with".into()),
            );
            return PrometheusVersion::DEFAULT;
        }
        let Some(version) = PrometheusVersion::parse(text) else {
            self.error(
                FIELD,
                format!("unknown Prometheus version {text:?}"),
                Some(format!(
                    "known versions: {} (quote it: prometheus-version: \"3.16\")",
                    PrometheusVersion::known()
                )),
            );
            return PrometheusVersion::DEFAULT;
        };
        if let Some(why) = version.missing() {
            self.error(
                FIELD,
                format!(
                    "Prometheus {version} (with Alertmanager {}) is not provisioned here: {why}",
                    version.alertmanager()
                ),
                None,
            );
        }
        version
    }

    /// A path as the user would recognise it: relative to the scenario file when it is below
    /// it, as given otherwise.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.base_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Resolves file-or-directory lists relative to the scenario file; each file comes with
    /// the field that named it (`stack.dashboards[1]`, or the list itself for defaults).
    fn paths(
        &mut self,
        field: &str,
        given: Option<&Vec<String>>,
        default: Option<PathBuf>,
        exts: &[&str],
    ) -> Vec<(String, PathBuf)> {
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
                    Ok(found) => files.extend(found.into_iter().map(|f| (path_field.clone(), f))),
                    Err(e) => self.error(&path_field, e, None),
                }
            } else if root.is_file() {
                files.push((path_field, root));
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
        if mode != ServicesMode::External
            && matches!(provider, Provider::External | Provider::Kubernetes)
        {
            self.error_at_key(
                "services.mode",
                format!(
                    "provider `{}` needs `mode: external`: gauntlet cannot add scrape targets to a stack it does not run",
                    provider_name(provider)
                ),
                Some("list the services under test in `endpoints`".into()),
            );
        }
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
                        format!("{:?} is not an http(s) URL", crate::redact::url(url)),
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
        let fault_proxies = self.fault_proxies(r.fault_proxy.as_ref(), mode, &endpoints);
        // A proxy without an endpoint is a service too: faults and load can name it (also
        // when its own fields are wrong, which is reported once, above).
        let mut names = names;
        let proxied = r.fault_proxy.iter().flat_map(BTreeMap::keys);
        for name in proxied.filter(|_| mode == ServicesMode::External) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let shape = self.shape(r, mode, provider, &names);
        ServicesSpec {
            mode,
            instrumentation,
            names,
            endpoints,
            export_interval,
            sampling: None,
            dialect: shape.dialect,
            jobs: shape.jobs,
            replicas: shape.replicas,
            relabel_configs: shape.relabel_configs,
            metric_relabel_configs: shape.metric_relabel_configs,
            fault_proxies,
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
        let closed = match r.model.as_deref() {
            None | Some("open") => {
                for (field, given) in [
                    ("users", r.users.is_some()),
                    ("think-time", r.think_time.is_some()),
                ] {
                    if given {
                        self.error(
                            &format!("load.{field}"),
                            format!("`{field}` applies only to `model: closed`"),
                            Some("add `model: closed` for user sessions, or remove it".into()),
                        );
                    }
                }
                false
            }
            Some("closed") => true,
            Some(other) => {
                self.unknown_name("load.model", "load model", other, &["open", "closed"]);
                return None;
            }
        };
        if closed {
            return self.closed_load(r, services);
        }
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
        let duration = self.load_duration(r);
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
        let (journeys, timeout, target) = self.load_common(r, services);
        if r.max_requests == Some(0) {
            self.error("load.max-requests", "must be at least 1", None);
        }
        let (rate, duration) = (rate?, duration?);
        if rate * duration.as_secs_f64() < 1.0 {
            // The first request goes out at once and the next one only after the load has
            // ended: a run with one request measures nothing.
            self.error(
                "load.rate",
                format!(
                    "rate {:?} sends fewer than one request per {} of load",
                    r.rate.as_deref().unwrap_or_default(),
                    show(duration)
                ),
                Some(format!(
                    "raise `rate` (at least `rate: {}/m` for this duration) or lengthen `load.duration`",
                    (60.0 / duration.as_secs_f64()).ceil()
                )),
            );
            return None;
        }
        let max_requests = r.max_requests.unwrap_or_else(|| {
            ((rate * duration.as_secs_f64() * 1.1).ceil() as u64).saturating_add(10)
        });
        Some(LoadSpec {
            rate,
            closed: None,
            duration,
            ramp,
            journeys,
            max_requests,
            timeout,
            target,
        })
    }

    /// `load.duration`, required by both models.
    fn load_duration(&mut self, r: &RawLoad) -> Option<Duration> {
        match &r.duration {
            Some(t) => self.positive_duration("load.duration", Some(t)),
            None => {
                self.error(
                    "load",
                    "missing field `duration`",
                    Some("e.g. `duration: 90s`".into()),
                );
                None
            }
        }
    }

    /// The fields both load models share: journeys, per-request timeout, target service.
    fn load_common(&mut self, r: &RawLoad, services: &[String]) -> (Vec<String>, Duration, String) {
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
        (journeys, timeout, target)
    }

    /// `model: closed`: goose users with sessions; `rate`, `ramp` and `max-requests` belong
    /// to the open model (users set the pace).
    fn closed_load(&mut self, r: &RawLoad, services: &[String]) -> Option<LoadSpec> {
        for (field, given) in [
            ("rate", r.rate.is_some()),
            ("ramp", r.ramp.is_some()),
            ("max-requests", r.max_requests.is_some()),
        ] {
            if given {
                self.error(
                    &format!("load.{field}"),
                    format!("`{field}` does not apply to `model: closed`: the users set the pace"),
                    Some(
                        "set `users` and `think-time`, or use `model: open` for an arrival rate"
                            .into(),
                    ),
                );
            }
        }
        let users = match r.users {
            None => {
                self.error(
                    "load",
                    "missing field `users` (model: closed)",
                    Some("e.g. `users: 20`".into()),
                );
                None
            }
            Some(0) => {
                self.error("load.users", "must be at least 1", None);
                None
            }
            Some(n) if n > MAX_CLOSED_USERS => {
                self.error(
                    "load.users",
                    format!("{n} users is above the maximum {MAX_CLOSED_USERS} for one machine"),
                    None,
                );
                None
            }
            Some(n) => u32::try_from(n).ok(),
        };
        let think = match &r.think_time {
            None => {
                self.error(
                    "load",
                    "missing field `think-time` (model: closed)",
                    Some("e.g. `think-time: 1s` or `think-time: 500ms..2s`".into()),
                );
                None
            }
            Some(t) => match parse_think_time(t) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error(
                        "load.think-time",
                        e,
                        Some("e.g. `think-time: 1s` or `think-time: 500ms..2s`".into()),
                    );
                    None
                }
            },
        };
        let duration = self.load_duration(r);
        let (journeys, timeout, target) = self.load_common(r, services);
        let ((think_min, think_max), users, duration) = (think?, users?, duration?);
        Some(LoadSpec {
            rate: 0.0,
            closed: Some(ClosedLoad {
                users,
                think_min,
                think_max,
            }),
            duration,
            ramp: None,
            journeys,
            max_requests: u64::MAX,
            timeout,
            target,
        })
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
        let cpu = pct(self, "max-cpu-increase", r.max_cpu_increase.as_ref());
        if r.max_latency_p99_increase.is_none()
            && r.max_throughput_drop.is_none()
            && r.max_cpu_increase.is_none()
        {
            self.error(
                "overhead",
                "needs a budget: `max-cpu-increase`, `max-latency-p99-increase` and/or `max-throughput-drop`",
                Some("e.g. `max-cpu-increase: 30%`: CPU per request, instrumentation off vs full".into()),
            );
            return None;
        }
        let rounds = r.rounds.unwrap_or(DEFAULT_OVERHEAD_ROUNDS);
        if rounds < 3 {
            self.error(
                "overhead.rounds",
                format!("{rounds} round(s) cannot give an interval"),
                Some("use at least 3 (the default is 5)".into()),
            );
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
        let sampling = match &r.sampling {
            Some(text) => match text.parse::<crate::services::config::TraceSampling>() {
                Ok(s) => Some(s.to_string()),
                Err(e) => {
                    self.error(
                        "overhead.sampling",
                        e.to_string(),
                        Some("e.g. `sampling: ratio=0.1` measures 10% of traces sampled".into()),
                    );
                    None
                }
            },
            None => None,
        };
        Some(OverheadSpec {
            max_cpu_increase_pct: cpu,
            max_latency_p99_increase_pct: p99,
            max_throughput_drop_pct: tput,
            rounds,
            rate,
            duration,
            sampling,
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
            // A fault on the monitoring stack itself may fall in the steady-state window:
            // "nothing alerts" must then be seen to be unverifiable, never clean.
            let on_monitoring = matches!(
                &f.action,
                FaultAction::KillProcess { target, .. } | FaultAction::PauseProcess { target }
                    if crate::scenario::model::STACK_COMPONENTS.contains(&target.as_str())
            );
            if let Some(ss) = steady
                && f.at < ss.duration
                && !on_monitoring
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
