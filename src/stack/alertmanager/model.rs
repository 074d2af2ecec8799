//! Parsing the user's Alertmanager config into what gauntlet needs to know (receivers and
//! their integrations, the route tree's receivers and timings), keeping the document itself
//! for rendering. Every problem Alertmanager would refuse at start-up that is cheap to see is
//! reported, all of them at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use yaml_serde::{Mapping, Value};

/// Top-level keys Alertmanager 0.25 reads.
const TOP_LEVEL: &[&str] = &[
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "templates",
    "time_intervals",
    "mute_time_intervals",
];
/// `global` keys Alertmanager reads (0.25, and later releases so a newer file is not
/// refused for a key it may use). Checked because the run drops them: a typo here would
/// otherwise pass gauntlet and stop the user's own Alertmanager.
const GLOBAL_KEYS: &[&str] = &[
    "resolve_timeout",
    "http_config",
    "smtp_from",
    "smtp_hello",
    "smtp_smarthost",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_auth_secret",
    "smtp_auth_secret_file",
    "smtp_auth_identity",
    "smtp_require_tls",
    "smtp_tls_config",
    "slack_api_url",
    "slack_api_url_file",
    "slack_app_token",
    "slack_app_token_file",
    "slack_app_url",
    "victorops_api_key",
    "victorops_api_key_file",
    "victorops_api_url",
    "pagerduty_url",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "opsgenie_api_url",
    "wechat_api_url",
    "wechat_api_secret",
    "wechat_api_corp_id",
    "telegram_api_url",
    "telegram_bot_token",
    "telegram_bot_token_file",
    "webex_api_url",
    "jira_api_url",
    "rocketchat_api_url",
    "rocketchat_token",
    "rocketchat_token_file",
    "rocketchat_token_id",
    "rocketchat_token_id_file",
    "mattermost_webhook_url",
    "mattermost_webhook_url_file",
];
/// Timing keys of a route, in the order notes list them.
pub(super) const TIMING_KEYS: [&str; 3] = ["group_wait", "group_interval", "repeat_interval"];

/// Alertmanager's defaults for a route that sets no timing (and no parent does).
pub const DEFAULT_TIMINGS: Timings = Timings {
    group_wait: Duration::from_secs(30),
    group_interval: Duration::from_secs(5 * 60),
    repeat_interval: Duration::from_secs(4 * 3600),
};

/// Route timings a scenario sets explicitly (`None`: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RouteTimings {
    pub group_wait: Option<Duration>,
    pub group_interval: Option<Duration>,
    pub repeat_interval: Option<Duration>,
}

impl RouteTimings {
    /// The values by key, in [`TIMING_KEYS`] order.
    pub(super) fn by_key(&self) -> [(&'static str, Option<Duration>); 3] {
        [
            (TIMING_KEYS[0], self.group_wait),
            (TIMING_KEYS[1], self.group_interval),
            (TIMING_KEYS[2], self.repeat_interval),
        ]
    }

    fn set(&mut self, key: &str, value: Duration) {
        match key {
            "group_wait" => self.group_wait = Some(value),
            "group_interval" => self.group_interval = Some(value),
            _ => self.repeat_interval = Some(value),
        }
    }

    /// `self` where set, else `parent`.
    pub fn over(&self, parent: Timings) -> Timings {
        Timings {
            group_wait: self.group_wait.unwrap_or(parent.group_wait),
            group_interval: self.group_interval.unwrap_or(parent.group_interval),
            repeat_interval: self.repeat_interval.unwrap_or(parent.repeat_interval),
        }
    }
}

/// The timings a route runs with, after inheritance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timings {
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

impl Timings {
    fn min(self, other: Timings) -> Timings {
        Timings {
            group_wait: self.group_wait.min(other.group_wait),
            group_interval: self.group_interval.min(other.group_interval),
            repeat_interval: self.repeat_interval.min(other.repeat_interval),
        }
    }
}

/// One thing wrong with the config, at a path inside it (`route.routes[1].receiver`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub at: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

/// Everything wrong with the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblems(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

/// One integration of a receiver (`webhook_configs[0]`, `email_configs[1]`, …).
#[derive(Clone, PartialEq, Eq)]
pub struct Integration {
    /// `webhook`, `email`, `slack`, … (the key without `_configs`).
    pub kind: String,
    /// Whether it sends resolutions (as written, else Alertmanager's default for the kind).
    pub send_resolved: bool,
    /// A webhook's URL as written. Never shown: it may be a credential; notes show
    /// [`crate::redact::destination`] of it.
    pub(super) url: Option<String>,
    /// A webhook's `max_alerts`, kept on the redirected webhook (it shapes the payload).
    pub(super) max_alerts: Option<Value>,
}

impl fmt::Debug for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Integration")
            .field("kind", &self.kind)
            .field("send_resolved", &self.send_resolved)
            .finish_non_exhaustive()
    }
}

