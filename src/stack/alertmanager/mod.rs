//! The user's Alertmanager config (`stack.alertmanager-config`), run as written.
//!
//! A verdict such as "our pages reach on-call" is only worth something if the routes,
//! grouping, inhibitions and time intervals that ran are the user's own. So the native and
//! compose providers start Alertmanager with the user's file, changed in the fewest places
//! that let gauntlet observe it on loopback:
//! - **receivers**: every receiver that has integrations becomes one webhook to gauntlet's
//!   sink for that receiver name (`/hook/<token>/<name>`). Webhooks are redirected; email,
//!   Slack, PagerDuty and every other kind are *replaced* by the same webhook, since they
//!   cannot reach anything from here and routing, not the integration, is under test. The
//!   webhook sends resolutions when any of the receiver's integrations would (Alertmanager's
//!   default per kind when not written). A receiver without integrations stays silent.
//! - **global**: only `resolve_timeout` is kept; the rest configures the replaced
//!   integrations (SMTP, API URLs, proxies that would divert the sink's traffic).
//! - **templates**: not loaded; they shape messages of the replaced integrations, and the
//!   webhook payload is fixed JSON.
//! - **timings**: a scenario that sets `group-wait`, `group-interval` or `repeat-interval`
//!   explicitly replaces that value on the root route and on every route that sets it (as
//!   `alert-for` does for rules), so a compressed test is compressed everywhere; otherwise the
//!   tree's own values run. A value that is a `{{placeholder}}` (files written for gauntlet's
//!   template) counts as not set.
//!
//! Every change is listed in the run's report ([`UserConfig::notes`]); URLs in the notes go
//! through [`crate::redact::destination`], the file's secrets are never shown.
//! Parsing is pure, so `gauntlet check` runs it too and reports what Alertmanager would
//! refuse (undefined receivers, matchers or `continue` on the root route, unknown keys).
//! Upstream: <https://prometheus.io/docs/alerting/latest/configuration/>.

mod model;
mod render;

pub use model::{
    ConfigProblem, ConfigProblems, DEFAULT_TIMINGS, Integration, Receiver, RouteTimings, Timings,
    UserConfig,
};
