//! Pure Grafana dashboard model: load dashboard JSON, extract every panel's queries, and
//! render them the way Grafana renders them for a Prometheus data source — template
//! variables (`$var`, `${var}`, `${var:format}`, `[[var]]`), multi-value and "All" values,
//! repeated panels and rows, and the interval/range macros (`$__interval`, `$__interval_ms`,
//! `$__rate_interval`, `$__range`, `$__range_s`, `$__range_ms`).
//!
//! Upstream references: dashboard JSON model
//! <https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/>,
//! variable syntax and formats
//! <https://grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax/>, Prometheus
//! template variables and macros
//! <https://grafana.com/docs/grafana/latest/datasources/prometheus/template-variables/>.
//!
//! Fidelity notes: `$__interval` follows Grafana's interval calculator (minimum interval from
//! the query, panel, or the data source's scrape interval, default 15 s; `range /
//! max_data_points` rounded to Grafana's steps; never below `range / 11000`).
//! `$__rate_interval` is `max($__interval + scrape, 4 × scrape)` written as Grafana's backend
//! writes it (Go duration syntax: `1m0s`). Without a `:format`, values are escaped like
//! Grafana's Prometheus data source: single values regular-escaped, multi/All values
//! regex-escaped and joined as `(a|b)`. Ad hoc filters and library panels are not applied.
//! No I/O here: the verdict layer evaluates the rendered queries.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// The dashboard JSON could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("dashboard is not valid json")]
    Json(#[source] serde_json::Error),
    #[error("dashboard json is not an object")]
    NotAnObject,
    #[error("`{field}` is not an array")]
    NotAnArray { field: String },
}

/// A data source reference as a panel or target names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatasourceRef {
    pub uid: Option<String>,
    /// The data source type (`prometheus`, `loki`, …).
    pub kind: Option<String>,
    /// Legacy form: a data source *name* (or `${DS_X}`) given as a plain string.
    pub name: Option<String>,
}

/// A query target of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub ref_id: String,
    /// The query text (`expr`) of Prometheus/Loki targets.
    pub expr: Option<String>,
    pub datasource: Option<DatasourceRef>,
    /// Hidden targets are not run by Grafana.
    pub hide: bool,
    /// Per-query minimum interval (`interval`).
    pub interval: Option<String>,
    pub instant: bool,
}

/// A panel (rows flattened away; `row` names the enclosing row).
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub id: i64,
    pub title: String,
    /// Panel type (`timeseries`, `stat`, …).
    pub kind: String,
    pub datasource: Option<DatasourceRef>,
    pub targets: Vec<Target>,
    /// Panel minimum interval (query options).
    pub interval: Option<String>,
    pub max_data_points: Option<u64>,
    /// Title of the row the panel sits in.
    pub row: Option<String>,
    /// Variable the panel is repeated for.
    pub repeat: Option<String>,
    /// Variable the enclosing row is repeated for.
    pub row_repeat: Option<String>,
}

/// Template variable type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableKind {
    Custom,
    Constant,
    Query,
    Interval,
    Datasource,
    Textbox,
    Adhoc,
    Other(String),
}

/// One selectable option of a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableOption {
    pub text: String,
    pub value: String,
}

/// A template variable with its saved state.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub kind: VariableKind,
    pub multi: bool,
    pub include_all: bool,
    /// Custom "All" value (e.g. `.*`).
    pub all_value: Option<String>,
    /// Saved current value(s); `$__all` for "All".
    pub current: Vec<String>,
    pub current_text: Vec<String>,
    pub options: Vec<VariableOption>,
    pub query: String,
    /// Interval variables: `auto` option enabled, with its step count and minimum.
    pub auto: bool,
    pub auto_count: u64,
    pub auto_min: String,
}

/// A parsed dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub panels: Vec<Panel>,
    pub variables: Vec<Variable>,
}

/// What Grafana would know at render time: the time range, the panel resolution, the data
/// source's scrape interval, and variable values chosen by the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderContext {
    /// Dashboard time range length (`to - from`).
    pub range: Duration,
    /// Data source `timeInterval` ("scrape interval"); Grafana's default is 15 s.
    pub scrape_interval: Duration,
    /// Data points per panel when the panel does not set `maxDataPoints` (in the browser this
    /// is the panel's pixel width).
    pub max_data_points: u64,
    /// Variable values overriding the saved ones (`["$__all"]` selects All).
    pub overrides: BTreeMap<String, Vec<String>>,
}

