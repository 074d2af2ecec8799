//! Grafana datasources a dashboard may use: read from a Grafana datasource provisioning file
//! (the user's `stack.grafana-datasources`, else the one gauntlet ships for its own stack,
//! `fixtures/stack/grafana/datasources.yml`), and every datasource reference of a dashboard
//! (panels, their targets, template variables) checked against them. A panel whose
//! datasource does not exist shows "No data" in Grafana while its query may well return data
//! in Prometheus, so `gauntlet check` refuses it instead of passing it silently.
//!
//! Upstream references: provisioning format
//! <https://grafana.com/docs/grafana/latest/administration/provisioning/#data-sources>,
//! datasource references in the dashboard JSON model and export inputs (`__inputs`,
//! `${DS_PROMETHEUS}`)
//! <https://grafana.com/docs/grafana/latest/dashboards/share-dashboards-panels/#export-a-dashboard-as-json>,
//! datasource variables
//! <https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#add-a-data-source-variable>.
//!
//! Resolution follows Grafana's: a panel's queries run against the panel's datasource (the
//! targets' own references count only in a Mixed panel or one without a datasource); a
//! reference is a uid or a name (Grafana looks both up); no
//! reference, `null`, `""` or `default` is the default datasource; the built-in
//! `-- Grafana --`, `-- Mixed --`, `-- Dashboard --` and expressions always exist; a
//! reference through a datasource variable or an export input stands for any datasource of
//! its plugin type, so one of that type must exist.

use std::path::Path;

use serde_json::Value;

/// One provisioned datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasource {
    pub name: String,
    pub uid: Option<String>,
    /// Plugin type (`prometheus`, `loki`, …).
    pub kind: String,
}

/// The datasources of a run and where they were read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasources {
    pub list: Vec<Datasource>,
    /// The provisioning file, as reports show it.
    pub source: String,
}

impl Datasources {
    fn find(&self, name_or_uid: &str) -> Option<&Datasource> {
        self.list
            .iter()
            .find(|d| d.uid.as_deref() == Some(name_or_uid))
            .or_else(|| self.list.iter().find(|d| d.name == name_or_uid))
    }

    fn has_kind(&self, kind: &str) -> bool {
        self.list.iter().any(|d| d.kind == kind)
    }

