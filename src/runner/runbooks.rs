//! At the end of a run, while the stack still runs: every alert that fired during it, from
//! Prometheus' own `ALERTS` series over the run, with the annotations Prometheus,
//! Alertmanager, the notifications gauntlet received or the rule itself give
//! (`verdict::runbooks` merges them and flags what a responder would miss).

use std::time::{Duration, SystemTime};

use super::probes::Observers;
use crate::error_chain;
use crate::observe::alertmanager::AlertFilter;
use crate::report::FiredAlert;
use crate::verdict::runbooks::{self, Sources};

/// How long the backends may take to list the alerts.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The alerts that fired since the run started; `Err` says why they could not be listed.
pub async fn fired_alerts(obs: &Observers) -> Result<Vec<FiredAlert>, String> {
    tokio::time::timeout(TIMEOUT, ask(obs))
        .await
        .map_err(|_| format!("the backends did not answer within {TIMEOUT:?}"))?
}

async fn ask(obs: &Observers) -> Result<Vec<FiredAlert>, String> {
    let now = SystemTime::now();
    let window = now
        .duration_since(obs.started_wall)
        .unwrap_or_default()
        .as_millis()
        .max(1);
    let fired = obs
        .prometheus
        .query(
            &format!("max_over_time(ALERTS{{alertstate=\"firing\"}}[{window}ms])"),
            Some(now),
        )
        .await
        .map_err(|e| format!("prometheus: {}", error_chain(&e)))?;
    let fired: Vec<_> = fired
        .result
        .as_vector()
        .unwrap_or_default()
        .iter()
        .map(|s| s.labels.clone())
        .collect();
    if fired.is_empty() {
        return Ok(Vec::new());
    }
    // Annotation sources are best effort: a missing one only moves to the next.
    let active = obs.prometheus.alerts().await.unwrap_or_default();
    let am = match &obs.alertmanager {
        Some(am) => am.alerts(&AlertFilter::default()).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let notified: Vec<_> = match &obs.sink {
        Ok(sink) => sink
            .notifications()
            .into_iter()
            .flat_map(|n| n.payload.alerts)
            .collect(),
        Err(_) => Vec::new(),
    };
    let rules: Vec<_> = obs
        .prometheus
        .rules()
        .await
        .unwrap_or_default()
        .iter()
        .flat_map(|g| g.alerting_rules().cloned().collect::<Vec<_>>())
        .collect();
    Ok(runbooks::fired_alerts(
        &fired,
        &Sources {
            prometheus: &active,
            alertmanager: &am,
            notified: &notified,
            rules: &rules,
        },
    ))
}