impl RenderContext {
    /// `range` with Grafana defaults: 15 s scrape interval, 1000 data points.
    pub fn new(range: Duration) -> Self {
        RenderContext {
            range,
            scrape_interval: Duration::from_secs(15),
            max_data_points: 1000,
            overrides: BTreeMap::new(),
        }
    }
}

/// A panel query ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelQuery {
    pub panel_id: i64,
    pub panel_title: String,
    pub ref_id: String,
    /// The rendered expression.
    pub expr: String,
    /// The target's (or else the panel's) data source, variables substituted.
    pub datasource: Option<DatasourceRef>,
    pub instant: bool,
    /// The query step Grafana would use (`$__interval`, or `$__rate_interval` when the
    /// target's min interval is `$__rate_interval`).
    pub step: Duration,
    /// Variable references that could not be resolved (left in `expr` as written).
    pub unresolved: Vec<String>,
}

pub const ALL_VALUE: &str = "$__all";
const SAFE_RESOLUTION: u32 = 11_000;

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn datasource(v: Option<&Value>) -> Option<DatasourceRef> {
    match v? {
        Value::String(s) => Some(DatasourceRef {
            name: Some(s.clone()),
            ..DatasourceRef::default()
        }),
        o @ Value::Object(_) => Some(DatasourceRef {
            uid: text(o, "uid"),
            kind: text(o, "type"),
            name: None,
        }),
        _ => None,
    }
}

fn array<'a>(v: &'a Value, key: &str, field: &str) -> Result<&'a [Value], DashboardError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(DashboardError::NotAnArray {
            field: field.to_string(),
        }),
    }
}

fn parse_panel(
    v: &Value,
    row: Option<&str>,
    row_repeat: Option<&str>,
    path: &str,
) -> Result<Panel, DashboardError> {
    let targets = array(v, "targets", &format!("{path}.targets"))?
        .iter()
        .map(|t| Target {
            ref_id: text(t, "refId").unwrap_or_default(),
            expr: text(t, "expr"),
            datasource: datasource(t.get("datasource")),
            hide: flag(t, "hide"),
            interval: text(t, "interval").filter(|s| !s.is_empty()),
            instant: flag(t, "instant") && !flag(t, "range"),
        })
        .collect();
    Ok(Panel {
        id: v.get("id").and_then(Value::as_i64).unwrap_or(0),
        title: text(v, "title").unwrap_or_default(),
        kind: text(v, "type").unwrap_or_default(),
        datasource: datasource(v.get("datasource")),
        targets,
        interval: text(v, "interval").filter(|s| !s.is_empty()),
        max_data_points: v.get("maxDataPoints").and_then(Value::as_u64),
        row: row.map(str::to_string),
        repeat: text(v, "repeat").filter(|s| !s.is_empty()),
        row_repeat: row_repeat.map(str::to_string),
    })
}

fn parse_variable(v: &Value) -> Variable {
    let kind = match text(v, "type").as_deref() {
        Some("custom") => VariableKind::Custom,
        Some("constant") => VariableKind::Constant,
        Some("query") => VariableKind::Query,
        Some("interval") => VariableKind::Interval,
        Some("datasource") => VariableKind::Datasource,
        Some("textbox") => VariableKind::Textbox,
        Some("adhoc") => VariableKind::Adhoc,
        other => VariableKind::Other(other.unwrap_or("").to_string()),
    };
    let current = v.get("current");
    let options = v
        .get("options")
        .and_then(Value::as_array)
        .map(|opts| {
            opts.iter()
                .map(|o| VariableOption {
                    text: strings(o.get("text")).join(" + "),
                    value: strings(o.get("value")).join(","),
                })
                .collect()
        })
        .unwrap_or_default();
    let query = match v.get("query") {
        Some(Value::String(s)) => s.clone(),
        // Newer query variables store an object; its `query` field holds the text.
        Some(o @ Value::Object(_)) => text(o, "query").unwrap_or_default(),
        _ => String::new(),
    };
    Variable {
        name: text(v, "name").unwrap_or_default(),
        kind,
        multi: flag(v, "multi"),
        include_all: flag(v, "includeAll"),
        all_value: text(v, "allValue").filter(|s| !s.is_empty()),
        current: current.map(|c| strings(c.get("value"))).unwrap_or_default(),
        current_text: current.map(|c| strings(c.get("text"))).unwrap_or_default(),
        options,
        query,
        auto: flag(v, "auto"),
        auto_count: v.get("auto_count").and_then(Value::as_u64).unwrap_or(30),
        auto_min: text(v, "auto_min").unwrap_or_else(|| "10s".to_string()),
    }
}