/// A receiver and its integrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<Integration>,
}

impl Receiver {
    /// Whether the redirected webhook sends resolutions: when any integration would.
    pub fn send_resolved(&self) -> bool {
        self.integrations.iter().any(|i| i.send_resolved)
    }
}

/// A route: its receiver (inherited when absent), its own timings and its children.
#[derive(Debug, Clone)]
struct Route {
    receiver: Option<String>,
    timings: RouteTimings,
    routes: Vec<Route>,
}

/// A parsed Alertmanager config.
#[derive(Clone)]
pub struct UserConfig {
    /// The document as written: it holds credentials, so `Debug` leaves it out.
    pub(super) doc: Mapping,
    pub(super) receivers: Vec<Receiver>,
    route: Route,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("receivers", &self.receivers)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// `send_resolved` when a config does not say, per Alertmanager's configuration docs.
fn default_send_resolved(kind: &str) -> bool {
    !matches!(kind, "email" | "slack" | "wechat")
}

/// `{{name}}`: a placeholder of gauntlet's template, not a value.
pub(super) fn is_placeholder(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.trim().starts_with("{{") && s.trim().ends_with("}}"))
}

struct Parser {
    problems: Vec<ConfigProblem>,
}

impl Parser {
    fn problem(&mut self, at: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            at: at.to_string(),
            message: message.into(),
        });
    }

    fn receivers(&mut self, value: Option<&Value>) -> Vec<Receiver> {
        let Some(value) = value else {
            self.problem("receivers", "missing: the root route needs a receiver");
            return Vec::new();
        };
        let Some(list) = value.as_sequence() else {
            self.problem("receivers", "must be a list");
            return Vec::new();
        };
        let mut out: Vec<Receiver> = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let at = format!("receivers[{i}]");
            let Some(map) = item.as_mapping() else {
                self.problem(&at, "must be a mapping with `name`");
                continue;
            };
            let Some(name) = map.get("name").and_then(Value::as_str) else {
                self.problem(&at, "has no `name`");
                continue;
            };
            if out.iter().any(|r| r.name == name) {
                self.problem(&at, format!("receiver {name:?} is defined twice"));
            }
            let mut integrations = Vec::new();
            for (key, configs) in map {
                let Some(key) = key.as_str() else { continue };
                if key == "name" {
                    continue;
                }
                let Some(kind) = key.strip_suffix("_configs") else {
                    self.problem(&format!("{at}.{key}"), "unknown receiver field");
                    continue;
                };
                let Some(configs) = configs.as_sequence() else {
                    self.problem(&format!("{at}.{key}"), "must be a list");
                    continue;
                };
                for c in configs {
                    let send_resolved = c
                        .get("send_resolved")
                        .and_then(Value::as_bool)
                        .unwrap_or_else(|| default_send_resolved(kind));
                    let (url, max_alerts) = if kind == "webhook" {
                        (
                            c.get("url").and_then(Value::as_str).map(str::to_string),
                            c.get("max_alerts").cloned(),
                        )
                    } else {
                        (None, None)
                    };
                    integrations.push(Integration {
                        kind: kind.to_string(),
                        send_resolved,
                        url,
                        max_alerts,
                    });
                }
            }
            out.push(Receiver {
                name: name.to_string(),
                integrations,
            });
        }
        out
    }

    fn route(&mut self, at: &str, value: &Value, names: &BTreeSet<&str>, root: bool) -> Route {
        let mut route = Route {
            receiver: None,
            timings: RouteTimings::default(),
            routes: Vec::new(),
        };
        let Some(map) = value.as_mapping() else {
            self.problem(at, "must be a mapping");
            return route;
        };
        match map.get("receiver") {
            Some(v) => match v.as_str() {
                Some(r) if names.contains(r) => route.receiver = Some(r.to_string()),
                Some(r) => self.problem(
                    &format!("{at}.receiver"),
                    format!(
                        "undefined receiver {r:?} (defined: {})",
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ),
                None => self.problem(&format!("{at}.receiver"), "must be a string"),
            },
            None if root => self.problem(at, "the root route needs a `receiver`"),
            None => {}
        }
        if root {
            for key in ["match", "match_re", "matchers"] {
                if map.contains_key(key) {
                    self.problem(
                        &format!("{at}.{key}"),
                        "the root route must not have matchers (it receives every alert)",
                    );
                }
            }
            if map.get("continue").and_then(Value::as_bool) == Some(true) {
                self.problem(
                    &format!("{at}.continue"),
                    "the root route cannot have `continue`",
                );
            }
        }
        for key in TIMING_KEYS {
            let Some(v) = map.get(key) else { continue };
            if is_placeholder(v) {
                continue;
            }
            match v.as_str().and_then(parse_duration) {
                Some(d) => route.timings.set(key, d),
                None => self.problem(&format!("{at}.{key}"), "not a duration (e.g. 30s, 5m, 1h)"),
            }
        }
        if let Some(children) = map.get("routes") {
            match children.as_sequence() {
                Some(list) => {
                    for (i, child) in list.iter().enumerate() {
                        let child_at = format!("{at}.routes[{i}]");
                        route
                            .routes
                            .push(self.route(&child_at, child, names, false));
                    }
                }
                None => self.problem(&format!("{at}.routes"), "must be a list"),
            }
        }
        route
    }
}

