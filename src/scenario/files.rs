//! Finding and reading scenario files: a file, or every `*.yaml`/`*.yml` in a directory.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::model::Scenario;
use super::source::Position;
use super::validate::validate_text;

/// Expands files and directories (not recursive) into a sorted list of scenario files.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            match super::references::files_with_ext(path, &["yaml", "yml"]) {
                Ok(found) if found.is_empty() => problems.push(file_problem(
                    path,
                    "directory holds no .yaml or .yml scenario files",
                )),
                Ok(found) => files.extend(found),
                Err(e) => problems.push(file_problem(path, e)),
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            problems.push(file_problem(path, "no such file or directory"));
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Reads and validates one file.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostics(vec![file_problem(path, format!("cannot read: {e}"))]))?;
    validate_text(path, &text)
}

/// Loads every scenario under `paths`; on failure returns every problem in every file.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, Diagnostics> {
    let files = collect(paths)?;
    let mut scenarios = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match load(&file) {
            Ok(s) => scenarios.push(s),
            Err(d) => problems.extend(d.0),
        }
    }
    if problems.is_empty() {
        Ok(scenarios)
    } else {
        Err(Diagnostics(problems))
    }
}

fn file_problem(path: &Path, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        position: Position { line: 1, column: 1 },
        field: String::new(),
        message: message.into(),
        hint: None,
    }
}
