//! One-time passwords for `plain[passwd=FILE,otp=FILE]`: HOTP (RFC 4226) and TOTP (RFC 6238)
//! checked against a liboath "users file" (the format pam_oath, mod_authn_otp and ocserv use).
//!
//! * [`hotp`] is the algorithm; [`OtpKey`] holds a token's secret.
//! * [`usersfile`] is the file format: one parser ([`parse_usersfile_line`]) and one renderer
//!   (`Display` of [`OtpEntry`]).
//! * [`OtpStore`] verifies a code against the file and records its use (counter, last code,
//!   time) through a locked, fsynced, atomic rewrite, so a code never works twice.

mod store;
pub mod usersfile;

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroize;

pub use self::store::{OtpRejection, OtpStore, OtpVerdict, HOTP_LOOK_AHEAD, TOTP_STEP_TOLERANCE};
pub use self::usersfile::{
    parse_usersfile, parse_usersfile_line, render_usersfile, OtpEntry, OtpLineError, TokenType,
    UsersFileLine,
};

/// Longest secret accepted (bytes). liboath stops at 32; 64 covers SHA-512-sized keys.
pub const MAX_KEY_BYTES: usize = 64;

/// A token's shared secret. `Debug` is redacted; the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpKey(Vec<u8>);

impl OtpKey {
    /// Wraps raw key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Decodes the hex form of the users file (even length, 1 to [`MAX_KEY_BYTES`] bytes).
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.is_empty() || hex.len() % 2 != 0 || hex.len() / 2 > MAX_KEY_BYTES {
            return None;
        }
        let mut bytes = Vec::with_capacity(hex.len() / 2);
        for pair in hex.as_bytes().chunks_exact(2) {
            let [high, low] = pair else { return None };
            let high = char::from(*high).to_digit(16)?;
            let low = char::from(*low).to_digit(16)?;
            bytes.push(u8::try_from(high * 16 + low).ok()?);
        }
        Some(Self(bytes))
    }

    /// Lower-case hex, as the users file stores it.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut out = String::with_capacity(self.0.len() * 2);
        for byte in &self.0 {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    /// The key bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpKey(<redacted>)")
    }
}

impl Drop for OtpKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The HOTP value (RFC 4226 §5.3) of `counter`, as a zero-padded string of `digits` digits
/// (6 to 8, as liboath's token types allow; other values are clamped into that range).
pub fn hotp(key: &OtpKey, counter: u64, digits: u8) -> String {
    let digits = digits.clamp(6, 8);
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.expose()) else {
        return String::new();
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes (offset <= 15, and
    // a SHA-1 digest has 20 bytes, so the window is always inside it).
    let offset = usize::from(digest.get(19).copied().unwrap_or(0) & 0x0f);
    let mut window = [0u8; 4];
    if let Some(bytes) = digest.get(offset..offset + 4) {
        window.copy_from_slice(bytes);
    }
    let code = u32::from_be_bytes(window) & 0x7fff_ffff;
    let modulus = 10u32.pow(u32::from(digits));
    format!("{:0width$}", code % modulus, width = usize::from(digits))
}

/// The TOTP time step (RFC 6238 §4.2, T0 = 0) containing `unix_seconds`.
pub fn totp_step(unix_seconds: u64, step_seconds: u32) -> u64 {
    unix_seconds / u64::from(step_seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 appendix D: the secret "12345678901234567890" and counters 0..9.
    #[test]
    fn rfc4226_test_vectors() {
        let key = OtpKey::new(b"12345678901234567890".to_vec());
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(&key, counter as u64, 6), *code, "counter {counter}");
        }
    }

    /// RFC 6238 appendix B, SHA-1 column (8 digits, 30-second steps).
    #[test]
    fn rfc6238_sha1_test_vectors() {
        let key = OtpKey::new(b"12345678901234567890".to_vec());
        let vectors = [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(hotp(&key, totp_step(time, 30), 8), code, "t={time}");
        }
    }

    #[test]
    fn hex_keys() {
        let key = OtpKey::from_hex("3132333435363738393031323334353637383930").unwrap();
        assert_eq!(key.expose(), b"12345678901234567890");
        assert_eq!(key.to_hex(), "3132333435363738393031323334353637383930");
        assert_eq!(OtpKey::from_hex("ABcd").unwrap().expose(), [0xab, 0xcd]);
        for bad in ["", "1", "zz", "12 3", "é1"] {
            assert!(OtpKey::from_hex(bad).is_none(), "{bad:?}");
        }
        assert!(OtpKey::from_hex(&"00".repeat(MAX_KEY_BYTES + 1)).is_none());
        assert!(OtpKey::from_hex(&"00".repeat(MAX_KEY_BYTES)).is_some());
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = OtpKey::from_hex("deadbeef").unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains("de") || !debug.contains("ad"), "{debug}");
        assert_eq!(debug, "OtpKey(<redacted>)");
    }

    #[test]
    fn digits_are_zero_padded() {
        // Counter 1 of the RFC key gives 94287082 with 8 digits; 7 digits keeps the low ones.
        let key = OtpKey::new(b"12345678901234567890".to_vec());
        assert_eq!(hotp(&key, 1, 8), "94287082");
        assert_eq!(hotp(&key, 1, 7), "4287082");
        // 07081804 at 8 digits keeps its leading zero.
        assert_eq!(hotp(&key, totp_step(1_111_111_109, 30), 8).len(), 8);
    }
}