/// Prometheus-style durations (`30s`, `5m`, `1h30m`).
fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

impl UserConfig {
    /// Parses `text`, reporting every problem found.
    pub fn parse(text: &str) -> Result<Self, ConfigProblems> {
        let mut p = Parser {
            problems: Vec::new(),
        };
        let doc: Value = yaml_serde::from_str(text).map_err(|e| {
            ConfigProblems(vec![ConfigProblem {
                at: String::new(),
                message: format!("not YAML: {e}"),
            }])
        })?;
        let Value::Mapping(doc) = doc else {
            return Err(ConfigProblems(vec![ConfigProblem {
                at: String::new(),
                message: "not an Alertmanager config (expected a mapping)".into(),
            }]));
        };
        for key in doc.keys() {
            match key.as_str() {
                Some(k) if TOP_LEVEL.contains(&k) => {}
                other => p.problem(
                    other.unwrap_or("?"),
                    format!("unknown key (Alertmanager reads {})", TOP_LEVEL.join(", ")),
                ),
            }
        }
        match doc.get("global") {
            None => {}
            Some(Value::Mapping(global)) => {
                for key in global.keys() {
                    let name = key.as_str().unwrap_or("?");
                    if !GLOBAL_KEYS.contains(&name) {
                        let hint = match name {
                            "smarthost" => " (did you mean smtp_smarthost?)",
                            "smtp_sender" => " (did you mean smtp_from?)",
                            _ => "",
                        };
                        p.problem(
                            &format!("global.{name}"),
                            format!("unknown key, Alertmanager refuses it{hint}"),
                        );
                    }
                }
            }
            Some(_) => p.problem("global", "must be a mapping"),
        }
        let receivers = p.receivers(doc.get("receivers"));
        let names: BTreeSet<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
        let route = match doc.get("route") {
            Some(v) => p.route("route", v, &names, true),
            None => {
                p.problem("route", "missing: Alertmanager needs a root route");
                Route {
                    receiver: None,
                    timings: RouteTimings::default(),
                    routes: Vec::new(),
                }
            }
        };
        if !p.problems.is_empty() {
            return Err(ConfigProblems(p.problems));
        }
        Ok(UserConfig {
            doc,
            receivers,
            route,
        })
    }

    /// The receivers, as defined.
    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// Receiver names, as defined.
    pub fn receiver_names(&self) -> Vec<String> {
        self.receivers.iter().map(|r| r.name.clone()).collect()
    }

    /// The root route's timings with `overrides` applied.
    pub fn root_timings(&self, overrides: &RouteTimings) -> Timings {
        overrides.over(self.route.timings.over(DEFAULT_TIMINGS))
    }

    /// For each receiver some route sends to, the shortest timings among those routes (with
    /// `overrides` applied): the earliest it can be notified, for timing floors.
    pub fn receiver_timings(&self, overrides: &RouteTimings) -> BTreeMap<String, Timings> {
        let mut out = BTreeMap::new();
        walk(&self.route, None, DEFAULT_TIMINGS, overrides, &mut out);
        out
    }
}

