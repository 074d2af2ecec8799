//! Report stage: the results model the runner fills ([`RunResults`], [`RunEvent`]) and every
//! reporter that reads it — terminal (live progress + summary table), `results.json`
//! (versioned, schema in `fixtures/report.schema.json`), `junit.xml`, and the pre-release
//! report as `report.md` (+ SVG files) and self-contained `report.html` — plus the nightly
//! helpers (history baseline, flakiness over repeats) and `gauntlet report` (re-render).

pub mod fired;
pub mod flaky;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod matrix;
pub mod model;
mod output;
pub mod svg;
mod table;
pub mod terminal;
mod text;

pub use fired::FiredAlert;
pub use model::*;
pub use output::{ReportArgs, ReportError, ReportFormat, rerender, run_report_cli, write_all};
pub use terminal::{TerminalReporter, TerminalStyle};