    /// `Prometheus (uid prometheus), Loki (uid loki)`.
    pub fn known(&self) -> String {
        if self.list.is_empty() {
            return "none".into();
        }
        self.list
            .iter()
            .map(|d| match &d.uid {
                Some(uid) => format!("{} (uid {uid}, {})", d.name, d.kind),
                None => format!("{} ({})", d.name, d.kind),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads a Grafana datasource provisioning file (`apiVersion: 1`, `datasources: [{name,
/// type, uid, url}]`), or a provisioning folder of them (every `*.yaml`/`*.yml`, as Grafana
/// reads `provisioning/datasources/`).
pub fn read_provisioning(path: &Path, shown: &str) -> Result<Datasources, String> {
    if !path.is_dir() {
        return read_file(path, shown, true);
    }
    let mut all = Datasources {
        list: Vec::new(),
        source: shown.to_string(),
    };
    for file in super::references::files_with_ext(path, &["yaml", "yml"])? {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let one = read_file(&file, shown, false).map_err(|e| format!("{name}: {e}"))?;
        all.list.extend(one.list);
    }
    if all.list.is_empty() {
        return Err("no provisioning file in it lists `datasources:`".to_string());
    }
    Ok(all)
}

fn read_file(file: &Path, shown: &str, required: bool) -> Result<Datasources, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let doc: yaml_serde::Value = yaml_serde::from_str(&text)
        .map_err(|e| format!("not a Grafana datasource provisioning file: {e}"))?;
    let items = match doc.get("datasources").and_then(|d| d.as_sequence()) {
        Some(items) => items.as_slice(),
        // A folder's file may only delete datasources.
        None if !required => &[],
        None => {
            return Err(
                "not a Grafana datasource provisioning file: no `datasources:` list".to_string(),
            );
        }
    };
    let mut list = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |key: &str| item.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let Some(name) = field("name") else {
            return Err(format!("datasources[{i}] has no `name`"));
        };
        list.push(Datasource {
            name,
            uid: field("uid").filter(|u| !u.is_empty()),
            kind: field("type").unwrap_or_default(),
        });
    }
    Ok(Datasources {
        list,
        source: shown.to_string(),
    })
}

/// A datasource reference that does not resolve, and where in the dashboard it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// `panel "Error ratio" (target A)`, `variable "job"`.
    pub place: String,
    /// What is wrong, e.g. `datasource uid "prom-main" is not provisioned`.
    pub why: String,
}

/// Every datasource reference in a dashboard (the JSON model, or the API's `{dashboard}`)
/// that does not resolve against `known`.
pub fn check_dashboard(json: &Value, known: &Datasources) -> Vec<Unresolved> {
    let model = match json.get("dashboard") {
        Some(inner @ Value::Object(_)) if json.get("panels").is_none() => inner,
        _ => json,
    };
    let ctx = Context::new(model);
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = Vec::new();
    for p in array(model, "panels") {
        panels.push(p);
        panels.extend(array(p, "panels"));
    }
    for r in array(model, "rows") {
        panels.extend(array(r, "panels"));
    }
    for p in panels {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("");
        let place = format!("panel {title:?}");
        if let Some(why) = ctx.resolve(p.get("datasource"), known) {
            out.push(Unresolved {
                place: place.clone(),
                why,
            });
        }
        // Grafana runs a panel's queries against the panel's datasource; the targets' own
        // references count only in a Mixed panel, or one that names no datasource.
        let mixed = match p.get("datasource") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s == "-- Mixed --",
            Some(o) => o.get("uid").and_then(Value::as_str) == Some("-- Mixed --"),
        };
        for t in array(p, "targets").iter().filter(|_| mixed) {
            let ref_id = t.get("refId").and_then(Value::as_str).unwrap_or("?");
            if let Some(why) = ctx.resolve(t.get("datasource"), known) {
                out.push(Unresolved {
                    place: format!("{place} (target {ref_id})"),
                    why,
                });
            }
        }
    }
    for v in ctx.variables {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let why = if v.get("type").and_then(Value::as_str) == Some("datasource") {
            let kind = query_text(v);
            (!kind.is_empty() && !known.has_kind(&kind))
                .then(|| format!("lists datasources of type {kind:?}, and none is provisioned"))
        } else {
            ctx.resolve(v.get("datasource"), known)
        };
        if let Some(why) = why {
            out.push(Unresolved {
                place: format!("variable {name:?}"),
                why,
            });
        }
    }
    out
}

/// What a dashboard says about datasources besides the references themselves.
struct Context<'a> {
    variables: &'a [Value],
    /// Export inputs: name (`DS_PROMETHEUS`) → plugin type.
    inputs: Vec<(String, String)>,
}

