//! The `webvpn` session cookie (DESIGN.md §5, protocol.md §2.6).
//!
//! A cookie is [`COOKIE_LEN`] random bytes supplied by the caller (this crate draws no random
//! numbers), sent as standard base64. The server stores only its SHA-256, [`CookieHash`].

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Cookie length in bytes.
pub const COOKIE_LEN: usize = 32;
/// Length of the base64 form (with padding).
pub const COOKIE_BASE64_LEN: usize = 44;

/// A session cookie: a bearer credential. `Debug` is redacted; compared in constant time;
/// zeroized on drop.
#[derive(Clone)]
pub struct SessionCookie([u8; COOKIE_LEN]);

impl SessionCookie {
    /// Wraps bytes from a CSPRNG.
    pub fn from_bytes(bytes: [u8; COOKIE_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes. Never log them.
    pub fn expose(&self) -> &[u8; COOKIE_LEN] {
        &self.0
    }

    /// Standard base64 with padding (44 characters), as sent in `Set-Cookie: webvpn=` and
    /// `<session-token>`. Never log it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses the wire form; `None` unless it is standard base64 of exactly 32 bytes.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() != COOKIE_BASE64_LEN {
            return None;
        }
        let mut decoded = STANDARD.decode(s).ok()?;
        let cookie = <[u8; COOKIE_LEN]>::try_from(decoded.as_slice())
            .ok()
            .map(Self);
        decoded.zeroize();
        cookie
    }

    /// SHA-256 of the cookie bytes: the key under which the session is stored.
    pub fn hash(&self) -> CookieHash {
        CookieHash(Sha256::digest(self.0).into())
    }
}

impl PartialEq for SessionCookie {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SessionCookie {}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionCookie(<redacted>, {})", self.hash().short_id())
    }
}

impl Drop for SessionCookie {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// SHA-256 of a [`SessionCookie`]. Safe to keep in memory and use as a map key; `Debug` shows
/// only the short id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CookieHash([u8; 32]);

impl CookieHash {
    /// Wraps a stored hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality (for callers that compare hashes of untrusted cookies).
    pub fn ct_eq(&self, other: &CookieHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// A 6-character id for logs and occtl: the first bytes of a second hash
    /// (`SHA-256("rocserv-safe-id" ‖ hash)`) in base64url, so it reveals nothing usable.
    pub fn short_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"rocserv-safe-id");
        h.update(self.0);
        let digest = h.finalize();
        let mut id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(digest.get(..6).unwrap_or_default());
        id.truncate(6);
        id
    }
}

impl fmt::Debug for CookieHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CookieHash({})", self.short_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(b: u8) -> SessionCookie {
        SessionCookie::from_bytes([b; COOKIE_LEN])
    }

    #[test]
    fn base64_round_trip() {
        let mut bytes = [0u8; COOKIE_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(250);
        }
        let c = SessionCookie::from_bytes(bytes);
        let s = c.to_base64();
        assert_eq!(s.len(), 44);
        assert!(s.ends_with('='));
        let back = SessionCookie::parse(&s).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.expose(), &bytes);
    }

    #[test]
    fn parse_rejects_wrong_lengths_and_alphabets() {
        assert!(SessionCookie::parse("").is_none());
        assert!(SessionCookie::parse("Zm9v").is_none());
        // 33 bytes.
        let long = STANDARD.encode([1u8; 33]);
        assert!(SessionCookie::parse(&long).is_none());
        // 31 bytes: 44 chars with "==" padding; must still be refused.
        let short = STANDARD.encode([1u8; 31]);
        assert_eq!(short.len(), 44);
        assert!(SessionCookie::parse(&short).is_none());
        // URL-safe alphabet is not the standard one.
        let mut url = cookie(0xfb).to_base64();
        assert!(url.contains('+') || url.contains('/'));
        url = url.replace('+', "-").replace('/', "_");
        assert!(SessionCookie::parse(&url).is_none());
        assert!(SessionCookie::parse(&"!".repeat(44)).is_none());
    }

    #[test]
    fn hash_is_sha256_and_stable() {
        let c = cookie(0);
        let expected: [u8; 32] = Sha256::digest([0u8; 32]).into();
        assert_eq!(c.hash().as_bytes(), &expected);
        assert_eq!(c.hash(), cookie(0).hash());
        assert_ne!(c.hash(), cookie(1).hash());
        assert!(c.hash().ct_eq(&cookie(0).hash()));
        assert!(!c.hash().ct_eq(&cookie(1).hash()));
    }

    #[test]
    fn short_id_is_six_safe_chars() {
        let id = cookie(7).hash().short_id();
        assert_eq!(id.len(), 6);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(id, cookie(8).hash().short_id());
    }

    #[test]
    fn debug_never_shows_the_cookie() {
        let c = cookie(0xab);
        let b64 = c.to_base64();
        let d = format!("{c:?} {:?}", c.hash());
        assert!(!d.contains(&b64), "{d}");
        assert!(!d.to_lowercase().contains("abab"), "{d}");
        assert!(d.contains("redacted"));
    }
}
