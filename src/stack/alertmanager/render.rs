//! Rendering the user's config with its receivers pointed at gauntlet's webhook sink, and the
//! notes that tell the report what was changed.

use std::collections::BTreeMap;

use reqwest::Url;
use yaml_serde::{Mapping, Value};

use super::model::{
    ConfigProblem, ConfigProblems, Receiver, RouteTimings, UserConfig, is_placeholder,
};
use crate::stack::config::go_duration;

fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

impl UserConfig {
    /// The config Alertmanager runs: the user's document with every receiver that has
    /// integrations replaced by one webhook to `sinks[name]`, `global` cut to
    /// `resolve_timeout`, no `templates`, and `overrides` applied to the route tree. `source`
    /// names the user's file in the header comment.
    pub fn render(
        &self,
        sinks: &BTreeMap<String, Url>,
        overrides: &RouteTimings,
        source: &str,
    ) -> Result<String, ConfigProblems> {
        let mut doc = self.doc.clone();
        if let Some(Value::Mapping(global)) = doc.get("global") {
            let mut kept = Mapping::new();
            if let Some(v) = global.get("resolve_timeout") {
                kept.insert(key("resolve_timeout"), v.clone());
            }
            doc.insert(key("global"), Value::Mapping(kept));
        }
        doc.remove("templates");
        if let Some(Value::Mapping(route)) = doc.get_mut("route") {
            apply_timings(route, overrides, true);
        }
        let mut receivers = Vec::with_capacity(self.receivers.len());
        let mut problems = Vec::new();
        for (i, r) in self.receivers.iter().enumerate() {
            match redirected(r, sinks) {
                Some(v) => receivers.push(v),
                None => problems.push(ConfigProblem {
                    at: format!("receivers[{i}]"),
                    message: format!("no webhook sink URL for receiver {:?}", r.name),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigProblems(problems));
        }
        doc.insert(key("receivers"), Value::Sequence(receivers));
        let body = yaml_serde::to_string(&Value::Mapping(doc)).map_err(|e| {
            ConfigProblems(vec![ConfigProblem {
                at: String::new(),
                message: format!("cannot write the rendered config: {e}"),
            }])
        })?;
        // No URL in the header: it would carry the token.
        Ok(format!(
            "# Rendered by gauntlet from {source}: routes, grouping, inhibitions and time\n\
             # intervals as written; receivers redirected to gauntlet's webhook sink (see the\n\
             # run report for every change).\n{body}"
        ))
    }

    /// What the rendered config changes, one line each, for reports and `gauntlet check`.
    /// No secret appears: webhook URLs show only where they pointed
    /// ([`crate::redact::destination`]), other integrations only their kind.
    pub fn notes(&self, source: &str, overrides: &RouteTimings) -> Vec<String> {
        let mut notes = vec![format!(
            "alertmanager: {source} runs as written, except for the changes below"
        )];
        for r in &self.receivers {
            notes.push(receiver_note(r));
        }
        if let Some(Value::Mapping(global)) = self.doc.get("global") {
            let dropped: Vec<&str> = global
                .keys()
                .filter_map(Value::as_str)
                .filter(|k| *k != "resolve_timeout")
                .collect();
            if !dropped.is_empty() {
                notes.push(format!(
                    "global: only resolve_timeout kept; {} configured the replaced integrations",
                    dropped.join(", ")
                ));
            }
        }
        if self
            .doc
            .get("templates")
            .and_then(Value::as_sequence)
            .is_some_and(|t| !t.is_empty())
        {
            notes.push(
                "templates: not loaded (they shape messages of the replaced integrations; the sink receives the webhook JSON)"
                    .into(),
            );
        }
        let set: Vec<String> = overrides
            .by_key()
            .iter()
            .filter_map(|(k, v)| v.map(|d| format!("{k} {}", go_duration(d))))
            .collect();
        if !set.is_empty() {
            notes.push(format!(
                "route timings from the scenario replace the tree's values on every route: {}",
                set.join(", ")
            ));
        }
        notes
    }
}

fn receiver_note(r: &Receiver) -> String {
    if r.integrations.is_empty() {
        return format!(
            "receiver {}: no integrations, nothing is sent (as written)",
            r.name
        );
    }
    let what: Vec<String> = r
        .integrations
        .iter()
        .map(|i| match (&i.kind[..], &i.url) {
            ("webhook", Some(url)) => format!("webhook {}", crate::redact::destination(url)),
            (kind, _) => kind.to_string(),
        })
        .collect();
    let resolved = if r.send_resolved() {
        ""
    } else {
        " (no resolved notifications, as its integrations)"
    };
    format!(
        "receiver {}: {} → gauntlet webhook sink{resolved}",
        r.name,
        what.join(", ")
    )
}

/// The receiver as Alertmanager runs it; `None` when it needs a sink URL and has none.
fn redirected(r: &Receiver, sinks: &BTreeMap<String, Url>) -> Option<Value> {
    let mut out = Mapping::new();
    out.insert(key("name"), key(&r.name));
    if r.integrations.is_empty() {
        // Silent as written: a route that drops alerts stays one.
        return Some(Value::Mapping(out));
    }
    let url = sinks.get(&r.name)?;
    let mut webhook = Mapping::new();
    webhook.insert(key("url"), key(url.as_str()));
    webhook.insert(key("send_resolved"), Value::Bool(r.send_resolved()));
    if let Some(max) = r.integrations.iter().find_map(|i| i.max_alerts.clone()) {
        webhook.insert(key("max_alerts"), max);
    }
    out.insert(
        key("webhook_configs"),
        Value::Sequence(vec![Value::Mapping(webhook)]),
    );
    Some(Value::Mapping(out))
}

/// Drops placeholder timings; sets the scenario's explicit ones on the root and wherever the
/// tree sets them, so no child keeps a slower value of its own.
fn apply_timings(route: &mut Mapping, overrides: &RouteTimings, root: bool) {
    for (k, value) in overrides.by_key() {
        if route.get(k).is_some_and(is_placeholder) {
            route.remove(k);
        }
        if let Some(d) = value
            && (root || route.contains_key(k))
        {
            route.insert(key(k), key(&go_duration(d)));
        }
    }
    if let Some(Value::Sequence(children)) = route.get_mut("routes") {
        for child in children {
            if let Value::Mapping(child) = child {
                apply_timings(child, overrides, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const CONFIG: &str = r#"
global: { resolve_timeout: 1m, smtp_auth_password: hunter2, slack_api_url: 'https://hooks.slack.com/services/T/B/SECRET' }
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: chat
  group_by: [alertname]
  group_wait: '{{group_wait}}'
  routes:
    - receiver: oncall
      matchers: ['severity="critical"']
      group_wait: 10s
    - receiver: blackhole
      matchers: ['severity="none"']
inhibit_rules:
  - source_matchers: ['alertname="ServiceDown"']
    target_matchers: ['alertname="HighErrorRate"']
    equal: [service]
receivers:
  - name: oncall
    webhook_configs: [{ url: 'https://ops:pw@pager.example/hook/abc?key=SECRET', max_alerts: 5 }]
  - name: chat
    slack_configs: [{ channel: '#alerts', title: '{{ .CommonLabels.alertname }}' }]
    email_configs: [{ to: team@example.org, send_resolved: true }]
  - name: blackhole
"#;

    fn sinks() -> BTreeMap<String, Url> {
        ["oncall", "chat"]
            .into_iter()
            .map(|r| {
                let url = Url::parse(&format!("http://127.0.0.1:9/hook/TOKEN/{r}")).expect("url");
                (r.to_string(), url)
            })
            .collect()
    }

    #[test]
    fn receivers_point_at_the_sink_and_the_rest_runs_as_written() {
        let c = UserConfig::parse(CONFIG).expect("parses");
        let text = c
            .render(&sinks(), &RouteTimings::default(), "am.yml")
            .expect("renders");
        for secret in ["hunter2", "SECRET", "pager.example", "team@example.org"] {
            assert!(!text.contains(secret), "{secret} in:\n{text}");
        }
        let doc: Value = yaml_serde::from_str(&text).expect("yaml");
        assert_eq!(doc["global"]["resolve_timeout"].as_str(), Some("1m"));
        assert_eq!(doc["global"].as_mapping().map(Mapping::len), Some(1));
        assert!(doc.get("templates").is_none());
        let receivers = doc["receivers"].as_sequence().expect("receivers");
        assert_eq!(
            receivers[0]["webhook_configs"][0]["url"].as_str(),
            Some("http://127.0.0.1:9/hook/TOKEN/oncall")
        );
        assert_eq!(
            receivers[0]["webhook_configs"][0]["send_resolved"].as_bool(),
            Some(true)
        );
        assert_eq!(
            receivers[0]["webhook_configs"][0]["max_alerts"].as_u64(),
            Some(5)
        );
        // Slack alone would not resolve, the email says it does.
        assert_eq!(
            receivers[1]["webhook_configs"][0]["send_resolved"].as_bool(),
            Some(true)
        );
        assert!(receivers[1].get("slack_configs").is_none());
        assert_eq!(receivers[2].as_mapping().map(Mapping::len), Some(1));
        // Routes and inhibitions as written; the placeholder is gone.
        assert!(doc["route"].get("group_wait").is_none());
        assert_eq!(
            doc["route"]["routes"][0]["group_wait"].as_str(),
            Some("10s")
        );
        assert_eq!(
            doc["inhibit_rules"][0]["equal"][0].as_str(),
            Some("service")
        );
    }

    #[test]
    fn explicit_timings_replace_every_value_in_the_tree() {
        let c = UserConfig::parse(CONFIG).expect("parses");
        let overrides = RouteTimings {
            group_wait: Some(Duration::from_secs(1)),
            group_interval: Some(Duration::from_secs(2)),
            repeat_interval: None,
        };
        let text = c.render(&sinks(), &overrides, "am.yml").expect("renders");
        let doc: Value = yaml_serde::from_str(&text).expect("yaml");
        assert_eq!(doc["route"]["group_wait"].as_str(), Some("1s"));
        assert_eq!(doc["route"]["group_interval"].as_str(), Some("2s"));
        assert!(doc["route"].get("repeat_interval").is_none());
        assert_eq!(doc["route"]["routes"][0]["group_wait"].as_str(), Some("1s"));
        // A child that did not set a value inherits the root's.
        assert!(doc["route"]["routes"][1].get("group_wait").is_none());
    }

    #[test]
    fn notes_say_what_changed_without_secrets() {
        let c = UserConfig::parse(CONFIG).expect("parses");
        let overrides = RouteTimings {
            group_wait: Some(Duration::from_secs(1)),
            ..RouteTimings::default()
        };
        assert_eq!(
            c.notes("am.yml", &overrides),
            [
                "alertmanager: am.yml runs as written, except for the changes below",
                "receiver oncall: webhook https://pager.example/… → gauntlet webhook sink",
                "receiver chat: slack, email → gauntlet webhook sink",
                "receiver blackhole: no integrations, nothing is sent (as written)",
                "global: only resolve_timeout kept; smtp_auth_password, slack_api_url configured the replaced integrations",
                "templates: not loaded (they shape messages of the replaced integrations; the sink receives the webhook JSON)",
                "route timings from the scenario replace the tree's values on every route: group_wait 1s",
            ]
        );
    }

    #[test]
    fn a_receiver_without_a_sink_url_is_an_error() {
        let c = UserConfig::parse(CONFIG).expect("parses");
        let err = c
            .render(&BTreeMap::new(), &RouteTimings::default(), "am.yml")
            .expect_err("no sinks");
        assert_eq!(
            err.to_string(),
            "receivers[0]: no webhook sink URL for receiver \"oncall\"; receivers[1]: no webhook sink URL for receiver \"chat\""
        );
    }
}