impl<'a> Context<'a> {
    fn new(model: &'a Value) -> Self {
        let variables = model
            .get("templating")
            .map(|t| array(t, "list"))
            .unwrap_or(&[]);
        let inputs = array(model, "__inputs")
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("datasource"))
            .filter_map(|i| {
                Some((
                    i.get("name")?.as_str()?.to_string(),
                    i.get("pluginId")?.as_str()?.to_string(),
                ))
            })
            .collect();
        Context { variables, inputs }
    }

    /// Why `reference` does not resolve; `None` when it does.
    fn resolve(&self, reference: Option<&Value>, known: &Datasources) -> Option<String> {
        let (id, kind, form) = match reference? {
            Value::String(s) => (Some(s.as_str()), None, "name"),
            o @ Value::Object(_) => (
                o.get("uid").and_then(Value::as_str),
                o.get("type").and_then(Value::as_str),
                "uid",
            ),
            _ => return None,
        };
        if matches!(
            kind,
            Some("grafana" | "datasource" | "__expr__" | "dashboard")
        ) {
            return None;
        }
        let id = id.map(str::trim).unwrap_or("");
        if id.is_empty() || id == "default" || is_builtin(id) {
            // No uid but a type: Grafana uses the default datasource of that type.
            return match kind {
                Some(k) if !id.is_empty() || known.has_kind(k) => None,
                Some(k) if !known.list.is_empty() => {
                    Some(format!("no datasource of type {k:?} is provisioned"))
                }
                _ => None,
            };
        }
        if let Some(var) = variable_name(id) {
            return self.resolve_variable(var, id, known);
        }
        if known.find(id).is_some() {
            return None;
        }
        let hint = crate::verdict::explain::closest(
            id,
            known
                .list
                .iter()
                .flat_map(|d| d.uid.iter().map(String::as_str).chain([d.name.as_str()])),
        )
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default();
        Some(format!(
            "datasource {form} {id:?} is not provisioned (known: {}){hint}",
            known.known()
        ))
    }

    /// `$var`, `${var}` in a reference: a datasource variable or an export input stands for
    /// a datasource of its type; another variable for its saved value.
    fn resolve_variable(&self, var: &str, written: &str, known: &Datasources) -> Option<String> {
        if let Some((_, kind)) = self.inputs.iter().find(|(n, _)| n == var) {
            return (!known.has_kind(kind)).then(|| {
                format!(
                    "{written} is imported as a datasource of type {kind:?}, and none is provisioned"
                )
            });
        }
        let Some(v) = self
            .variables
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(var))
        else {
            return Some(format!(
                "{written} names neither a template variable nor an export input (`__inputs`), so Grafana cannot find the datasource"
            ));
        };
        if v.get("type").and_then(Value::as_str) == Some("datasource") {
            // Checked once, on the variable itself.
            return None;
        }
        let current = v
            .get("current")
            .and_then(|c| c.get("value"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if current.is_empty() || variable_name(current).is_some() || known.find(current).is_some() {
            return None;
        }
        Some(format!(
            "{written} is {current:?}, which is not a provisioned datasource (known: {})",
            known.known()
        ))
    }
}

fn is_builtin(id: &str) -> bool {
    matches!(
        id,
        "-- Grafana --" | "-- Mixed --" | "-- Dashboard --" | "grafana" | "__expr__"
    )
}

