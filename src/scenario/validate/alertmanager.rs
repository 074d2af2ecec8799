//! `stack.alertmanager-config`: the user's file is parsed the way the stack will run it
//! ([`crate::stack::alertmanager`]), so `gauntlet check` reports what Alertmanager would
//! refuse, knows the receivers, and takes notification floors from the route tree. Without a
//! file, gauntlet's template and the scenario's timings are used.

use super::*;
use crate::stack::alertmanager::{DEFAULT_TIMINGS, RouteTimings, Timings, UserConfig};

/// What the scenario's Alertmanager config means for the run.
pub(super) struct AlertmanagerChecked {
    /// The user's file (`None`: gauntlet's template).
    pub(super) path: Option<PathBuf>,
    pub(super) receivers: Vec<String>,
    /// Receivers with no integrations: Alertmanager sends them nothing.
    pub(super) silent_receivers: Vec<String>,
    /// The root route's timings, after the scenario's explicit ones.
    pub(super) timings: Timings,
    /// Per receiver, the shortest timings of the routes sending to it (user file only).
    pub(super) receiver_timings: BTreeMap<String, Timings>,
    /// What gauntlet changes in the file for this run (stacks it starts only).
    pub(super) notes: Vec<String>,
}

impl Validator {
    pub(super) fn alertmanager(
        &mut self,
        raw: Option<&String>,
        provider: Provider,
        fixtures: Option<&Path>,
        overrides: RouteTimings,
    ) -> AlertmanagerChecked {
        let mut out = AlertmanagerChecked {
            path: None,
            receivers: Vec::new(),
            silent_receivers: Vec::new(),
            timings: overrides.over(DEFAULT_TIMINGS),
            receiver_timings: BTreeMap::new(),
            notes: Vec::new(),
        };
        const FIELD: &str = "stack.alertmanager-config";
        let Some(raw) = raw else {
            // gauntlet's template: its receivers; timings are the scenario's (or defaults).
            let template = fixtures
                .map(|f| f.join("stack/alertmanager/alertmanager.yml.tmpl"))
                .filter(|p| p.is_file());
            if let Some(path) = template {
                match references::receivers(&path) {
                    Ok(names) => out.receivers = names,
                    Err(e) => self.error(FIELD, e, None),
                }
            }
            return out;
        };
        let path = self.base_dir.join(raw);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                let message = if path.is_file() {
                    format!("cannot read {}: {e}", path.display())
                } else {
                    format!("file not found: {}", path.display())
                };
                self.error(FIELD, message, None);
                return out;
            }
        };
        let user = match UserConfig::parse(&text) {
            Ok(user) => user,
            Err(problems) => {
                for p in problems.0 {
                    self.error(
                        FIELD,
                        format!("{}: {p}", path.display()),
                        Some("Alertmanager would refuse to start with this config".into()),
                    );
                }
                return out;
            }
        };
        out.receivers = user.receiver_names();
        out.silent_receivers = user
            .receivers()
            .iter()
            .filter(|r| r.integrations.is_empty())
            .map(|r| r.name.clone())
            .collect();
        out.timings = user.root_timings(&overrides);
        out.receiver_timings = user.receiver_timings(&overrides);
        if matches!(provider, Provider::Native | Provider::Compose) {
            let name = path
                .file_name()
                .map_or_else(|| raw.clone(), |n| n.to_string_lossy().into_owned());
            out.notes = user.notes(&name, &overrides);
        }
        out.path = Some(path);
        out
    }
}
