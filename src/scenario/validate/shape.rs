//! The telemetry's shape in `services:`: dialect, job names, relabelling, replicas; and a
//! fault's `replica`. Each is refused where gauntlet could not apply it.

use super::*;
use crate::scenario::relabel::RelabelConfig;
use crate::services::Dialect;

/// Most processes one service may run (each is a whole process on a small machine).
pub(super) const MAX_REPLICAS: u32 = 16;

/// What [`Validator::shape`] returns into `ServicesSpec`.
pub(super) struct Shape {
    pub dialect: Dialect,
    pub jobs: BTreeMap<String, String>,
    pub replicas: BTreeMap<String, u32>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

impl Validator {
    pub(super) fn shape(
        &mut self,
        r: &RawServices,
        mode: ServicesMode,
        provider: Provider,
        names: &[String],
    ) -> Shape {
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        let owned_stack = matches!(provider, Provider::Native | Provider::Compose);
        let dialect = match r.dialect.as_deref() {
            None => Dialect::default(),
            Some(text) => {
                let parsed = Dialect::parse(text);
                if parsed.is_none() {
                    let all: Vec<&str> = Dialect::ALL.iter().map(|d| d.as_str()).collect();
                    self.unknown_name("services.dialect", "dialect", text, &all);
                }
                if mode == ServicesMode::External {
                    self.error_at_key(
                        "services.dialect",
                        "`dialect` shapes gauntlet's sample services; external services expose what they expose",
                        Some("map their names with `relabel-configs` / `metric-relabel-configs`".into()),
                    );
                }
                parsed.unwrap_or_default()
            }
        };
        let mut jobs = BTreeMap::new();
        for (service, job) in r.jobs.iter().flatten() {
            let field = format!("services.jobs.{service}");
            if !known.contains(&service.as_str()) {
                self.unknown_name(&field, "service", service, &known);
            } else if job.is_empty() {
                self.error(&field, "a job name cannot be empty", None);
            } else {
                jobs.insert(service.clone(), job.clone());
            }
        }
        if !jobs.is_empty() && !owned_stack {
            self.error_at_key(
                "services.jobs",
                "`jobs` names the scrape jobs of a stack gauntlet runs; this stack's owner configures its own",
                None,
            );
        }
        let mut replicas = BTreeMap::new();
        for (service, n) in r.replicas.iter().flatten() {
            let field = format!("services.replicas.{service}");
            if !known.contains(&service.as_str()) {
                self.unknown_name(&field, "service", service, &known);
            } else if !(1..=MAX_REPLICAS).contains(n) {
                self.error(
                    &field,
                    format!("replicas must be in 1..={MAX_REPLICAS}, got {n}"),
                    None,
                );
            } else if *n > 1 {
                replicas.insert(service.clone(), *n);
            }
        }
        if r.replicas.is_some() && mode != ServicesMode::PerProcess {
            self.error_at_key(
                "services.replicas",
                "replicas are processes: they need `services.mode: per-process`",
                None,
            );
        }
        let relabel_configs = self.relabel("relabel", &r.relabel_configs);
        let metric_relabel_configs = self.relabel("metric-relabel", &r.metric_relabel_configs);
        if (r.relabel_configs.is_some() || r.metric_relabel_configs.is_some()) && !owned_stack {
            self.error(
                "services",
                "relabelling applies to the scrape config of a stack gauntlet runs; this stack's owner configures its own",
                None,
            );
        }
        Shape {
            dialect,
            jobs,
            replicas,
            relabel_configs,
            metric_relabel_configs,
        }
    }

    /// Checks `services.<prefix>-configs` (or its Prometheus spelling, `<prefix>_configs`),
    /// locating each problem on the key as the user wrote it.
    fn relabel(&mut self, prefix: &str, rules: &Option<Vec<RelabelConfig>>) -> Vec<RelabelConfig> {
        let rules = rules.clone().unwrap_or_default();
        let kebab = format!("services.{prefix}-configs");
        let snake = format!("services.{}_configs", prefix.replace('-', "_"));
        let field = if self.map.contains(&snake) {
            snake
        } else {
            kebab
        };
        for (i, rule) in rules.iter().enumerate() {
            let item = join_index(&field, i);
            for (key, message) in rule.problems() {
                let at = join_key(&item, key);
                let at = if self.map.contains(&at) {
                    at
                } else {
                    item.clone()
                };
                self.error(
                    &at,
                    message,
                    Some("Prometheus refuses this relabel_config at start-up".into()),
                );
            }
        }
        rules
    }

    /// The load calls one URL, so a replicated load target would not be balanced.
    pub(super) fn replicated_load_target(&mut self, services: &ServicesSpec, target: &str) {
        if services.replicas_of(target) > 1 {
            self.error(
                &format!("services.replicas.{target}"),
                format!("{target} is the load's target: the load calls one URL, so its replicas would not share it"),
                Some("replicate a service the target calls (callers balance across replicas)".into()),
            );
        }
    }

    /// A fault's `replica`: 1-based, within the target service's replicas.
    pub(super) fn replica(
        &mut self,
        path: &str,
        replica: Option<u32>,
        action: &FaultAction,
        svc: Option<&ServicesSpec>,
    ) -> Option<u32> {
        let n = replica?;
        let service = action.target();
        let count = svc.map_or(1, |s| s.replicas_of(&service));
        let is_service = svc.is_some_and(|s| s.names.contains(&service));
        if !is_service {
            self.error(
                &join_key(path, "replica"),
                format!("`replica` picks one process of a sample service; {service:?} is not one"),
                None,
            );
        } else if n == 0 || n > count {
            self.error(
                &join_key(path, "replica"),
                format!(
                    "{service} runs {count} replica(s): `replica` must be in 1..={count}, got {n}"
                ),
                Some(format!("set `services.replicas: {{ {service}: N }}`")),
            );
        }
        Some(n)
    }
}