fn walk(
    route: &Route,
    parent_receiver: Option<&str>,
    parent: Timings,
    overrides: &RouteTimings,
    out: &mut BTreeMap<String, Timings>,
) {
    let timings = overrides.over(route.timings.over(parent));
    let receiver = route.receiver.as_deref().or(parent_receiver);
    if let Some(r) = receiver {
        out.entry(r.to_string())
            .and_modify(|t: &mut Timings| *t = t.min(timings))
            .or_insert(timings);
    }
    for child in &route.routes {
        walk(child, receiver, timings, overrides, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
global: { resolve_timeout: 5m, smtp_smarthost: 'mail:25' }
route:
  receiver: chat
  group_wait: 20s
  routes:
    - receiver: oncall
      matchers: ['severity="critical"']
      group_wait: 5s
      routes:
        - matchers: ['team="db"']
          group_interval: 1m
    - receiver: chat
      group_wait: '{{group_wait}}'
receivers:
  - name: oncall
    webhook_configs: [{ url: 'https://hooks.example/secret', send_resolved: false }]
    email_configs: [{ to: 'x@example.org' }]
  - name: chat
    slack_configs: [{ api_url: 'https://hooks.slack.com/services/T/B/X' }]
  - name: blackhole
"#;

    #[test]
    fn receivers_integrations_and_resolution_defaults() {
        let c = UserConfig::parse(CONFIG).expect("parses");
        assert_eq!(c.receiver_names(), ["oncall", "chat", "blackhole"]);
        let oncall = &c.receivers()[0];
        let kinds: Vec<&str> = oncall
            .integrations
            .iter()
            .map(|i| i.kind.as_str())
            .collect();
        assert_eq!(kinds, ["webhook", "email"]);
        // webhook says false, email defaults to false.
        assert!(!oncall.send_resolved());
        assert!(!c.receivers()[1].send_resolved(), "slack defaults to false");
        assert!(c.receivers()[2].integrations.is_empty());
        // The URL never prints.
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn timings_inherit_and_overrides_win() {
        let c = UserConfig::parse(CONFIG).expect("parses");
        let none = RouteTimings::default();
        assert_eq!(c.root_timings(&none).group_wait, Duration::from_secs(20));
        assert_eq!(
            c.root_timings(&none).group_interval,
            DEFAULT_TIMINGS.group_interval
        );
        let per = c.receiver_timings(&none);
        assert_eq!(per["oncall"].group_wait, Duration::from_secs(5));
        // The nested route inherits oncall and group_wait 5s, sets group_interval 1m.
        assert_eq!(per["oncall"].group_interval, Duration::from_secs(60));
        // The placeholder counts as unset: chat inherits 20s from the root.
        assert_eq!(per["chat"].group_wait, Duration::from_secs(20));
        assert!(!per.contains_key("blackhole"));
        let fast = RouteTimings {
            group_wait: Some(Duration::from_secs(1)),
            ..RouteTimings::default()
        };
        let per = c.receiver_timings(&fast);
        assert!(per.values().all(|t| t.group_wait == Duration::from_secs(1)));
    }

    #[test]
    fn what_alertmanager_would_refuse_is_reported_at_once() {
        let text = r#"
smarthost: 'localhost:25'
global: { smtp_sender: a@b, resolve_timeout: 1m }
route:
  receiver: nobody
  continue: true
  matchers: ['a="b"']
  group_wait: soon
  routes:
    - receiver: team-x
      routes: {}
receivers:
  - name: team-x
    email_configs: [{ to: a@b }]
    colour: blue
  - name: team-x
"#;
        let err = UserConfig::parse(text).expect_err("invalid");
        let shown: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "smarthost: unknown key (Alertmanager reads global, route, receivers, inhibit_rules, templates, time_intervals, mute_time_intervals)",
                "global.smtp_sender: unknown key, Alertmanager refuses it (did you mean smtp_from?)",
                "receivers[0].colour: unknown receiver field",
                "receivers[1]: receiver \"team-x\" is defined twice",
                "route.receiver: undefined receiver \"nobody\" (defined: team-x)",
                "route.matchers: the root route must not have matchers (it receives every alert)",
                "route.continue: the root route cannot have `continue`",
                "route.group_wait: not a duration (e.g. 30s, 5m, 1h)",
                "route.routes[0].routes: must be a list",
            ]
        );
        assert!(UserConfig::parse("- a\n").is_err());
        assert!(UserConfig::parse("route: [").is_err());
    }
}