impl Dashboard {
    /// Parses dashboard JSON text (the model itself or the API's `{dashboard, meta}`).
    pub fn parse(json: &str) -> Result<Self, DashboardError> {
        let value: Value = serde_json::from_str(json).map_err(DashboardError::Json)?;
        Self::from_json(&value)
    }

    /// Parses a dashboard JSON value (the model itself or the API's `{dashboard, meta}`).
    pub fn from_json(value: &Value) -> Result<Self, DashboardError> {
        let mut model = value;
        if let Some(inner @ Value::Object(_)) = value.get("dashboard")
            && value.get("panels").is_none()
        {
            model = inner;
        }
        if !model.is_object() {
            return Err(DashboardError::NotAnObject);
        }
        let mut panels = Vec::new();
        let mut row: Option<(String, Option<String>)> = None;
        for (i, p) in array(model, "panels", "panels")?.iter().enumerate() {
            let path = format!("panels[{i}]");
            if text(p, "type").as_deref() == Some("row") {
                let title = text(p, "title").unwrap_or_default();
                let repeat = text(p, "repeat").filter(|s| !s.is_empty());
                // A collapsed row keeps its panels inside; an open row's follow it.
                for (j, child) in array(p, "panels", &format!("{path}.panels"))?
                    .iter()
                    .enumerate()
                {
                    panels.push(parse_panel(
                        child,
                        Some(&title),
                        repeat.as_deref(),
                        &format!("{path}.panels[{j}]"),
                    )?);
                }
                row = Some((title, repeat));
                continue;
            }
            let (title, repeat) = match &row {
                Some((t, r)) => (Some(t.as_str()), r.as_deref()),
                None => (None, None),
            };
            panels.push(parse_panel(p, title, repeat, &path)?);
        }
        // Pre-5.0 schema: rows[].panels[].
        for (i, r) in array(model, "rows", "rows")?.iter().enumerate() {
            let title = text(r, "title").unwrap_or_default();
            let repeat = text(r, "repeat").filter(|s| !s.is_empty());
            for (j, p) in array(r, "panels", &format!("rows[{i}].panels"))?
                .iter()
                .enumerate()
            {
                panels.push(parse_panel(
                    p,
                    Some(&title),
                    repeat.as_deref(),
                    &format!("rows[{i}].panels[{j}]"),
                )?);
            }
        }
        let variables = match model.get("templating") {
            Some(t) => array(t, "list", "templating.list")?
                .iter()
                .map(parse_variable)
                .collect(),
            None => Vec::new(),
        };
        Ok(Dashboard {
            uid: text(model, "uid").unwrap_or_default(),
            title: text(model, "title").unwrap_or_default(),
            panels,
            variables,
        })
    }

    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Every query Grafana would run for this dashboard, rendered. Hidden targets and
    /// targets without `expr` are left out; repeated panels and rows yield one set of queries
    /// per repeat value.
    pub fn panel_queries(&self, ctx: &RenderContext) -> Vec<PanelQuery> {
        let mut out = Vec::new();
        for panel in &self.panels {
            for scope in self.repeat_scopes(panel, ctx) {
                self.render_panel(panel, ctx, &scope, &mut out);
            }
        }
        out
    }

    /// One scope (variable → single value) per repeat instance; one empty scope otherwise.
    fn repeat_scopes(&self, panel: &Panel, ctx: &RenderContext) -> Vec<BTreeMap<String, String>> {
        let mut scopes = vec![BTreeMap::new()];
        for var_name in [&panel.row_repeat, &panel.repeat].into_iter().flatten() {
            let Some(var) = self.variable(var_name) else {
                continue;
            };
            let Some(values) = self.values_of(var, ctx) else {
                continue;
            };
            let mut next = Vec::new();
            for scope in &scopes {
                for value in &values {
                    let mut s = scope.clone();
                    s.insert(var_name.clone(), value.clone());
                    next.push(s);
                }
            }
            scopes = next;
        }
        scopes
    }