/// The variable a whole reference consists of: `$ds`, `${ds}`, `${ds:raw}`, `[[ds]]`.
fn variable_name(text: &str) -> Option<&str> {
    let inner = if let Some(rest) = text.strip_prefix("${") {
        rest.strip_suffix('}')?.split(':').next()?
    } else if let Some(rest) = text.strip_prefix("[[") {
        rest.strip_suffix("]]")?.split(':').next()?
    } else {
        text.strip_prefix('$')?
    };
    (!inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(inner)
}

fn query_text(v: &Value) -> String {
    match v.get("query") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(o @ Value::Object(_)) => o
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string(),
        _ => String::new(),
    }
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Datasources {
        Datasources {
            list: vec![
                Datasource {
                    name: "Prometheus".into(),
                    uid: Some("prometheus".into()),
                    kind: "prometheus".into(),
                },
                Datasource {
                    name: "Loki".into(),
                    uid: Some("loki".into()),
                    kind: "loki".into(),
                },
            ],
            source: "datasources.yml".into(),
        }
    }

    fn panel(ds: Value) -> Value {
        json!({ "title": "P", "datasource": ds, "targets": [{ "refId": "A", "expr": "up" }] })
    }

    #[test]
    fn common_reference_shapes_resolve() {
        let shapes = [
            json!(null),
            json!("Prometheus"),
            json!("prometheus"),
            json!("default"),
            json!("-- Grafana --"),
            json!("-- Mixed --"),
            json!({ "type": "prometheus", "uid": "prometheus" }),
            json!({ "type": "prometheus" }),
            json!({ "type": "datasource", "uid": "-- Mixed --" }),
            json!({ "type": "grafana", "uid": "grafana" }),
            json!({ "type": "prometheus", "uid": "${datasource}" }),
            json!("$datasource"),
            json!("${DS_PROMETHEUS}"),
            json!({ "uid": "$ds_const" }),
        ];
        for ds in shapes {
            let dashboard = json!({
                "__inputs": [{ "name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus" }],
                "panels": [panel(ds.clone())],
                "templating": { "list": [
                    { "name": "datasource", "type": "datasource", "query": "prometheus",
                      "current": { "value": "some-other-grafana's-uid" } },
                    { "name": "ds_const", "type": "constant", "current": { "value": "loki" } },
                    { "name": "job", "type": "query", "datasource": { "uid": "$datasource" },
                      "query": "label_values(up, job)" },
                ]},
            });
            assert_eq!(check_dashboard(&dashboard, &known()), [], "{ds}");
        }
    }

    #[test]
    fn references_that_do_not_resolve_are_named() {
        let dashboard = json!({
            "__inputs": [{ "name": "DS_TEMPO", "type": "datasource", "pluginId": "tempo" }],
            "panels": [
                panel(json!({ "type": "prometheus", "uid": "prometheus-main" })),
                { "type": "row", "title": "r", "panels": [panel(json!("Prometheus (prod)"))] },
                { "title": "Q", "datasource": "-- Mixed --", "targets": [
                    { "refId": "B", "datasource": { "uid": "promethues" } },
                    { "refId": "C", "datasource": "${DS_TEMPO}" },
                    { "refId": "D", "datasource": "${DS_NOWHERE}" },
                ]},
                panel(json!({ "type": "elasticsearch" })),
            ],
            "templating": { "list": [
                { "name": "ds", "type": "datasource", "query": "influxdb" },
                { "name": "job", "type": "query", "datasource": "Thanos" },
            ]},
        });
        let got: Vec<String> = check_dashboard(&dashboard, &known())
            .iter()
            .map(|u| format!("{}: {}", u.place, u.why))
            .collect();
        let all = "known: Prometheus (uid prometheus, prometheus), Loki (uid loki, loki)";
        assert_eq!(
            got,
            [
                format!(
                    "panel \"P\": datasource uid \"prometheus-main\" is not provisioned ({all}); did you mean \"prometheus\"?"
                ),
                format!(
                    "panel \"P\": datasource name \"Prometheus (prod)\" is not provisioned ({all}); did you mean \"Prometheus\"?"
                ),
                format!(
                    "panel \"Q\" (target B): datasource uid \"promethues\" is not provisioned ({all}); did you mean \"prometheus\"?"
                ),
                "panel \"Q\" (target C): ${DS_TEMPO} is imported as a datasource of type \"tempo\", and none is provisioned".to_string(),
                "panel \"Q\" (target D): ${DS_NOWHERE} names neither a template variable nor an export input (`__inputs`), so Grafana cannot find the datasource".to_string(),
                "panel \"P\": no datasource of type \"elasticsearch\" is provisioned".to_string(),
                "variable \"ds\": lists datasources of type \"influxdb\", and none is provisioned".to_string(),
                format!("variable \"job\": datasource name \"Thanos\" is not provisioned ({all})"),
            ]
        );
    }

    #[test]
    fn the_shipped_provisioning_file_reads() {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stack/grafana/datasources.yml");
        let ds = read_provisioning(&file, "datasources.yml").expect("reads");
        let uids: Vec<Option<&str>> = ds.list.iter().map(|d| d.uid.as_deref()).collect();
        assert_eq!(uids, [Some("prometheus"), Some("jaeger"), Some("loki")]);
    }
}
