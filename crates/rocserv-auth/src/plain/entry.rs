//! The ocpasswd file format: one parser, one renderer.
//!
//! A line is `user:group1,group2:hash`. `#` comment lines and blank lines carry no entry. A hash
//! starting with `!` is a locked account. As in ocserv, whitespace around group names is
//! trimmed and group names of a single character (`*`, `x`) stand for "no group"; an empty hash
//! (an OTP-only user in ocserv) never matches a password.

use std::fmt;

/// One user line of an ocpasswd file.
///
/// `Debug` hides the hash (it could be cracked offline).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// The user name (non-empty, no `:`, no control characters).
    pub username: String,
    /// Group names, trimmed, without one-character placeholders.
    pub groups: Vec<String>,
    /// The account is locked (`!` before the hash).
    pub locked: bool,
    /// The crypt(3) hash, without the lock mark.
    pub hash: String,
}

/// What is wrong with a password-file line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Fewer than three `:`-separated fields.
    #[error("expected 'user:groups:hash' (three ':'-separated fields)")]
    MissingField,
    /// More than three fields: a hash never contains `:`.
    #[error("too many ':'-separated fields (expected 'user:groups:hash')")]
    TooManyFields,
    /// The user name is empty.
    #[error("empty user name")]
    EmptyUsername,
    /// The user name contains control characters.
    #[error("user name contains control characters")]
    InvalidUsername,
    /// A group name contains control characters.
    #[error("group name contains control characters")]
    InvalidGroup,
    /// The hash contains whitespace or control characters.
    #[error("password hash contains whitespace or control characters")]
    InvalidHash,
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    NotUtf8,
}

/// Parses one line of an ocpasswd file (without its line terminator; a trailing `\r` is
/// accepted). Returns `Ok(None)` for comments and blank lines.
///
/// # Errors
/// A [`LineError`] describing the first problem found.
pub fn parse_passwd_line(line: &str) -> Result<Option<PasswdEntry>, LineError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.split(':');
    let (Some(username), Some(groups), Some(hash)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(LineError::MissingField);
    };
    if fields.next().is_some() {
        return Err(LineError::TooManyFields);
    }
    if username.is_empty() {
        return Err(LineError::EmptyUsername);
    }
    if username.chars().any(char::is_control) {
        return Err(LineError::InvalidUsername);
    }
    let groups = parse_groups(groups)?;
    let hash = hash.trim_end();
    if hash.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LineError::InvalidHash);
    }
    let (locked, hash) = match hash.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, hash),
    };
    Ok(Some(PasswdEntry {
        username: username.to_owned(),
        groups,
        locked,
        hash: hash.to_owned(),
    }))
}

/// Splits a group field; empty and one-character names (`*`, `x`) mean "no group".
fn parse_groups(field: &str) -> Result<Vec<String>, LineError> {
    let mut groups = Vec::new();
    for name in field.split(',').map(str::trim) {
        if name.chars().any(char::is_control) {
            return Err(LineError::InvalidGroup);
        }
        if name.chars().count() > 1 {
            groups.push(name.to_owned());
        }
    }
    Ok(groups)
}

/// Parses a whole file's contents. Errors carry the 1-based line number.
///
/// Every entry is kept in file order, duplicates included (the first one for a user wins when
/// looking up; see [`PasswdEntry`]).
///
/// # Errors
/// The first malformed line as `(line number, error)`.
pub fn parse_passwd(contents: &[u8]) -> Result<Vec<PasswdEntry>, (usize, LineError)> {
    let mut entries = Vec::new();
    for (index, raw) in contents.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let line = std::str::from_utf8(raw).map_err(|_| (number, LineError::NotUtf8))?;
        if let Some(entry) = parse_passwd_line(line).map_err(|e| (number, e))? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Renders the entry as a file line (without newline): `user:g1,g2:hash`, `*` for no group,
/// `!` before the hash of a locked account. [`parse_passwd_line`] reads it back unchanged.
impl fmt::Display for PasswdEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.username)?;
        f.write_str(":")?;
        if self.groups.is_empty() {
            f.write_str("*")?;
        } else {
            f.write_str(&self.groups.join(","))?;
        }
        f.write_str(":")?;
        if self.locked {
            f.write_str("!")?;
        }
        f.write_str(&self.hash)
    }
}

