//! The line parser: ocserv.conf syntax (inih as ocserv builds it) -> raw entries.
//!
//! Rules, in the order they are applied to each line:
//! * lines longer than [`MAX_LINE`] bytes are an error; a UTF-8 BOM on line 1 is skipped;
//! * blank lines and lines whose first non-blank character is `#` or `;` are comments;
//! * an indented non-blank line that follows an option continues that option: it is read as
//!   one more value of the same key (inih's multi-line rule; a warning points it out);
//! * `[vhost:NAME]` opens a virtual-host section (kept), any other `[section]` is skipped
//!   with one warning;
//! * `key = value` (or `key: value`) is split at the first `=` or `:`;
//! * ` #` (a `#` after a blank) outside double quotes starts an inline comment;
//! * blanks around key and value are trimmed and one pair of double quotes around the whole
//!   value is removed (a lone leading or trailing quote is dropped too, as ocserv does, with a
//!   warning).
//!
//! The parser knows nothing about option names, so per-user and per-group files can use it too.

use std::fmt;
use std::path::Path;

use crate::error::{ConfigError, ConfigWarning};

/// Longest accepted line, in bytes, without its line terminator (ocserv's limit).
pub const MAX_LINE: usize = 2048;

/// One `key = value` occurrence, as written (quotes and comments removed).
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// Option name, exactly as written (ocserv option names are case-sensitive).
    pub key: String,
    /// Value with surrounding blanks, inline comment and one pair of double quotes removed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
    /// True when the line was an indented continuation of the previous option.
    pub continuation: bool,
}

/// Options whose values are secrets: never shown by `Debug`.
const SECRET_KEYS: &[&str] = &["key-pin", "srk-pin", "camouflage_secret"];

impl Entry {
    /// True when the value is a secret that must not be logged.
    pub fn is_secret(&self) -> bool {
        SECRET_KEYS.contains(&self.key.as_str())
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Debug = if self.is_secret() {
            &"<redacted>"
        } else {
            &self.value
        };
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", value)
            .field("line", &self.line)
            .field("continuation", &self.continuation)
            .finish()
    }
}

/// A `[vhost:NAME]` section: its raw entries (typed on demand with `Config::for_vhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vhost {
    /// Host name, trimmed and lower-cased (matched against the TLS SNI).
    pub name: String,
    /// Line of the first `[vhost:NAME]` header.
    pub line: usize,
    /// Entries of every section with this name, in file order.
    pub entries: Vec<Entry>,
}

/// A parsed file: top-level entries, virtual hosts, and syntax-level warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// Entries before the first section header.
    pub entries: Vec<Entry>,
    /// `[vhost:NAME]` sections, in order of first appearance.
    pub vhosts: Vec<Vhost>,
    /// Skipped sections, continuation lines.
    pub warnings: Vec<ConfigWarning>,
}

/// inih's notion of a blank (C `isspace` in the "C" locale).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Where an entry goes.
enum Target {
    Top,
    Vhost(usize),
    Skipped,
}

/// Parses the text of an ocserv.conf-style file into raw entries.
///
/// # Errors
/// The first syntax error (like ocserv, parsing stops there): over-long line, `[` without `]`,
/// a line that is neither a comment nor `key = value`, an empty key or vhost name.
pub fn parse_document(text: &str, file: &Path) -> Result<Document, ConfigError> {
    let mut doc = Document::default();
    let mut target = Target::Top;
    let mut prev_key: Option<String> = None;

    for (idx, raw_line) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let mut line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if lineno == 1 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.len() > MAX_LINE {
            return Err(ConfigError::syntax(
                file,
                lineno,
                format!("line is {} bytes long; the limit is {MAX_LINE}", line.len()),
            ));
        }
        let trimmed = line.trim_matches(is_blank);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.starts_with(is_blank);

        let entry = match (&prev_key, indented) {
            (Some(key), true) => {
                let (value, unbalanced) = clean_value(trimmed, false);
                if unbalanced {
                    doc.warnings.push(quote_warning(file, lineno, key));
                }
                doc.warnings.push(ConfigWarning {
                    file: file.to_path_buf(),
                    line: lineno,
                    key: key.clone(),
                    message: format!(
                        "indented line continues option '{key}' (read as another '{key}' \
                         value); remove the indentation if it is a new option"
                    ),
                });
                Entry {
                    key: key.clone(),
                    value,
                    line: lineno,
                    continuation: true,
                }
            }
            _ if trimmed.starts_with('[') => {
                prev_key = None;
                target = open_section(&mut doc, trimmed, file, lineno)?;
                continue;
            }
            _ => {
                let (entry, unbalanced) = parse_pair(trimmed, file, lineno)?;
                if unbalanced {
                    doc.warnings.push(quote_warning(file, lineno, &entry.key));
                }
                prev_key = Some(entry.key.clone());
                entry
            }
        };
        match target {
            Target::Top => doc.entries.push(entry),
            Target::Vhost(i) => {
                if let Some(v) = doc.vhosts.get_mut(i) {
                    v.entries.push(entry);
                }
            }
            Target::Skipped => {}
        }
    }
    Ok(doc)
}

