//! The one error type of this crate: what is wrong, and where (file, line, field).

use std::fmt;

/// A history that could not be read. Display: `path:LINE: field "f": expected ..., found ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file (or the name given to an in-memory source).
    pub path: String,
    /// 1-based line; 0 when the problem is the file itself (cannot open, ...).
    pub line: u64,
    /// The field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Error {
    /// An error at `path:line`, optionally naming a field.
    pub fn at(path: &str, line: u64, field: Option<&str>, message: String) -> Error {
        Error {
            path: path.to_string(),
            line,
            field: field.map(str::to_string),
            message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field {field:?}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Error {}
