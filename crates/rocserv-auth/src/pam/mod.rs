//! The `pam` backend: `auth = "pam[service=NAME,gid-min=N]"`.
//!
//! Each login runs a real PAM transaction (`pam_start(service, user)` → `pam_authenticate` →
//! `pam_acct_mgmt`, and `pam_chauthtok` when the stack says the password expired → `pam_end`)
//! on a dedicated OS thread ([`transaction`]), because PAM blocks, sleeps seconds after a
//! failure and calls back for every prompt. The conversation is bridged to the XML forms:
//!
//! * The first form is username + password, like `plain`; the stack's first hidden prompt is
//!   answered with that password without asking again.
//! * Every further prompt becomes a form with one input: hidden for PAM_PROMPT_ECHO_OFF, text
//!   for PAM_PROMPT_ECHO_ON. The field is named as ocserv names it: `password` for the first
//!   prompt of the transaction, `secondary_password` labelled `PasswordN:` for the N-th one
//!   after it. PAM_TEXT_INFO texts and the prompt's own text make the form's message;
//!   PAM_ERROR_MSG texts its error. There is no limit on the number of rounds (OTP after the
//!   password, then password-change prompts, ...).
//! * A failed transaction (wrong password, unknown user, expired or locked account, ...)
//!   brings back the username + password form with "Login failed.", up to
//!   [`MAX_ATTEMPTS`](crate::plain::MAX_ATTEMPTS) times like `plain`; the client cannot tell
//!   these cases apart. Failures of PAM itself (no such service, module errors) end the login
//!   as a backend error.
//! * An abandoned login (the conversation is dropped, or no answer within
//!   [`PamOptions::answer_timeout`]) makes the waiting conversation function fail, so the PAM
//!   thread ends its transaction with `pam_end` and exits.
//!
//! Groups are the user's Unix groups with gid ≥ `gid-min`. Passwords and answers travel as
//! [`Secret`](crate::Secret)s and are copied only into the `malloc`ed replies libpam owns.
//!
//! With `acct = "pam"` the daemon also runs [`account_check`] (`pam_acct_mgmt` alone) after a
//! login by any method. For `auto-select-group`, [`AuthBackend::all_groups`] lists every
//! system group with gid ≥ `gid-min` ([`all_groups`]).
//!
//! libpam is bound by a small hand-written FFI module (`ffi.rs`); see there for why.

mod account;
mod conversation;
mod ffi;
mod groups;
mod messages;
mod transaction;

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use self::account::{account_check, account_check_in, AccountCheckError};
pub use self::conversation::PamConversation;
pub use self::groups::{all_groups, unix_groups};
pub use self::transaction::active_transactions;
use crate::conversation::{AuthBackend, AuthConversation, Prompt};
use crate::AuthError;

/// ocserv's default service name.
pub const DEFAULT_SERVICE: &str = "ocserv";

/// Default for [`PamOptions::answer_timeout`].
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// Default for [`PamOptions::step_timeout`].
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// Default for [`PamOptions::max_transactions`].
pub const DEFAULT_MAX_TRANSACTIONS: usize = 256;

/// Settings of a [`PamBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamOptions {
    /// The PAM service (`/etc/pam.d/<service>`); `service=` of `pam[...]`.
    pub service: String,
    /// Only groups with at least this gid are reported; `gid-min=` of `pam[...]`.
    pub gid_min: Option<u32>,
    /// How long the PAM thread waits for the client's answer to a prompt before giving up.
    pub answer_timeout: Duration,
    /// How long a login waits for the PAM stack's next prompt or verdict (a stack that takes
    /// longer is a backend error).
    pub step_timeout: Duration,
    /// PAM transactions (threads) allowed at once in this process; more logins fail with a
    /// backend error until some finish.
    pub max_transactions: usize,
    /// Read service files from this directory instead of `/etc/pam.d` (`pam_start_confdir`;
    /// for tests and self-contained setups).
    pub config_dir: Option<PathBuf>,
}

impl Default for PamOptions {
    fn default() -> Self {
        Self {
            service: DEFAULT_SERVICE.to_owned(),
            gid_min: None,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
            step_timeout: DEFAULT_STEP_TIMEOUT,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            config_dir: None,
        }
    }
}

impl PamOptions {
    /// Options for `service` with the defaults otherwise.
    pub fn service(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            ..Self::default()
        }
    }
}

/// The `pam` authentication backend.
pub struct PamBackend {
    options: Arc<PamOptions>,
    service: CString,
}

impl PamBackend {
    /// Checks the options. The service file itself is read by libpam at each login (so it
    /// may change without a restart); a missing one fails those logins as backend errors.
    ///
    /// # Errors
    /// [`AuthError::PamConfig`] for an empty service name, or one containing `/` or NUL.
    pub fn new(options: PamOptions) -> Result<Arc<Self>, AuthError> {
        let name = options.service.as_str();
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(AuthError::PamConfig(format!(
                "service name {name:?} must be a file name in /etc/pam.d"
            )));
        }
        let service = CString::new(name)
            .map_err(|_| AuthError::PamConfig("service name contains a NUL byte".to_owned()))?;
        if options.max_transactions == 0 {
            return Err(AuthError::PamConfig(
                "max_transactions must be at least 1".to_owned(),
            ));
        }
        Ok(Arc::new(Self {
            options: Arc::new(options),
            service,
        }))
    }

    /// The settings in use.
    pub fn options(&self) -> &PamOptions {
        &self.options
    }
}

impl AuthBackend for PamBackend {
    fn name(&self) -> &'static str {
        "pam"
    }

    fn initial_prompt(&self) -> Prompt {
        crate::attempts::credentials_prompt(None)
    }

    fn start(&self) -> Box<dyn AuthConversation> {
        Box::new(PamConversation::new(
            Arc::clone(&self.options),
            self.service.clone(),
        ))
    }

    /// Every system group with gid ≥ `gid-min` (blocking: NSS may ask a directory).
    fn all_groups(&self) -> Vec<String> {
        all_groups(self.options.gid_min)
    }
}

#[cfg(test)]
mod tests;