    fn render_panel(
        &self,
        panel: &Panel,
        ctx: &RenderContext,
        scope: &BTreeMap<String, String>,
        out: &mut Vec<PanelQuery>,
    ) {
        let mut title_unresolved = Vec::new();
        let title = self.interpolate(
            &panel.title,
            ctx,
            scope,
            &Macros::none(),
            Some("text"),
            &mut title_unresolved,
        );
        for target in &panel.targets {
            let Some(expr) = target.expr.as_deref().filter(|e| !e.trim().is_empty()) else {
                continue;
            };
            if target.hide {
                continue;
            }
            let mut unresolved = Vec::new();
            let min_interval_text = target
                .interval
                .as_deref()
                .filter(|i| !is_interval_macro(i))
                .or(panel.interval.as_deref())
                .map(|i| self.interpolate(i, ctx, scope, &Macros::none(), None, &mut unresolved));
            let min_interval = min_interval_text
                .as_deref()
                .and_then(parse_grafana_duration)
                .unwrap_or(ctx.scrape_interval);
            let max_data_points = panel.max_data_points.unwrap_or(ctx.max_data_points);
            let interval = calculate_interval(ctx.range, min_interval, max_data_points);
            let rate_interval = rate_interval(interval, ctx.scrape_interval);
            let step = if target
                .interval
                .as_deref()
                .is_some_and(|i| i.contains("__rate_interval"))
            {
                rate_interval
            } else {
                interval
            };
            let macros = Macros::new(step, rate_interval, ctx.range);
            let expr = self.interpolate(expr, ctx, scope, &macros, None, &mut unresolved);
            let datasource = target
                .datasource
                .as_ref()
                .or(panel.datasource.as_ref())
                .map(|ds| DatasourceRef {
                    uid: ds.uid.as_ref().map(|u| {
                        self.interpolate(
                            u,
                            ctx,
                            scope,
                            &Macros::none(),
                            Some("raw"),
                            &mut unresolved,
                        )
                    }),
                    kind: ds.kind.clone(),
                    name: ds.name.as_ref().map(|n| {
                        self.interpolate(
                            n,
                            ctx,
                            scope,
                            &Macros::none(),
                            Some("raw"),
                            &mut unresolved,
                        )
                    }),
                });
            unresolved.sort();
            unresolved.dedup();
            out.push(PanelQuery {
                panel_id: panel.id,
                panel_title: title.clone(),
                ref_id: target.ref_id.clone(),
                expr,
                datasource,
                instant: target.instant,
                step,
                unresolved,
            });
        }
    }

    /// The values `var` stands for (All expanded), or `None` when unknown.
    fn values_of(&self, var: &Variable, ctx: &RenderContext) -> Option<Vec<String>> {
        let selected = self.selected(var, ctx);
        if selected.iter().any(|v| v == ALL_VALUE) {
            let all: Vec<String> = self
                .option_values(var)
                .into_iter()
                .filter(|v| v != ALL_VALUE)
                .collect();
            return (!all.is_empty()).then_some(all);
        }
        (!selected.is_empty()).then_some(selected)
    }

    /// The selected value(s): override, else saved current, else the type's default.
    fn selected(&self, var: &Variable, ctx: &RenderContext) -> Vec<String> {
        if let Some(values) = ctx.overrides.get(&var.name) {
            return values.clone();
        }
        if !var.current.is_empty() {
            return var.current.clone();
        }
        match var.kind {
            VariableKind::Constant | VariableKind::Textbox => vec![var.query.clone()],
            VariableKind::Custom | VariableKind::Interval => {
                self.option_values(var).into_iter().take(1).collect()
            }
            _ => Vec::new(),
        }
    }

    fn option_values(&self, var: &Variable) -> Vec<String> {
        if !var.options.is_empty() {
            return var.options.iter().map(|o| o.value.clone()).collect();
        }
        match var.kind {
            VariableKind::Custom | VariableKind::Interval => split_custom_query(&var.query),
            _ => Vec::new(),
        }
    }