impl fmt::Debug for PasswdEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswdEntry")
            .field("username", &self.username)
            .field("groups", &self.groups)
            .field("locked", &self.locked)
            .field("hash", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry(line: &str) -> PasswdEntry {
        parse_passwd_line(line).unwrap().unwrap()
    }

    #[test]
    fn ocpasswd_line() {
        let e = entry("alice:g1,g2:$5$abcdefgh12345678$xyz");
        assert_eq!(e.username, "alice");
        assert_eq!(e.groups, ["g1", "g2"]);
        assert!(!e.locked);
        assert_eq!(e.hash, "$5$abcdefgh12345678$xyz");
    }

    #[test]
    fn star_empty_and_one_char_groups_mean_none() {
        assert!(entry("a:*:$1$x$y").groups.is_empty());
        assert!(entry("a::$1$x$y").groups.is_empty());
        assert!(entry("a:x:$1$x$y").groups.is_empty());
        assert_eq!(entry("a: g1 ,*, g2:$1$x$y").groups, ["g1", "g2"]);
    }

    #[test]
    fn locked_and_crlf() {
        let e = entry("bob:*:!$6$s$h\r");
        assert!(e.locked);
        assert_eq!(e.hash, "$6$s$h");
        assert_eq!(e.to_string(), "bob:*:!$6$s$h");
    }

    #[test]
    fn comments_and_blanks() {
        for line in ["", "   ", "# a comment", "  # indented", "\r"] {
            assert_eq!(parse_passwd_line(line), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(parse_passwd_line("alice"), Err(LineError::MissingField));
        assert_eq!(parse_passwd_line("alice:g"), Err(LineError::MissingField));
        assert_eq!(
            parse_passwd_line(":g:$1$x$y"),
            Err(LineError::EmptyUsername)
        );
        assert_eq!(parse_passwd_line("a:g:h:x"), Err(LineError::TooManyFields));
        assert_eq!(
            parse_passwd_line("a\u{1}b:g:h"),
            Err(LineError::InvalidUsername)
        );
        assert_eq!(parse_passwd_line("a:g:h h"), Err(LineError::InvalidHash));
    }

    #[test]
    fn whole_file_reports_line_numbers() {
        let text = b"# users\nalice:*:$1$a$b\n\nbroken line\n";
        assert_eq!(parse_passwd(text), Err((4, LineError::MissingField)));
        let text = b"alice:*:$1$a$b\n\xff\n";
        assert_eq!(parse_passwd(text), Err((2, LineError::NotUtf8)));
        let ok = parse_passwd(b"alice:*:$1$a$b\nbob:g:!$1$c$d").unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn debug_hides_hash() {
        let e = entry("alice:*:$1$saltsalt$9xy1btjgzLYfb7hivXtC//");
        let debug = format!("{e:?}");
        assert!(!debug.contains("9xy1"), "{debug}");
        assert!(debug.contains("alice"));
    }

    fn arb_entry() -> impl Strategy<Value = PasswdEntry> {
        (
            "[a-zA-Z0-9._@ -]{0,10}[a-zA-Z0-9]",
            prop::collection::vec("[a-zA-Z0-9_-]{2,12}", 0..4),
            any::<bool>(),
            "[$a-zA-Z0-9./]{0,60}",
        )
            .prop_map(|(username, groups, locked, hash)| PasswdEntry {
                username,
                groups,
                locked,
                hash,
            })
    }

    proptest! {
        #[test]
        fn render_then_parse_roundtrips(e in arb_entry()) {
            let line = e.to_string();
            prop_assert_eq!(parse_passwd_line(&line), Ok(Some(e)));
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_passwd(&bytes);
        }
    }
}
