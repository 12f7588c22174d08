//! The one error type of this crate: what is wrong, and where (file, line, field).

use std::sync::Arc;

/// What an [`Error`] comes from: an I/O error, or the JSON parser's.
type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A history that could not be read. Display: `path:LINE: field "f": expected ..., found ...`.
///
/// An error that comes from another one (the file cannot be opened or read, the JSON parser
/// rejects a line) keeps it as its [`source`](std::error::Error::source); its text is in
/// `message` too, as the crate's other callers print only the error itself. Two errors are
/// equal when path, line, field and message are.
#[derive(Debug, Clone)]
pub struct Error {
    /// The file (or the name given to an in-memory source).
    pub path: String,
    /// 1-based line; 0 when the problem is the file itself (cannot open, ...).
    pub line: u64,
    /// The field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The error this one comes from, if any.
    cause: Option<Cause>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (line, field) = (line_part(&self.line), field_part(&self.field));
        write!(f, "{}{line}: {field}{}", self.path, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The cause itself, not the `Arc` around it, so that callers can downcast it.
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        (&self.path, self.line, &self.field, &self.message)
            == (&other.path, other.line, &other.field, &other.message)
    }
}

impl Eq for Error {}

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
            cause: None,
        }
    }

    /// An error at `path:line` that `cause` led to: the message is `what: <cause>`, and
    /// `cause` is the source.
    pub(crate) fn caused(
        path: &str,
        line: u64,
        what: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let mut e = Error::at(path, line, None, format!("{what}: {cause}"));
        e.cause = Some(Arc::new(cause));
        e
    }
}
