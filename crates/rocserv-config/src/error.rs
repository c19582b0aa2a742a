//! Errors and warnings produced while reading a configuration file.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem that stops the server from starting.
///
/// Its `Display` names the file, the line and the option, e.g.
/// `/etc/rocserv/ocserv.conf:12: key 'tcp-port': expected a port number 1..65535, got 'abc'`
/// or, for a missing option, `/etc/rocserv/ocserv.conf: missing mandatory option 'device'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Rendered(self))]
pub struct ConfigError {
    /// The file being read.
    pub file: PathBuf,
    /// 1-based line number, when the problem belongs to one line.
    pub line: Option<usize>,
    /// The option concerned, when there is one.
    pub key: Option<String>,
    /// What is wrong, e.g. `expected a boolean (true/yes/false/no), got 'maybe'`.
    pub message: String,
}

struct Rendered<'a>(&'a ConfigError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match e.line {
            Some(line) => {
                write!(f, "{}:{}: ", e.file.display(), line)?;
                if let Some(key) = &e.key {
                    write!(f, "key '{key}': ")?;
                }
            }
            None => write!(f, "{}: ", e.file.display())?,
        }
        f.write_str(&e.message)
    }
}

impl ConfigError {
    /// An error on one line, not tied to an option (syntax errors).
    pub(crate) fn syntax(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            key: None,
            message: message.into(),
        }
    }

    /// An error about the value of `key` on `line`.
    pub(crate) fn at(file: &Path, line: usize, key: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// A mandatory option is absent.
    pub(crate) fn missing(file: &Path, key: &str) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            key: Some(key.to_owned()),
            message: format!("missing mandatory option '{key}'"),
        }
    }

    /// A whole-file problem (I/O, cross-option consistency without a line).
    pub(crate) fn file(file: &Path, key: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Something suspicious that does not stop the server (unknown or not yet implemented option,
/// deprecated name, host bits masked, ...).
///
/// `Display`: `FILE:LINE: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file being read.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// The option (or `[section]` header) concerned.
    pub key: String,
    /// Human-readable explanation.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Renders an untrusted value for an error message: control characters are escaped and very
/// long values are shortened, so a message always stays on one readable line.
pub(crate) fn show(value: &str) -> String {
    const MAX: usize = 120;
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_line_and_key() {
        let e = ConfigError::at(Path::new("a.conf"), 3, "dpd", "expected x, got 'y'");
        assert_eq!(e.to_string(), "a.conf:3: key 'dpd': expected x, got 'y'");
    }

    #[test]
    fn display_missing() {
        let e = ConfigError::missing(Path::new("a.conf"), "device");
        assert_eq!(e.to_string(), "a.conf: missing mandatory option 'device'");
    }

    #[test]
    fn display_syntax() {
        let e = ConfigError::syntax(Path::new("a.conf"), 7, "bad line");
        assert_eq!(e.to_string(), "a.conf:7: bad line");
    }

    #[test]
    fn warning_display() {
        let w = ConfigWarning {
            file: PathBuf::from("b.conf"),
            line: 9,
            key: "x".into(),
            message: "unknown option 'x'; ignored".into(),
        };
        assert_eq!(w.to_string(), "b.conf:9: unknown option 'x'; ignored");
    }

    #[test]
    fn show_escapes_controls_and_truncates() {
        assert_eq!(show("a\tb"), "a\\tb");
        let long = "x".repeat(500);
        assert!(show(&long).ends_with("..."));
        assert!(show(&long).len() < 130);
    }
}
