//! Errors are data: where (file:line:col, key path), what was expected, and a hint.

use std::fmt;
use std::path::Path;

/// A position in an input file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed input file.
    #[error("{at}: {what}\n  expected: {expected}\n  hint: {hint}")]
    Parse {
        at: Location,
        what: String,
        expected: String,
        hint: String,
    },
    /// A value that parses but is out of its valid range.
    #[error("{at}: invalid value for `{key}`: {what}\n  hint: {hint}")]
    Value {
        at: Location,
        key: String,
        what: String,
        hint: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The simulation cannot proceed (e.g. a box too small for the cutoff).
    #[error("{0}")]
    Setup(String),
    /// The system's own state left its box too small for the next stage (an NPT box too
    /// narrow to shear): a property of the simulated system, unlike [`Error::Setup`]. A fit
    /// counts such a candidate as failed.
    #[error("{what}\n  hint: {hint}")]
    BoxTooSmall { what: String, hint: String },
    /// The integration blew up: some position, velocity, spin or force is no longer finite.
    #[error("step {step}: the run became unstable: {what}\n  hint: {hint}")]
    Unstable { step: u64, what: String, hint: String },
    /// A run ended on request (the viewer's reset) before it finished.
    #[error("stopped on request")]
    Stopped,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether the simulated system itself failed (it blew up, or its box ended too small
    /// for the next stage): the same scenario and seed fail again. Not a fault of the setup,
    /// files or machine; a fit's candidate or a sweep's case then has no observables.
    pub fn is_simulation_failure(&self) -> bool {
        matches!(self, Error::Unstable { .. } | Error::BoxTooSmall { .. })
    }
}
