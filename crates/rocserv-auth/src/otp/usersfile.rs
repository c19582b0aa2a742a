//! The liboath users file: one parser, one renderer.
//!
//! A line is whitespace-separated fields:
//!
//! ```text
//! TYPE  USER  PIN  HEXKEY  [COUNTER  [LAST-OTP  [TIME]]]
//! HOTP/T30/6  alice  -  3132333435363738393031323334353637383930  0
//! ```
//!
//! * `TYPE`: `HOTP`, `HOTP/E`, `HOTP/E/6|7|8` (counter based) or `HOTP/T30`, `HOTP/T60`, each
//!   optionally `/6|7|8` (time based, 30 or 60 s steps); see [`TokenType`].
//! * `PIN`: `-` for none. ocserv does not check it (the password comes from the ocpasswd
//!   file), and neither does rocserv; it is kept unchanged.
//! * `COUNTER`: for HOTP the counter of the last accepted code once `LAST-OTP` is present (the
//!   next expected one before that); for TOTP, rocserv stores the time step of the last
//!   accepted code (liboath's value there is not meaningful and is only used as a lower bound).
//! * `LAST-OTP`: the last accepted code (never accepted again), `TIME`: when, in local time as
//!   `YYYY-MM-DDTHH:MM:SSL` (liboath's format).
//!
//! Blank lines and lines starting with `#` carry no entry and are kept as they are when the
//! file is rewritten. A user may have several lines (several tokens); any of them is accepted.

use std::fmt;

use super::OtpKey;

/// The token kinds liboath knows, with the spelling used in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenType {
    spelling: &'static str,
    digits: u8,
    step_seconds: Option<u32>,
}

/// Every spelling liboath accepts: (spelling, digits, TOTP step).
const TOKEN_TYPES: &[(&str, u8, Option<u32>)] = &[
    ("HOTP", 6, None),
    ("HOTP/E", 6, None),
    ("HOTP/E/6", 6, None),
    ("HOTP/E/7", 7, None),
    ("HOTP/E/8", 8, None),
    ("HOTP/T30", 6, Some(30)),
    ("HOTP/T30/6", 6, Some(30)),
    ("HOTP/T30/7", 7, Some(30)),
    ("HOTP/T30/8", 8, Some(30)),
    ("HOTP/T60", 6, Some(60)),
    ("HOTP/T60/6", 6, Some(60)),
    ("HOTP/T60/7", 7, Some(60)),
    ("HOTP/T60/8", 8, Some(60)),
];

impl TokenType {
    /// Looks up a type field (case-sensitive, as liboath).
    pub fn parse(field: &str) -> Option<Self> {
        TOKEN_TYPES
            .iter()
            .find(|(spelling, _, _)| *spelling == field)
            .map(|&(spelling, digits, step_seconds)| Self {
                spelling,
                digits,
                step_seconds,
            })
    }

    /// Code length (6, 7 or 8).
    pub fn digits(self) -> u8 {
        self.digits
    }

    /// `Some(seconds)` for TOTP, `None` for counter-based HOTP.
    pub fn step_seconds(self) -> Option<u32> {
        self.step_seconds
    }

    /// The spelling as written in the file.
    pub fn as_str(self) -> &'static str {
        self.spelling
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spelling)
    }
}

/// One token line of the users file.
///
/// `Debug` hides the key and the PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpEntry {
    /// HOTP or TOTP, and the code length.
    pub token_type: TokenType,
    /// The user name (as in the ocpasswd file).
    pub username: String,
    /// The PIN field, unchanged (`-` = none). Not checked (see the module documentation).
    pub pin: String,
    /// The shared secret.
    pub key: OtpKey,
    /// The moving factor (see the module documentation); `None` if the line has none.
    pub counter: Option<u64>,
    /// The last accepted code.
    pub last_otp: Option<String>,
    /// When the last code was accepted (`YYYY-MM-DDTHH:MM:SSL`, local time).
    pub last_time: Option<String>,
}

