//! `gauntlet check` and `gauntlet list`: the pure part of the pipeline alone.

use std::path::PathBuf;

use clap::Args;
use tabled::settings::Style;
use tabled::{Table, Tabled};

use crate::exit_code;
use crate::scenario::{self, Scenario};

/// `gauntlet check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files or directories (every *.yaml / *.yml directly inside that is a
    /// scenario: rule files, Alertmanager and Grafana configs beside them are skipped).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `gauntlet list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
}

/// Prints every problem in every file; exit 2 when any, else 0.
pub fn check(args: &CheckArgs) -> i32 {
    let files = match scenario::collect_all(&args.paths) {
        Ok(found) => {
            for skipped in &found.skipped {
                println!("skipped {skipped}");
            }
            found.files
        }
        Err(problems) => {
            eprintln!("{problems}");
            return exit_code::INVALID_SCENARIO;
        }
    };
    let mut invalid_files = 0;
    let mut problem_count = 0;
    for file in &files {
        match scenario::load(file) {
            Ok(s) => {
                println!("ok      {} ({})", file.display(), s.name);
                // What the run will change in the user's configuration, before it runs.
                for note in &s.stack.config_notes {
                    println!("        config: {note}");
                }
            }
            Err(problems) => {
                invalid_files += 1;
                problem_count += problems.0.len();
                eprintln!("{problems}");
            }
        }
    }
    if invalid_files == 0 {
        println!("{} scenario file(s) valid", files.len());
        exit_code::OK
    } else {
        eprintln!(
            "{problem_count} problem(s) in {invalid_files} of {} scenario file(s)",
            files.len()
        );
        exit_code::INVALID_SCENARIO
    }
}

#[derive(Tabled)]
struct ListRow {
    scenario: String,
    file: String,
    provider: String,
    faults: String,
    expectations: usize,
}

/// Lists valid scenarios in a table; invalid files make it exit 2 like `check`. Files
/// skipped as other formats are named on stderr, so the table stays the only stdout.
pub fn list(args: &ListArgs) -> i32 {
    if let Ok(found) = scenario::collect_all(&args.paths) {
        for skipped in &found.skipped {
            eprintln!("skipped {skipped}");
        }
    }
    match scenario::load_all(&args.paths) {
        Ok(scenarios) => {
            let rows: Vec<ListRow> = scenarios.iter().map(row).collect();
            println!("{}", Table::new(rows).with(Style::sharp()));
            exit_code::OK
        }
        Err(problems) => {
            eprintln!("{problems}");
            exit_code::INVALID_SCENARIO
        }
    }
}

fn row(s: &Scenario) -> ListRow {
    let faults: Vec<String> = s
        .faults
        .iter()
        .map(|f| format!("{} {}", f.action.kind(), f.target()))
        .collect();
    let expectations = s.expect.len()
        + s.steady_state.as_ref().map_or(0, |w| w.expect.len())
        + s.recover.as_ref().map_or(0, |w| w.expect.len());
    ListRow {
        scenario: s.name.clone(),
        file: s.file.display().to_string(),
        provider: format!("{:?}", s.stack.provider).to_lowercase(),
        faults: if faults.is_empty() {
            "-".into()
        } else {
            faults.join(", ")
        },
        expectations,
    }
}
