//! crypt(3) hashing and verification through libxcrypt.
//!
//! libxcrypt's `crypt_rn` understands every format the system does (`$1$`, `$5$`, `$6$`, `$y$`,
//! `$gy$`, `$7$`, `$2b$`, DES), which is exactly what ocserv accepts, so password files move
//! over unchanged. Both functions used here are reentrant: the caller provides the work area.

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr, CString};

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::AuthError;

/// `sizeof(struct crypt_data)` is 32767 bytes in libxcrypt 4.x (`CRYPT_OUTPUT_SIZE` 384 twice,
/// `CRYPT_MAX_PASSPHRASE_SIZE` 512, `CRYPT_DATA_RESERVED_SIZE` 767,
/// `CRYPT_DATA_INTERNAL_SIZE` 30720); 32 KiB covers it.
const CRYPT_DATA_BYTES: usize = 32 * 1024;

/// `CRYPT_GENSALT_OUTPUT_SIZE` from crypt.h.
const CRYPT_GENSALT_OUTPUT_SIZE: usize = 192;

/// Random bytes handed to `crypt_gensalt_rn`; 16 is what bcrypt and yescrypt want, and no
/// method asks for more.
const SALT_RANDOM_BYTES: usize = 16;

#[link(name = "crypt")]
unsafe extern "C" {
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut c_void,
        size: c_int,
    ) -> *mut c_char;

    fn crypt_gensalt_rn(
        prefix: *const c_char,
        count: c_ulong,
        rbytes: *const c_char,
        nrbytes: c_int,
        output: *mut c_char,
        output_size: c_int,
    ) -> *mut c_char;
}

/// Why hashing or salt generation failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// The password contains a NUL byte, which crypt(3) cannot represent.
    #[error("the password contains a NUL byte")]
    PasswordHasNul,
    /// A setting or prefix contains a NUL byte.
    #[error("the hash setting contains a NUL byte")]
    SettingHasNul,
    /// libxcrypt refused the setting: unknown or disabled method, malformed salt, or a password
    /// longer than it accepts.
    #[error("crypt(3) rejected the setting (unsupported or malformed hash method?): {0}")]
    Rejected(std::io::Error),
    /// libxcrypt could not make a salt for this prefix (unknown method or bad cost).
    #[error("crypt_gensalt could not make a setting for prefix {prefix:?}: {source}")]
    Gensalt {
        /// The prefix asked for (`None` = the system's preferred method).
        prefix: Option<String>,
        /// errno from libxcrypt.
        source: std::io::Error,
    },
    /// The operating system's random generator failed.
    #[error("cannot read random bytes for a salt: {0}")]
    Random(getrandom::Error),
}

/// Hashes `password` with a crypt(3) `setting` (a full hash or a salt string such as
/// `$6$saltsalt$`) and returns the resulting hash.
///
/// # Errors
/// [`CryptError::PasswordHasNul`]/[`CryptError::SettingHasNul`] for embedded NULs, and
/// [`CryptError::Rejected`] when libxcrypt does not accept the setting.
pub fn crypt_with_setting(password: &str, setting: &str) -> Result<String, CryptError> {
    let phrase = CString::new(password).map_err(|_| CryptError::PasswordHasNul)?;
    let setting = CString::new(setting).map_err(|_| CryptError::SettingHasNul)?;
    let hash = run_crypt(&phrase, &setting)?;
    Ok(hash)
}

/// Makes a new random setting (salt) for `prefix` (`$6$`, `$2b$`, `$y$`, ...; `None` = the
/// system's preferred method, yescrypt on current libxcrypt). `rounds` 0 = the method's default
/// cost.
///
/// # Errors
/// [`CryptError::Gensalt`] for an unknown prefix or cost, [`CryptError::Random`] if the OS
/// random generator fails.
pub fn gensalt(prefix: Option<&str>, rounds: u64) -> Result<String, CryptError> {
    let prefix_c = match prefix {
        Some(p) => Some(CString::new(p).map_err(|_| CryptError::SettingHasNul)?),
        None => None,
    };
    let mut random = [0u8; SALT_RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(CryptError::Random)?;
    let mut output = [0u8; CRYPT_GENSALT_OUTPUT_SIZE];
    let count = c_ulong::try_from(rounds).unwrap_or(c_ulong::MAX);
    // SAFETY: every pointer is valid for the length passed with it; the prefix is NUL
    // terminated or null (which libxcrypt documents as "preferred method"); `output` is at
    // least CRYPT_GENSALT_OUTPUT_SIZE bytes as the function requires.
    let ret = unsafe {
        crypt_gensalt_rn(
            prefix_c.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
            count,
            random.as_ptr().cast(),
            SALT_RANDOM_BYTES as c_int,
            output.as_mut_ptr().cast(),
            CRYPT_GENSALT_OUTPUT_SIZE as c_int,
        )
    };
    let errno = std::io::Error::last_os_error();
    random.zeroize();
    // A failure is a null pointer or the failure token "*0"/"*1" in the output.
    if ret.is_null() || output.first() == Some(&b'*') || output.first() == Some(&0) {
        return Err(CryptError::Gensalt {
            prefix: prefix.map(str::to_owned),
            source: errno,
        });
    }
    let setting = CStr::from_bytes_until_nul(&output)
        .map_err(|_| CryptError::Gensalt {
            prefix: prefix.map(str::to_owned),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        })?
        .to_string_lossy()
        .into_owned();
    Ok(setting)
}

/// Hashes a new password with the system's preferred method (yescrypt, `$y$`) and a fresh
/// random salt, ready to be stored in an ocpasswd file.
///
/// # Errors
/// [`AuthError::Crypt`] when salt generation or hashing fails (see [`gensalt`] and
/// [`crypt_with_setting`]), e.g. for a password containing a NUL byte.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let setting = gensalt(None, 0)?;
    let hash = crypt_with_setting(password, &setting)?;
    Ok(hash)
}