/// Handles a `[...]` header line.
fn open_section(
    doc: &mut Document,
    trimmed: &str,
    file: &Path,
    lineno: usize,
) -> Result<Target, ConfigError> {
    let inner = trimmed.strip_prefix('[').unwrap_or(trimmed);
    let cut = comment_start(inner, false).unwrap_or(inner.len());
    let Some(close) = inner.get(..cut).and_then(|s| s.find(']')) else {
        return Err(ConfigError::syntax(
            file,
            lineno,
            format!(
                "section header '{}' has no closing ']'",
                crate::error::show(trimmed)
            ),
        ));
    };
    let name = inner.get(..close).unwrap_or_default();
    let Some(host) = name.strip_prefix("vhost:") else {
        doc.warnings.push(ConfigWarning {
            file: file.to_path_buf(),
            line: lineno,
            key: format!("[{name}]"),
            message: format!(
                "unknown section '[{}]'; its options are ignored (only [vhost:NAME] is known)",
                crate::error::show(name)
            ),
        });
        return Ok(Target::Skipped);
    };
    let host = host.trim_matches(is_blank).to_ascii_lowercase();
    if host.is_empty() {
        return Err(ConfigError::syntax(
            file,
            lineno,
            "virtual host section '[vhost:]' has an empty host name",
        ));
    }
    if let Some(i) = doc.vhosts.iter().position(|v| v.name == host) {
        return Ok(Target::Vhost(i));
    }
    doc.vhosts.push(Vhost {
        name: host,
        line: lineno,
        entries: Vec::new(),
    });
    Ok(Target::Vhost(doc.vhosts.len() - 1))
}

/// Splits `key = value` / `key: value`.
fn parse_pair(trimmed: &str, file: &Path, lineno: usize) -> Result<(Entry, bool), ConfigError> {
    let limit = comment_start(trimmed, false).unwrap_or(trimmed.len());
    let head = trimmed.get(..limit).unwrap_or(trimmed);
    let Some(sep) = head.find(['=', ':']) else {
        let shown = if SECRET_KEYS.iter().any(|k| trimmed.starts_with(k)) {
            "<redacted>".to_owned()
        } else {
            crate::error::show(trimmed)
        };
        return Err(ConfigError::syntax(
            file,
            lineno,
            format!("expected 'key = value' or a comment, got '{shown}'"),
        ));
    };
    let key = head.get(..sep).unwrap_or_default().trim_matches(is_blank);
    if key.is_empty() {
        return Err(ConfigError::syntax(
            file,
            lineno,
            format!(
                "missing option name before '=' in '{}'",
                crate::error::show(trimmed)
            ),
        ));
    }
    let rest = trimmed.get(sep + 1..).unwrap_or_default();
    let (value, unbalanced) = clean_value(rest, false);
    let entry = Entry {
        key: key.to_owned(),
        value,
        line: lineno,
        continuation: false,
    };
    Ok((entry, unbalanced))
}

/// Byte offset of an inline comment (`#` preceded by a blank, outside double quotes).
fn comment_start(s: &str, prev_blank: bool) -> Option<usize> {
    let mut was_blank = prev_blank;
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == '#' && was_blank && !in_quotes {
            return Some(i);
        }
        was_blank = is_blank(c);
    }
    None
}

/// Removes the inline comment, surrounding blanks and surrounding double quotes.
/// Returns the value and whether the quotes were unbalanced (`"abc` or `abc"`: like ocserv,
/// the lone quote is dropped; the caller warns).
fn clean_value(rest: &str, prev_blank: bool) -> (String, bool) {
    let cut = comment_start(rest, prev_blank).unwrap_or(rest.len());
    let value = rest.get(..cut).unwrap_or(rest).trim_matches(is_blank);
    let (value, opened) = match value.strip_prefix('"') {
        Some(v) => (v, true),
        None => (value, false),
    };
    let (value, closed) = match value.strip_suffix('"') {
        Some(v) if opened || !value.is_empty() => (v, true),
        _ => (value, false),
    };
    (value.trim_matches(is_blank).to_owned(), opened != closed)
}