    /// Replaces variable references in `input`.
    ///
    /// `forced_format` applies to every reference without an explicit `:format` (`text` for
    /// titles, `raw` for data source names); `None` means Grafana's Prometheus escaping.
    fn interpolate(
        &self,
        input: &str,
        ctx: &RenderContext,
        scope: &BTreeMap<String, String>,
        macros: &Macros,
        forced_format: Option<&str>,
        unresolved: &mut Vec<String>,
    ) -> String {
        self.interpolate_depth(input, ctx, scope, macros, forced_format, unresolved, 0)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "recursion carries the whole render state"
    )]
    fn interpolate_depth(
        &self,
        input: &str,
        ctx: &RenderContext,
        scope: &BTreeMap<String, String>,
        macros: &Macros,
        forced_format: Option<&str>,
        unresolved: &mut Vec<String>,
        depth: u8,
    ) -> String {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(pos) = rest.find(['$', '[']) {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            let Some(reference) = parse_reference(tail) else {
                let ch = tail.chars().next().map_or(1, char::len_utf8);
                out.push_str(&tail[..ch]);
                rest = &tail[ch..];
                continue;
            };
            let matched = &tail[..reference.len];
            rest = &tail[reference.len..];
            if let Some(value) = macros.get(reference.name) {
                out.push_str(&value);
                continue;
            }
            let format = reference.format.or(forced_format);
            if let Some(value) = scope.get(reference.name) {
                // A repeat instance binds one value; Grafana still formats it with the
                // variable's own multi/All flags (a lone value is regex-escaped, no parens).
                let multi_like = self
                    .variable(reference.name)
                    .is_some_and(|v| v.multi || v.include_all);
                let one = std::slice::from_ref(value);
                out.push_str(&format_values(one, one, format, multi_like, reference.name));
                continue;
            }
            let Some(var) = self.variable(reference.name) else {
                // Not a variable (e.g. a regex `$` or a Prometheus `[5m]`): keep as written.
                // `$1` in label_replace replacements is not a variable reference.
                if !reference.name.starts_with(|c: char| c.is_ascii_digit()) {
                    unresolved.push(reference.name.to_string());
                }
                out.push_str(matched);
                continue;
            };
            let selected = self.selected(var, ctx);
            if selected.is_empty() {
                unresolved.push(var.name.clone());
                out.push_str(matched);
                continue;
            }
            let is_all = selected.iter().any(|v| v == ALL_VALUE);
            if is_all
                && let Some(all_value) = &var.all_value
                && !matches!(format, Some("text" | "percentencode"))
            {
                // Grafana does not escape a custom All value, only resolves variables in it.
                if depth < 4 {
                    let inner = self.interpolate_depth(
                        all_value,
                        ctx,
                        scope,
                        macros,
                        forced_format,
                        unresolved,
                        depth + 1,
                    );
                    out.push_str(&inner);
                } else {
                    out.push_str(all_value);
                }
                continue;
            }
            let values = if is_all {
                match self.values_of(var, ctx) {
                    Some(v) => v,
                    None => {
                        unresolved.push(var.name.clone());
                        out.push_str(matched);
                        continue;
                    }
                }
            } else if var.kind == VariableKind::Interval
                && selected.iter().any(|v| v.starts_with("$__auto_interval"))
            {
                vec![auto_interval(var, ctx.range)]
            } else {
                selected
            };
            let texts = if is_all {
                vec!["All".to_string()]
            } else if var.current_text.is_empty() || ctx.overrides.contains_key(&var.name) {
                values.clone()
            } else {
                var.current_text.clone()
            };
            let multi_like = var.multi || var.include_all;
            out.push_str(&format_values(
                &values, &texts, format, multi_like, &var.name,
            ));
        }
        out.push_str(rest);
        out
    }
}

struct Reference<'a> {
    name: &'a str,
    format: Option<&'a str>,
    len: usize,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses one reference at the start of `s`: `$name`, `${name}`, `${name:format}`,
/// `${name.field}`, `[[name]]`, `[[name:format]]` (Grafana's variable regex).
fn parse_reference(s: &str) -> Option<Reference<'_>> {
    if let Some(body) = s.strip_prefix("${") {
        let end = body.find('}')?;
        let inner = &body[..end];
        let name_len = inner.chars().take_while(|c| is_word(*c)).count();
        if name_len == 0 {
            return None;
        }
        let name = &inner[..name_len];
        let after = &inner[name_len..];
        // `${var.fieldPath}` selects a field of an object value; keep the variable itself.
        let after = match after.strip_prefix('.') {
            Some(path) => &path[path.find(':').unwrap_or(path.len())..],
            None => after,
        };
        let format = match after.strip_prefix(':') {
            Some(f) if !f.is_empty() => Some(f),
            Some(_) => return None,
            None if after.is_empty() => None,
            None => return None,
        };
        return Some(Reference {
            name,
            format,
            len: 2 + end + 1,
        });
    }
    if let Some(body) = s.strip_prefix("[[") {
        let end = body.find("]]")?;
        let inner = &body[..end];
        let (name, format) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        if name.is_empty()
            || !name.chars().all(is_word)
            || format.is_some_and(|f| f.is_empty() || !f.chars().all(is_word))
        {
            return None;
        }
        return Some(Reference {
            name,
            format,
            len: 2 + end + 2,
        });
    }
    let body = s.strip_prefix('$')?;
    let name_len = body.chars().take_while(|c| is_word(*c)).count();
    if name_len == 0 {
        return None;
    }
    Some(Reference {
        name: &body[..name_len],
        format: None,
        len: 1 + name_len,
    })
}

