//! Errors that stop a command. A bad log line is not one of these: it is a
//! [`crate::track::Tracked::Reject`] value, counted and kept aside, so a run goes on.

use std::path::PathBuf;

/// Everything that can stop a pixelsift command, each naming what it was doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An input file has bad rows; every problem found is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
    /// A configuration value (flag, rule file, secret) is unusable.
    #[error("{0}")]
    Config(String),
    /// Arrow or Parquet failed while writing the dataset.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow batch failed (a schema bug, never user input).
    #[error("building a batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The query engine refused or failed a query.
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

/// One problem in a user's input file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file with the problem.
    pub file: PathBuf,
    /// The 1-based line number (the header is line 1), 0 when the whole file is at fault.
    pub line: u64,
    /// What is wrong, in words.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    const SHOWN: usize = 20;
    let mut out = String::new();
    for p in problems.iter().take(SHOWN) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&p.to_string());
    }
    if problems.len() > SHOWN {
        out.push_str(&format!(
            "\n... and {} more problems",
            problems.len() - SHOWN
        ));
    }
    out
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
