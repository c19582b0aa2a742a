//! The retry rule the password backends share: a failed round shows the username/password form
//! again with "Login failed." until [`MAX_ATTEMPTS`] failures, then the login fails; the last
//! failure is kept for [`AuthConversation::take_failure`](crate::AuthConversation::take_failure).

use crate::conversation::{Failure, FailureReason, Prompt, PromptField, Step};
use crate::plain::{LOGIN_FAILED, PROMPT_MESSAGE};

/// Failed rounds allowed per login (ocserv: 3).
pub const MAX_ATTEMPTS: u32 = 3;

/// The username + password form, with `error` for retries.
pub(crate) fn credentials_prompt(error: Option<&str>) -> Prompt {
    Prompt {
        message: Some(PROMPT_MESSAGE.to_owned()),
        error: error.map(str::to_owned),
        fields: vec![PromptField::username(), PromptField::password()],
    }
}

/// Failure bookkeeping of one login.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    failures: u32,
    pending: Option<Failure>,
    finished: bool,
}

impl Attempts {
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The login is over (success or a final failure).
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    pub(crate) fn clear_pending(&mut self) {
        self.pending = None;
    }

    pub(crate) fn take_pending(&mut self) -> Option<Failure> {
        self.pending.take()
    }

    /// Records a failed round: the form again, or the final failure after [`MAX_ATTEMPTS`].
    pub(crate) fn fail(&mut self, log_detail: String) -> Step {
        self.failures += 1;
        if self.failures >= MAX_ATTEMPTS {
            self.finished = true;
            return Step::Failure(Failure {
                reason: FailureReason::TooManyAttempts,
                log_detail: format!("{log_detail}; {} failed attempts", self.failures),
            });
        }
        self.pending = Some(Failure {
            reason: FailureReason::BadCredentials,
            log_detail,
        });
        Step::Continue(credentials_prompt(Some(LOGIN_FAILED)))
    }
}