/// The warning for an unbalanced double quote.
fn quote_warning(file: &Path, line: usize, key: &str) -> ConfigWarning {
    ConfigWarning {
        file: file.to_path_buf(),
        line,
        key: key.to_owned(),
        message: format!("the value of '{key}' has an unbalanced double quote; it was removed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Document {
        parse_document(text, Path::new("t.conf")).unwrap()
    }

    fn kv(doc: &Document) -> Vec<(String, String)> {
        doc.entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    #[test]
    fn basic_pairs_comments_and_quotes() {
        let doc = parse(
            "# comment\n; other comment\n\nauth = \"plain[passwd=/x]\"\ntcp-port=443 # inline\n\
             banner = \"hello # not a comment\"  # but this is\nkey: v:w\nempty =\n",
        );
        assert_eq!(
            kv(&doc),
            vec![
                ("auth".into(), "plain[passwd=/x]".into()),
                ("tcp-port".into(), "443".into()),
                ("banner".into(), "hello # not a comment".into()),
                ("key".into(), "v:w".into()),
                ("empty".into(), String::new()),
            ]
        );
        assert_eq!(doc.entries[1].line, 5);
    }

    #[test]
    fn hash_without_blank_is_not_a_comment() {
        let doc = parse("a = x#y\nb =#z\n");
        assert_eq!(
            kv(&doc),
            vec![("a".into(), "x#y".into()), ("b".into(), "#z".into())]
        );
    }

    #[test]
    fn crlf_and_bom() {
        let doc = parse("\u{feff}a = 1\r\nb = 2\r\n");
        assert_eq!(
            kv(&doc),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn repeated_keys_kept_in_order() {
        let doc = parse("route = a\nroute = b\nroute = c\n");
        let v: Vec<_> = doc.entries.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(v, ["a", "b", "c"]);
    }

    #[test]
    fn continuation_lines_repeat_previous_key() {
        let doc = parse("dns = 1.1.1.1\n   8.8.8.8 # c\n");
        assert_eq!(doc.entries.len(), 2);
        assert_eq!(doc.entries[1].key, "dns");
        assert_eq!(doc.entries[1].value, "8.8.8.8");
        assert!(doc.entries[1].continuation);
        assert_eq!(doc.warnings.len(), 1);
        assert_eq!(doc.warnings[0].line, 2);
    }

    #[test]
    fn indented_first_line_is_a_normal_pair() {
        let doc = parse("  a = 1\n");
        assert_eq!(kv(&doc), vec![("a".into(), "1".into())]);
        assert!(!doc.entries[0].continuation);
    }

    #[test]
    fn vhost_sections_kept_and_merged() {
        let doc = parse(
            "a = 1\n[vhost:Www.Example.com]\nb = 2\n[other]\nc = 3\n[vhost: www.example.com ]\nd = 4\n",
        );
        assert_eq!(kv(&doc), vec![("a".into(), "1".into())]);
        assert_eq!(doc.vhosts.len(), 1);
        assert_eq!(doc.vhosts[0].name, "www.example.com");
        assert_eq!(doc.vhosts[0].line, 2);
        let keys: Vec<_> = doc.vhosts[0]
            .entries
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, ["b", "d"]);
        assert_eq!(doc.warnings.len(), 1);
        assert!(doc.warnings[0]
            .message
            .contains("unknown section '[other]'"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse_document("a = 1\njust words\n", Path::new("t.conf")).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err
            .to_string()
            .starts_with("t.conf:2: expected 'key = value'"));

        let err = parse_document("[vhost:x\n", Path::new("t.conf")).unwrap_err();
        assert!(err.to_string().contains("no closing ']'"), "{err}");

        let err = parse_document("[vhost:]\n", Path::new("t.conf")).unwrap_err();
        assert!(err.to_string().contains("empty host name"), "{err}");

        let err = parse_document("key-pin hunter2\n", Path::new("t.conf")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let err = parse_document(" = 3\n", Path::new("t.conf")).unwrap_err();
        assert!(err.to_string().contains("missing option name"), "{err}");

        // A comment before the '=' hides it.
        let err = parse_document("a #= 1\n", Path::new("t.conf")).unwrap_err();
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn unbalanced_quotes_are_dropped_with_a_warning() {
        let doc = parse("banner = \"abc\nb = def\"\nc = \"\"\nd = \"\n");
        assert_eq!(
            kv(&doc),
            vec![
                ("banner".into(), "abc".into()),
                ("b".into(), "def".into()),
                ("c".into(), String::new()),
                ("d".into(), String::new()),
            ]
        );
        let lines: Vec<usize> = doc.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [1, 2, 4]);
        assert!(doc.warnings[0].message.contains("unbalanced double quote"));
    }

    #[test]
    fn line_length_limit() {
        let ok = format!("a = {}\n", "x".repeat(MAX_LINE - 4));
        assert!(parse_document(&ok, Path::new("t.conf")).is_ok());
        let long = format!("a = {}\n", "x".repeat(MAX_LINE));
        let err = parse_document(&long, Path::new("t.conf")).unwrap_err();
        assert!(err.to_string().contains("limit is 2048"), "{err}");
    }

    #[test]
    fn secret_values_are_redacted_in_debug() {
        let doc = parse("key-pin = hunter2\nbanner = hi\n");
        let dbg = format!("{:?}", doc);
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert!(dbg.contains("hi"));
    }
}