/// A line of the file as read: an entry, or text that is kept as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsersFileLine {
    /// A token line.
    Entry(OtpEntry),
    /// A blank or comment line (without its newline).
    Other(String),
}

/// What is wrong with a users-file line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpLineError {
    /// Not one of liboath's token types.
    #[error("unknown token type (expected HOTP, HOTP/E[/6|7|8] or HOTP/T30|T60[/6|7|8])")]
    UnknownType,
    /// The user, PIN or key field is missing.
    #[error("expected 'TYPE USER PIN HEXKEY [COUNTER [LAST-OTP [TIME]]]'")]
    MissingField,
    /// More than seven fields.
    #[error("too many fields (expected at most 7)")]
    TooManyFields,
    /// The key is not an even number of hex digits, or is too long.
    #[error("the key is not hex or is longer than 64 bytes")]
    InvalidKey,
    /// The counter is not a decimal number.
    #[error("the counter is not a decimal number")]
    InvalidCounter,
    /// The last-OTP field is not a code of digits.
    #[error("the last OTP is not a string of digits")]
    InvalidLastOtp,
    /// The time is not `YYYY-MM-DDTHH:MM:SSL`.
    #[error("the time is not in the form YYYY-MM-DDTHH:MM:SSL")]
    InvalidTime,
    /// A field contains control characters.
    #[error("the line contains control characters")]
    ControlCharacter,
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    NotUtf8,
}

/// Parses one line (without its newline; a trailing `\r` is accepted). Returns `Ok(None)` for
/// blank and `#` comment lines.
///
/// # Errors
/// The first problem found, as an [`OtpLineError`].
pub fn parse_usersfile_line(line: &str) -> Result<Option<OtpEntry>, OtpLineError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(OtpLineError::ControlCharacter);
    }
    let mut fields = trimmed.split([' ', '\t']).filter(|f| !f.is_empty());
    let token_type = fields
        .next()
        .and_then(TokenType::parse)
        .ok_or(OtpLineError::UnknownType)?;
    let (Some(username), Some(pin), Some(key)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(OtpLineError::MissingField);
    };
    let key = OtpKey::from_hex(key).ok_or(OtpLineError::InvalidKey)?;
    let counter = fields
        .next()
        .map(|c| {
            if c.bytes().all(|b| b.is_ascii_digit()) {
                c.parse::<u64>().map_err(|_| OtpLineError::InvalidCounter)
            } else {
                Err(OtpLineError::InvalidCounter)
            }
        })
        .transpose()?;
    let last_otp = fields
        .next()
        .map(|otp| {
            if otp.bytes().all(|b| b.is_ascii_digit()) {
                Ok(otp.to_owned())
            } else {
                Err(OtpLineError::InvalidLastOtp)
            }
        })
        .transpose()?;
    let last_time = fields
        .next()
        .map(|time| {
            if is_liboath_time(time) {
                Ok(time.to_owned())
            } else {
                Err(OtpLineError::InvalidTime)
            }
        })
        .transpose()?;
    if fields.next().is_some() {
        return Err(OtpLineError::TooManyFields);
    }
    Ok(Some(OtpEntry {
        token_type,
        username: username.to_owned(),
        pin: pin.to_owned(),
        key,
        counter,
        last_otp,
        last_time,
    }))
}

/// Parses a whole file, keeping non-entry lines for the rewrite. Errors carry the 1-based
/// line number. A final newline does not produce an extra line.
///
/// # Errors
/// The first malformed line as `(line number, error)`.
pub fn parse_usersfile(contents: &[u8]) -> Result<Vec<UsersFileLine>, (usize, OtpLineError)> {
    let contents = contents.strip_suffix(b"\n").unwrap_or(contents);
    if contents.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for (index, raw) in contents.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let text = std::str::from_utf8(raw).map_err(|_| (number, OtpLineError::NotUtf8))?;
        match parse_usersfile_line(text).map_err(|e| (number, e))? {
            Some(entry) => lines.push(UsersFileLine::Entry(entry)),
            None => lines.push(UsersFileLine::Other(text.to_owned())),
        }
    }
    Ok(lines)
}

