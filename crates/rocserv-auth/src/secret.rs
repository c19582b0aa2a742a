//! Temporary stand-in for `rocserv_proto::secret::Secret` until the proto crate exports it.

use std::fmt;

/// A password or other secret string; its `Debug` never shows the value.
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret value, for the one place that needs it (hashing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
