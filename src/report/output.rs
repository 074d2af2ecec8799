//! Writing report files: the output formats, [`write_all`] after a run, [`rerender`] and the
//! `gauntlet report` command ([`ReportArgs`], [`run_report_cli`]) that re-renders a saved
//! `results.json`. Errors of every reporter are [`ReportError`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::model::RunResults;
use super::{html, json, junit, markdown, terminal};

/// Failure of a reporter (the harness's own failure, not a missed expectation).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing to the terminal (or another stream) failed.
    #[error("cannot write the report output")]
    Stream(#[source] std::io::Error),
    /// Results could not be serialized (a non-finite float, for instance).
    #[error("cannot serialize results")]
    Serialize(#[source] serde_json::Error),
    /// A results document is not valid.
    #[error("{}: invalid results document{}", path.display(), if field.is_empty() || field == "." { String::new() } else { format!(" at `{field}`") })]
    Parse {
        /// The file.
        path: PathBuf,
        /// Path of the offending field, e.g. `scenarios[0].status`.
        field: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A results document of a format this build does not read.
    #[error(
        "{}: results format version {} is not supported (this gauntlet reads version {supported})",
        path.display(),
        found.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file, if any.
        found: Option<u32>,
        /// Version this build reads.
        supported: u32,
    },
    /// quick-junit could not serialize the JUnit report.
    #[error("cannot serialize the junit report")]
    Junit(#[source] quick_junit::SerializeError),
    /// A history file line is not a valid entry.
    #[error("{}:{line}: invalid history entry", path.display())]
    History {
        /// The history file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ReportFormat {
    /// `results.json` (versioned; `fixtures/report.schema.json`).
    Json,
    /// `junit.xml` for CI test tabs.
    Junit,
    /// `report.md` with SVG plots beside it.
    Md,
    /// Self-contained `report.html` (inline CSS and SVG).
    Html,
}

impl ReportFormat {
    /// Every format, in the order `write_all` writes them.
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Md,
        ReportFormat::Html,
    ];
}

/// Writes `bytes` to `path`, creating parent directories, naming the path on failure.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    // The last line of defence: whatever reached a report (an error message quoting a URL,
    // a component note), no credential in a URL is written out.
    let text = std::str::from_utf8(bytes).map(crate::redact::text);
    let bytes = match &text {
        Ok(text) => text.as_bytes(),
        Err(_) => bytes,
    };
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes each format of `results` into `dir` (created if needed) and returns the written
/// files: `results.json`, `junit.xml`, `report.md` plus its `*.svg` plots, `report.html`.
pub fn write_all(
    dir: &Path,
    results: &RunResults,
    formats: &[ReportFormat],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    let mut done = Vec::new();
    for &format in formats {
        if done.contains(&format) {
            continue;
        }
        done.push(format);
        match format {
            ReportFormat::Json => {
                let path = dir.join(json::RESULTS_FILE);
                json::write(&path, results)?;
                written.push(path);
            }
            ReportFormat::Junit => {
                let path = dir.join(junit::JUNIT_FILE);
                junit::write(&path, results)?;
                written.push(path);
            }
            ReportFormat::Md => written.extend(markdown::write(dir, results)?),
            ReportFormat::Html => {
                let path = dir.join(html::HTML_FILE);
                html::write(&path, results)?;
                written.push(path);
            }
        }
        tracing::debug!(?format, dir = %dir.display(), "report written");
    }
    Ok(written)
}

/// Reads `results_json` and writes `format` into `out_dir`; returns the written files.
pub fn rerender(
    results_json: &Path,
    format: ReportFormat,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let results = json::read(results_json)?;
    write_all(out_dir, &results, &[format])
}

/// `gauntlet report`: re-render a saved `results.json` in other formats.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The `results.json` written by `gauntlet run`.
    pub results: PathBuf,
    /// Formats to write (repeat the flag or separate with commas).
    #[arg(long, short, value_enum, value_delimiter = ',', default_values = ["md", "html"])]
    pub format: Vec<ReportFormat>,
    /// Directory for the output files [default: the directory holding RESULTS].
    #[arg(long, short)]
    pub out_dir: Option<PathBuf>,
    /// Also print the summary table to standard output.
    #[arg(long)]
    pub summary: bool,
}

/// Runs `gauntlet report`: reads the results, writes each requested format, prints the paths
/// written (and the summary table with `--summary`) on standard output.
pub fn run_report_cli(args: ReportArgs) -> Result<(), ReportError> {
    let results = json::read(&args.results)?;
    let out_dir = match &args.out_dir {
        Some(d) => d.clone(),
        None => args
            .results
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let written = write_all(&out_dir, &results, &args.format)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.summary {
        let style = terminal::TerminalStyle::detect(true);
        terminal::write_summary(&mut out, &results, style).map_err(ReportError::Stream)?;
    }
    for path in written {
        writeln!(out, "wrote {}", path.display()).map_err(ReportError::Stream)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReportArgs,
    }

    #[test]
    fn report_args_parse_formats() {
        let cli = Cli::try_parse_from([
            "x",
            "r/results.json",
            "--format",
            "junit,html",
            "-f",
            "json",
        ])
        .expect("valid");
        assert_eq!(
            cli.args.format,
            vec![ReportFormat::Junit, ReportFormat::Html, ReportFormat::Json]
        );
        let cli = Cli::try_parse_from(["x", "r.json"]).expect("valid");
        assert_eq!(cli.args.format, vec![ReportFormat::Md, ReportFormat::Html]);
        assert!(Cli::try_parse_from(["x", "r.json", "--format", "pdf"]).is_err());
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = rerender(
            Path::new("/nonexistent/results.json"),
            ReportFormat::Md,
            Path::new("/tmp"),
        )
        .expect_err("no such file");
        assert_eq!(err.to_string(), "cannot access /nonexistent/results.json");
    }
}