/// Renders lines as file contents (each followed by a newline).
pub fn render_usersfile(lines: &[UsersFileLine]) -> String {
    let mut out = String::new();
    for line in lines {
        match line {
            UsersFileLine::Entry(entry) => out.push_str(&entry.to_string()),
            UsersFileLine::Other(text) => out.push_str(text),
        }
        out.push('\n');
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSL`: liboath's `%Y-%m-%dT%H:%M:%SL`.
fn is_liboath_time(text: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddL";
    text.len() == SHAPE.len()
        && text
            .bytes()
            .zip(SHAPE.iter())
            .all(|(byte, &want)| match want {
                b'd' => byte.is_ascii_digit(),
                other => byte == other,
            })
}

/// The line as liboath writes it: tab-separated, optional fields up to the last present one
/// (a missing counter before a present last OTP is written as `0`).
/// [`parse_usersfile_line`] reads it back unchanged.
impl fmt::Display for OtpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}",
            self.token_type,
            self.username,
            self.pin,
            self.key.to_hex()
        )?;
        let more = self.last_otp.is_some() || self.last_time.is_some();
        if self.counter.is_some() || more {
            write!(f, "\t{}", self.counter.unwrap_or(0))?;
        }
        if more {
            // A time without a last code cannot be written positionally; `0` stands in.
            write!(f, "\t{}", self.last_otp.as_deref().unwrap_or("0"))?;
        }
        if let Some(time) = &self.last_time {
            write!(f, "\t{time}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for OtpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpEntry")
            .field("token_type", &self.token_type.as_str())
            .field("username", &self.username)
            .field("pin", &"<redacted>")
            .field("key", &self.key)
            .field("counter", &self.counter)
            .field("last_otp", &self.last_otp.as_ref().map(|_| "<redacted>"))
            .field("last_time", &self.last_time)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry(line: &str) -> OtpEntry {
        parse_usersfile_line(line).unwrap().unwrap()
    }

    #[test]
    fn minimal_and_full_lines() {
        let e = entry("HOTP alice - 3132");
        assert_eq!(e.token_type.digits(), 6);
        assert_eq!(e.token_type.step_seconds(), None);
        assert_eq!(e.username, "alice");
        assert_eq!(e.pin, "-");
        assert_eq!(e.key.expose(), b"12");
        assert_eq!((e.counter, e.last_otp.as_deref()), (None, None));

        let e = entry("HOTP/T30/8\tbob\t1234\tabcd\t52\t12345678\t2024-01-02T03:04:05L");
        assert_eq!(e.token_type.digits(), 8);
        assert_eq!(e.token_type.step_seconds(), Some(30));
        assert_eq!(e.pin, "1234");
        assert_eq!(e.counter, Some(52));
        assert_eq!(e.last_otp.as_deref(), Some("12345678"));
        assert_eq!(e.last_time.as_deref(), Some("2024-01-02T03:04:05L"));
    }

    #[test]
    fn every_liboath_type() {
        for (spelling, digits, step) in TOKEN_TYPES {
            let e = entry(&format!("{spelling} u - 00"));
            assert_eq!(e.token_type.as_str(), *spelling);
            assert_eq!(e.token_type.digits(), *digits);
            assert_eq!(e.token_type.step_seconds(), *step);
        }
        assert_eq!(
            parse_usersfile_line("TOTP u - 00"),
            Err(OtpLineError::UnknownType)
        );
        assert_eq!(
            parse_usersfile_line("hotp u - 00"),
            Err(OtpLineError::UnknownType)
        );
        assert_eq!(
            parse_usersfile_line("HOTP/T30/9 u - 00"),
            Err(OtpLineError::UnknownType)
        );
    }

    #[test]
    fn comments_and_blanks() {
        for line in ["", "  \t", "# HOTP alice - 00", "\r"] {
            assert_eq!(parse_usersfile_line(line), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn malformed_lines() {
        use OtpLineError::*;
        let cases = [
            ("HOTP alice -", MissingField),
            ("HOTP alice - 0g", InvalidKey),
            ("HOTP alice - 123", InvalidKey),
            ("HOTP alice - 00 -1", InvalidCounter),
            ("HOTP alice - 00 99999999999999999999999", InvalidCounter),
            ("HOTP alice - 00 1 12a", InvalidLastOtp),
            ("HOTP alice - 00 1 123 2024-01-02 03:04:05", InvalidTime),
            ("HOTP alice - 00 1 123 2024-01-02T03:04:05", InvalidTime),
            (
                "HOTP alice - 00 1 123 2024-01-02T03:04:05L x",
                TooManyFields,
            ),
            ("HOTP al\u{1}ice - 00", ControlCharacter),
        ];
        for (line, error) in cases {
            assert_eq!(parse_usersfile_line(line), Err(error), "{line:?}");
        }
    }

    #[test]
    fn whole_file_keeps_comments_and_reports_line_numbers() {
        let text = b"# tokens\nHOTP a - 00\n\nHOTP/T30 b - 01 5\n";
        let lines = parse_usersfile(text).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], UsersFileLine::Other("# tokens".to_owned()));
        assert!(matches!(&lines[3], UsersFileLine::Entry(e) if e.username == "b"));
        assert_eq!(
            render_usersfile(&lines),
            "# tokens\nHOTP\ta\t-\t00\n\nHOTP/T30\tb\t-\t01\t5\n"
        );
        assert_eq!(
            parse_usersfile(b"HOTP a - 00\nbroken\n"),
            Err((2, OtpLineError::UnknownType))
        );
        assert_eq!(
            parse_usersfile(b"HOTP a - 00\n\xff\n"),
            Err((2, OtpLineError::NotUtf8))
        );
        assert_eq!(parse_usersfile(b""), Ok(vec![]));
    }

    #[test]
    fn debug_hides_key_pin_and_last_code() {
        let e = entry("HOTP alice 4711 deadbeef 3 918273 2024-01-02T03:04:05L");
        let debug = format!("{e:?}");
        for secret in ["deadbeef", "4711", "918273"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("alice"));
    }

    fn arb_entry() -> impl Strategy<Value = OtpEntry> {
        (
            0..TOKEN_TYPES.len(),
            "[a-zA-Z0-9._@-]{1,12}",
            "-|\\+|[0-9]{1,6}",
            prop::collection::vec(any::<u8>(), 1..=64),
            proptest::option::of(any::<u64>()),
            proptest::option::of(("[0-9]{6,8}", proptest::option::of(0u32..100_000))),
        )
            .prop_map(|(kind, username, pin, key, counter, last)| {
                let (spelling, ..) = TOKEN_TYPES[kind];
                let (last_otp, last_time) = match last {
                    Some((otp, time)) => (
                        Some(otp),
                        time.map(|t| format!("2024-01-01T{:02}:{:02}:00L", t % 24, t % 60)),
                    ),
                    None => (None, None),
                };
                // A present last code implies a counter field before it.
                let counter = if last_otp.is_some() {
                    Some(counter.unwrap_or(0))
                } else {
                    counter
                };
                OtpEntry {
                    token_type: TokenType::parse(spelling).unwrap(),
                    username,
                    pin,
                    key: OtpKey::new(key),
                    counter,
                    last_otp,
                    last_time,
                }
            })
    }

    proptest! {
        #[test]
        fn render_then_parse_roundtrips(e in arb_entry()) {
            let line = e.to_string();
            prop_assert_eq!(parse_usersfile_line(&line), Ok(Some(e)));
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_usersfile(&bytes);
        }
    }
}
