//! Wrappers for secret values (passwords, master secrets) that never print their contents.
//!
//! Both types redact themselves in `Debug` and `Display` and wipe their heap buffer on drop.
//! Reading the value requires an explicit call to `expose`, which makes every use greppable.

use std::fmt;

use zeroize::Zeroize;

/// A secret string, e.g. a password or an OTP. Prints as `<redacted>`; zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; the caller should not keep other copies of it.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret value. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (safe to log; does not reveal the content).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Secret binary data, e.g. the client's DTLS master secret. Prints as `<redacted>`;
/// zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps `value`; the caller should not keep other copies of it.
    pub fn new(value: Vec<u8>) -> Self {
        Self(value)
    }

    /// The secret bytes. Never log what this returns.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn secret_bytes_is_redacted() {
        let s = SecretBytes::new(vec![0xde, 0xad]);
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(s.expose(), &[0xde, 0xad]);
    }
}
