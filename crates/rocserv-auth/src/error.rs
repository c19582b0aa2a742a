//! Errors of this crate.

use std::path::PathBuf;

use crate::crypt::CryptError;
use crate::otp::OtpLineError;
use crate::plain::LineError;

/// Why a backend could not be set up, or a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password file could not be opened or read.
    #[error("cannot read password file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of the password file is malformed.
    #[error("{}:{line}: {kind}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        kind: LineError,
    },
    /// Hashing failed.
    #[error(transparent)]
    Crypt(#[from] CryptError),
    /// The OTP users file could not be read, locked or rewritten.
    #[error("OTP users file {}: {source}", path.display())]
    OtpIo {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of the OTP users file is malformed.
    #[error("{}:{line}: {kind}", path.display())]
    OtpParse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        kind: OtpLineError,
    },
    /// A `pam[...]` option is unusable.
    #[error("invalid PAM configuration: {0}")]
    PamConfig(String),
}