/// Checks `password` against a stored crypt(3) hash, comparing in constant time.
///
/// Any failure (unsupported method, malformed hash, NUL in the password) is `false`. The cost of
/// hashing is paid in every case so that callers' timing does not depend on why it failed.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    let Ok(setting) = CString::new(stored_hash) else {
        return false;
    };
    // A NUL cannot come from a real password; still pay for one hash so that the answer takes
    // the usual time, then refuse.
    let (phrase, usable) = match CString::new(password) {
        Ok(p) => (p, true),
        Err(_) => (CString::default(), false),
    };
    let Ok(computed) = run_crypt(&phrase, &setting) else {
        return false;
    };
    let equal: bool = computed.as_bytes().ct_eq(stored_hash.as_bytes()).into();
    usable && equal
}

/// Work area for `crypt_rn`, 16-byte aligned.
#[repr(C, align(16))]
struct CryptData([u8; CRYPT_DATA_BYTES]);

// Settings passed to `crypt_rn` on this thread, for tests that check which hash was paid for.
#[cfg(test)]
thread_local! {
    pub(crate) static CRYPT_CALLS: std::cell::RefCell<Vec<String>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

fn run_crypt(phrase: &CStr, setting: &CStr) -> Result<String, CryptError> {
    #[cfg(test)]
    CRYPT_CALLS.with(|calls| {
        calls
            .borrow_mut()
            .push(setting.to_string_lossy().into_owned())
    });
    // Zero-initialised as `crypt_r` requires (crypt_rn does not, but it costs nothing).
    let mut data = Box::new(CryptData([0u8; CRYPT_DATA_BYTES]));
    // SAFETY: `phrase` and `setting` are NUL terminated; `data` is a writable, aligned buffer
    // at least `sizeof(struct crypt_data)` bytes long, and its size is passed. The returned
    // pointer points into `data`, which outlives the copy below.
    let result = unsafe {
        let ret = crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.0.as_mut_ptr().cast(),
            CRYPT_DATA_BYTES as c_int,
        );
        if ret.is_null() {
            Err(CryptError::Rejected(std::io::Error::last_os_error()))
        } else {
            Ok(CStr::from_ptr(ret).to_string_lossy().into_owned())
        }
    };
    // The work area holds a copy of the passphrase.
    data.0.zeroize();
    match result {
        // libxcrypt's failure tokens start with '*' and never equal a valid hash.
        Ok(hash) if hash.starts_with('*') || hash.is_empty() => Err(CryptError::Rejected(
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(prefix: &str) {
        let setting = gensalt(Some(prefix), 0).unwrap_or_else(|e| panic!("{prefix}: {e}"));
        assert!(setting.starts_with(prefix), "{setting}");
        let hash = crypt_with_setting("correct horse", &setting).unwrap();
        assert!(hash.starts_with(prefix), "{hash}");
        assert!(verify_password("correct horse", &hash), "{prefix} accept");
        assert!(!verify_password("correct horsf", &hash), "{prefix} reject");
        assert!(!verify_password("", &hash), "{prefix} reject empty");
    }

    #[test]
    fn md5_crypt() {
        roundtrip("$1$");
    }

    #[test]
    fn sha256_crypt() {
        roundtrip("$5$");
    }

    #[test]
    fn sha512_crypt() {
        roundtrip("$6$");
    }

    #[test]
    fn bcrypt() {
        roundtrip("$2b$");
    }

    #[test]
    fn yescrypt() {
        roundtrip("$y$");
    }

    #[test]
    fn hash_password_is_yescrypt_and_salted() {
        let a = hash_password("pw").unwrap();
        let b = hash_password("pw").unwrap();
        assert!(a.starts_with("$y$"), "{a}");
        assert_ne!(a, b, "two hashes of one password must differ by salt");
        assert!(verify_password("pw", &a));
        assert!(verify_password("pw", &b));
    }

    #[test]
    fn known_vectors_from_other_tools() {
        // Produced by `openssl passwd -1 -salt saltsalt secret` and `-6`.
        let md5 = "$1$saltsalt$9xy1btjgzLYfb7hivXtC//";
        let sha512 = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        for hash in [md5, sha512] {
            assert!(verify_password("secret", hash), "{hash}");
            assert!(!verify_password("Secret", hash), "{hash}");
            assert_eq!(crypt_with_setting("secret", hash).unwrap(), hash);
        }
    }

    #[test]
    fn garbage_hashes_never_verify() {
        for bad in ["", "*", "*0", "!$6$abc$def", "$9$x$y", "plain", "$6$"] {
            assert!(!verify_password("", bad), "{bad:?}");
            assert!(!verify_password("plain", bad), "{bad:?}");
        }
    }

    #[test]
    fn nul_in_password_is_refused() {
        let hash = hash_password("a").unwrap();
        assert!(!verify_password("a\0", &hash));
        assert!(matches!(
            hash_password("a\0b"),
            Err(AuthError::Crypt(CryptError::PasswordHasNul))
        ));
        assert!(matches!(
            crypt_with_setting("a\0b", &hash),
            Err(CryptError::PasswordHasNul)
        ));
    }

    #[test]
    fn unknown_prefix_is_an_error() {
        assert!(matches!(
            gensalt(Some("$99$"), 0),
            Err(CryptError::Gensalt { .. })
        ));
    }
}
