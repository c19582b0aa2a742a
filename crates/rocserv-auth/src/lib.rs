//! Authentication for rocserv: the conversation framework every backend speaks, and the
//! backends themselves.
//!
//! A login is a conversation ([`AuthBackend::start`] → [`AuthConversation::answer`] until a
//! [`Step::Success`] or [`Step::Failure`]); backends never see HTTP or XML, which the daemon
//! renders from [`Prompt`]s (protocol.md §2.2–2.5).
//!
//! Backends may block (hashing, files, PAM); this crate has no async runtime and the daemon
//! calls it through `spawn_blocking`. Passwords travel as [`Secret`] and never reach a log or a
//! `Debug` output.
//!
//! Backends:
//! * [`PlainBackend`]: the ocpasswd file of `auth = "plain[passwd=FILE]"`, hashes checked with
//!   libxcrypt so every crypt(3) format the system supports is accepted; with `otp=FILE`, a
//!   second round checks a HOTP/TOTP code against a liboath users file ([`otp`]).
//! * [`PamBackend`]: `auth = "pam[service=NAME,gid-min=N]"`, a real PAM transaction on its own
//!   thread, bridged to as many form rounds as the PAM stack asks for ([`pam`]).

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod attempts;
mod conversation;
pub mod crypt;
mod error;
pub mod otp;
pub mod pam;
pub mod plain;

pub use crate::conversation::{
    Answers, AuthBackend, AuthConversation, Failure, FailureReason, Identity, Prompt, PromptField,
    Step,
};
pub use crate::crypt::{hash_password, verify_password, CryptError};
pub use crate::error::AuthError;
pub use crate::otp::{OtpStore, OtpVerdict};
pub use crate::pam::{PamBackend, PamOptions};
pub use crate::plain::{parse_passwd_line, LineError, PasswdEntry, PlainBackend};
pub use rocserv_proto::secret::Secret;