/// Interval and range macros for one query.
struct Macros {
    values: BTreeMap<&'static str, String>,
}

impl Macros {
    fn none() -> Self {
        Macros {
            values: BTreeMap::new(),
        }
    }

    fn new(interval: Duration, rate_interval: Duration, range: Duration) -> Self {
        let range_ms = range.as_millis();
        let range_s = (range_ms as f64 / 1000.0).round() as u128;
        let mut values = BTreeMap::new();
        values.insert("__interval", format_duration(interval));
        values.insert("__interval_ms", interval.as_millis().to_string());
        values.insert("__rate_interval", go_duration_string(rate_interval));
        values.insert("__rate_interval_ms", rate_interval.as_millis().to_string());
        values.insert("__range", format!("{range_s}s"));
        values.insert("__range_s", range_s.to_string());
        values.insert("__range_ms", range_ms.to_string());
        Macros { values }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}

fn is_interval_macro(text: &str) -> bool {
    ["__interval", "__interval_ms", "__rate_interval"]
        .iter()
        .any(|m| text == format!("${m}") || text == format!("${{{m}}}"))
}

/// Formats `values` for substitution. `format` is an explicit `:format`; `None` applies the
/// Prometheus data source's escaping.
fn format_values(
    values: &[String],
    texts: &[String],
    format: Option<&str>,
    multi_like: bool,
    name: &str,
) -> String {
    let single = values.len() == 1;
    match format.map(|f| f.split(':').next().unwrap_or(f)) {
        None => {
            if !multi_like {
                return values
                    .iter()
                    .map(|v| prometheus_regular_escape(v))
                    .collect::<Vec<_>>()
                    .join(",");
            }
            let escaped: Vec<String> = values.iter().map(|v| prometheus_regex_escape(v)).collect();
            if single {
                escaped[0].clone()
            } else {
                format!("({})", escaped.join("|"))
            }
        }
        Some("regex") => {
            let escaped: Vec<String> = values.iter().map(|v| escape_regex(v)).collect();
            if single {
                escaped[0].clone()
            } else {
                format!("({})", escaped.join("|"))
            }
        }
        Some("pipe") => values.join("|"),
        Some("csv") => values.join(","),
        Some("distributed") => values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i == 0 {
                    v.clone()
                } else {
                    format!("{name}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Some("json") => {
            if single {
                values[0].clone()
            } else {
                serde_json::to_string(values).unwrap_or_default()
            }
        }
        Some("singlequote") => values
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(","),
        Some("doublequote") => values
            .iter()
            .map(|v| format!("\"{}\"", v.replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(","),
        Some("sqlstring") => values
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(","),
        Some("text") => texts.join(" + "),
        Some("queryparam") => values
            .iter()
            .map(|v| format!("var-{name}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&"),
        Some("percentencode") => {
            if single {
                percent_encode(&values[0])
            } else {
                percent_encode(&format!("{{{}}}", values.join(",")))
            }
        }
        // glob, raw, and formats unknown here: Grafana's glob form.
        Some(_) => {
            if single {
                values[0].clone()
            } else {
                format!("{{{}}}", values.join(","))
            }
        }
    }
}

/// Grafana's `prometheusRegularEscape`: `\` → `\\`, `'` → `\\'`.
fn prometheus_regular_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\\\'")
}

/// Grafana's `prometheusSpecialRegexEscape`: `\` → `\\\\`, regex metacharacters → `\\c`.
fn prometheus_regex_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Grafana's `escapeRegex` (the `:regex` format).
fn escape_regex(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\^$*+?.()|[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 3986 strict percent-encoding (`encodeURIComponent` plus `!'()*`).
fn percent_encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A custom variable's query: `a,b,c` or `label : value, …` (values after ` : `).
fn split_custom_query(query: &str) -> Vec<String> {
    query
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once(" : ") {
            Some((_, value)) => value.trim().to_string(),
            None => item.to_string(),
        })
        .collect()
}

/// An `auto` interval variable's value: `range / auto_count`, rounded, at least `auto_min`.
fn auto_interval(var: &Variable, range: Duration) -> String {
    let min = parse_grafana_duration(&var.auto_min).unwrap_or(Duration::from_secs(10));
    let count = u32::try_from(var.auto_count.max(1)).unwrap_or(u32::MAX);
    let raw = range / count;
    let value = if raw < min { min } else { round_interval(raw) };
    format_duration(value)
}

/// Grafana's interval for a query: the larger of the rounded `range / max_data_points` (or
/// `min_interval` when that is larger) and the safe interval `range / 11000`.
pub fn calculate_interval(
    range: Duration,
    min_interval: Duration,
    max_data_points: u64,
) -> Duration {
    let points = u32::try_from(max_data_points.max(1)).unwrap_or(u32::MAX);
    let raw = range / points;
    let calculated = if raw < min_interval {
        min_interval
    } else {
        round_interval(raw)
    };
    let safe = round_interval(range / SAFE_RESOLUTION);
    calculated.max(safe)
}

/// `max(interval + scrape, 4 × scrape)` (Grafana's `$__rate_interval`).
pub fn rate_interval(interval: Duration, scrape_interval: Duration) -> Duration {
    (interval + scrape_interval).max(scrape_interval * 4)
}

/// Grafana's interval rounding table (`gtime.roundInterval`).
pub fn round_interval(interval: Duration) -> Duration {
    let ms = interval.as_millis();
    let step: u64 = match ms {
        0..=10 => 1,
        11..=15 => 10,
        16..=35 => 20,
        36..=75 => 50,
        76..=150 => 100,
        151..=350 => 200,
        351..=750 => 500,
        751..=1_500 => 1_000,
        1_501..=3_500 => 2_000,
        3_501..=7_500 => 5_000,
        7_501..=12_500 => 10_000,
        12_501..=17_500 => 15_000,
        17_501..=25_000 => 20_000,
        25_001..=45_000 => 30_000,
        45_001..=90_000 => 60_000,
        90_001..=210_000 => 120_000,
        210_001..=450_000 => 300_000,
        450_001..=750_000 => 600_000,
        750_001..=1_050_000 => 900_000,
        1_050_001..=1_500_000 => 1_200_000,
        1_500_001..=2_700_000 => 1_800_000,
        2_700_001..=5_400_000 => 3_600_000,
        5_400_001..=9_000_000 => 7_200_000,
        9_000_001..=16_200_000 => 10_800_000,
        16_200_001..=32_400_000 => 21_600_000,
        32_400_001..=86_400_000 => 43_200_000,
        86_400_001..=604_800_000 => 86_400_000,
        604_800_001..=1_814_400_000 => 604_800_000,
        1_814_400_001..=3_628_799_999 => 2_592_000_000,
        _ => 31_536_000_000,
    };
    // Sub-millisecond remainders count as above the boundary, like Go's nanosecond compare.
    let exact_boundary = interval.subsec_nanos().is_multiple_of(1_000_000);
    if !exact_boundary && is_boundary(ms) {
        return round_interval(Duration::from_millis(
            u64::try_from(ms).unwrap_or(u64::MAX) + 1,
        ));
    }
    Duration::from_millis(step)
}

fn is_boundary(ms: u128) -> bool {
    matches!(
        ms,
        10 | 15
            | 35
            | 75
            | 150
            | 350
            | 750
            | 1_500
            | 3_500
            | 7_500
            | 12_500
            | 17_500
            | 25_000
            | 45_000
            | 90_000
            | 210_000
            | 450_000
            | 750_000
            | 1_050_000
            | 1_500_000
            | 2_700_000
            | 5_400_000
            | 9_000_000
            | 16_200_000
            | 32_400_000
            | 86_400_000
            | 604_800_000
            | 1_814_400_000
    )
}

/// Grafana's short duration text (`FormatDuration`): `15s`, `1m`, `2h`, `1d`, `500ms`
/// (truncated to the largest unit).
pub fn format_duration(d: Duration) -> String {
    const DAY: u128 = 86_400_000;
    const YEAR: u128 = 365 * DAY;
    let ms = d.as_millis();
    if ms >= YEAR {
        format!("{}y", ms / YEAR)
    } else if ms >= DAY {
        format!("{}d", ms / DAY)
    } else if ms >= 3_600_000 {
        format!("{}h", ms / 3_600_000)
    } else if ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms >= 1_000 {
        format!("{}s", ms / 1_000)
    } else if ms >= 1 {
        format!("{ms}ms")
    } else {
        "1ms".to_string()
    }
}

/// Go's `time.Duration.String()`: `1m0s`, `1h30m0s`, `1.5s`, `500ms`, `0s`.
pub fn go_duration_string(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let trim = |whole: u128, frac: u128, digits: usize| -> String {
        if frac == 0 {
            whole.to_string()
        } else {
            let f = format!("{frac:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(nanos / 1_000, nanos % 1_000, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(nanos / 1_000_000, nanos % 1_000_000, 6));
    }
    let total_secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let (h, m, s) = (total_secs / 3600, total_secs % 3600 / 60, total_secs % 60);
    let secs = format!("{}s", trim(s, frac, 9));
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

/// Parses a Grafana duration (`15s`, `1m`, `500ms`, `1h30m`, `2d`, `1w`, `1M`, `1y`; a bare
/// number is seconds; `<`/`>` markers are ignored).
pub fn parse_grafana_duration(text: &str) -> Option<Duration> {
    let text = text
        .trim()
        .trim_start_matches(['<', '>'])
        .trim_end_matches(['<', '>']);
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if digits == 0 {
            return None;
        }
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_secs: f64 = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "M" => 2_592_000.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(n * unit_secs).ok()?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration_string(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration_string(Duration::from_secs(75)), "1m15s");
        assert_eq!(go_duration_string(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration_string(Duration::from_secs(20)), "20s");
        assert_eq!(go_duration_string(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration_string(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration_string(Duration::ZERO), "0s");
    }

    #[test]
    fn grafana_interval_math() {
        let hour = Duration::from_secs(3600);
        let scrape = Duration::from_secs(15);
        // 3.6 s per point is below the 15 s minimum.
        assert_eq!(calculate_interval(hour, scrape, 1000), scrape);
        // 24 h / 1000 = 86.4 s → rounds to 1m.
        assert_eq!(
            calculate_interval(hour * 24, scrape, 1000),
            Duration::from_secs(60)
        );
        assert_eq!(rate_interval(scrape, scrape), Duration::from_secs(60));
        assert_eq!(
            rate_interval(Duration::from_secs(60), scrape),
            Duration::from_secs(75)
        );
        assert_eq!(
            round_interval(Duration::from_millis(45_000)),
            Duration::from_secs(30)
        );
        assert_eq!(
            round_interval(Duration::from_millis(45_001)),
            Duration::from_secs(60)
        );
        assert_eq!(
            round_interval(Duration::from_micros(45_000_500)),
            Duration::from_secs(60)
        );
        assert_eq!(format_duration(Duration::from_secs(90)), "1m");
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
    }

    #[test]
    fn grafana_durations_parse() {
        assert_eq!(parse_grafana_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_grafana_duration(">1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_grafana_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_grafana_duration("1h30m"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(parse_grafana_duration("$foo"), None);
    }

    #[test]
    fn escapes_match_grafana() {
        assert_eq!(prometheus_regex_escape("a.b|c"), r"a\\.b\\|c");
        assert_eq!(prometheus_regex_escape(r"x\y"), r"x\\\\y");
        assert_eq!(prometheus_regular_escape("it's"), r"it\\'s");
        assert_eq!(escape_regex("a.b/c"), r"a\.b\/c");
    }

    #[test]
    fn references_parse_like_grafana() {
        let r = parse_reference("${svc:regex} rest").expect("braced");
        assert_eq!((r.name, r.format, r.len), ("svc", Some("regex"), 12));
        let r = parse_reference("[[svc:pipe]]").expect("brackets");
        assert_eq!((r.name, r.format), ("svc", Some("pipe")));
        let r = parse_reference("$__interval_ms)").expect("plain");
        assert_eq!(r.name, "__interval_ms");
        assert!(parse_reference("$ x").is_none());
        assert!(parse_reference("[5m]").is_none());
        assert!(parse_reference("${}").is_none());
    }
}
