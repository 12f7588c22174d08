//! The one error type of this crate: what is wrong, and where (file, line, field).

/// A history that could not be read. Display: `path:LINE: field "f": expected ..., found ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {}{message}", line_part(.line), field_part(.field))]
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

/// `:LINE`, or nothing for line 0 (the file as a whole).
fn line_part(line: &u64) -> String {
    if *line > 0 {
        format!(":{line}")
    } else {
        String::new()
    }
}

/// `field "NAME": `, or nothing.
fn field_part(field: &Option<String>) -> String {
    match field {
        Some(f) => format!("field {f:?}: "),
        None => String::new(),
    }
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
