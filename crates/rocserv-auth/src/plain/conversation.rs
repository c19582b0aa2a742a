//! One login attempt against the password file (and the OTP users file, if configured).

use std::sync::Arc;

use super::{otp_prompt, Shared, Verdict};
use crate::attempts::Attempts;
pub use crate::attempts::MAX_ATTEMPTS;
use crate::conversation::{Answers, AuthConversation, Failure, FailureReason, Identity, Step};
use crate::otp::{OtpRejection, OtpVerdict};

/// Longest part of a client-chosen user name copied into a log line.
const LOGGED_USERNAME_CHARS: usize = 64;

/// A `plain` login attempt: up to [`MAX_ATTEMPTS`] username/password rounds (each followed by
/// an OTP round when an OTP file is configured).
///
/// A wrong password, an unknown user, a locked account and a missing field all produce the
/// same retry prompt, and the first three cost the same single hash computation. With OTP,
/// they also get the same OTP form as a right password (see [`crate::plain`]).
pub struct PlainConversation {
    shared: Arc<Shared>,
    attempts: Attempts,
    /// Set between the password round and the OTP round.
    awaiting_otp: Option<FirstFactor>,
}

/// The outcome of the password round, kept for the OTP round.
enum FirstFactor {
    /// The password was right, or the user is OTP-only.
    Passed(Identity),
    /// The round failed; reported once the OTP round is answered.
    Failed(String),
}

impl PlainConversation {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            attempts: Attempts::default(),
            awaiting_otp: None,
        }
    }

    /// Failed rounds so far.
    pub fn failures(&self) -> u32 {
        self.attempts.failures()
    }

    fn fail(&mut self, log_detail: String) -> Step {
        self.attempts.fail(log_detail)
    }
}

impl AuthConversation for PlainConversation {
    fn answer(&mut self, answers: Answers) -> Step {
        self.attempts.clear_pending();
        if self.attempts.is_finished() {
            return Step::Failure(Failure {
                reason: FailureReason::BackendError,
                log_detail: "answer received after the plain conversation ended".to_owned(),
            });
        }
        if let Some(first) = self.awaiting_otp.take() {
            return self.otp_round(first, answers);
        }
        let (username, password) = match answers.credentials() {
            Ok(credentials) => credentials,
            Err(why) => return self.fail(why),
        };
        let verdict = self.shared.verify(&username, password.expose());
        if let (Verdict::OtpOnly(identity), true) = (&verdict, self.shared.otp.is_some()) {
            // An OTP-only user (empty password hash) types the one-time password in the first
            // form's password field, as with ocserv's single OTP prompt.
            let code = password.expose().trim();
            if !code.is_empty()
                && matches!(
                    self.shared.verify_otp(&identity.username, code),
                    Ok(OtpVerdict::Accepted)
                )
            {
                self.attempts.finish();
                return Step::Success(identity.clone());
            }
        }
        if self.shared.otp.is_some() {
            // Every first round leads to the OTP form; failures are told after it.
            self.awaiting_otp = Some(match verdict {
                Verdict::Accepted(identity) | Verdict::OtpOnly(identity) => {
                    FirstFactor::Passed(identity)
                }
                other => FirstFactor::Failed(failure_detail(&other, &username)),
            });
            return Step::Continue(otp_prompt());
        }
        match verdict {
            Verdict::Accepted(identity) => {
                self.attempts.finish();
                Step::Success(identity)
            }
            Verdict::OtpOnly(_) => self.fail(format!(
                "user {} has no password (OTP-only) but no OTP file is configured",
                quoted(&username)
            )),
            other => {
                let detail = failure_detail(&other, &username);
                self.fail(detail)
            }
        }
    }

    fn take_failure(&mut self) -> Option<Failure> {
        self.attempts.take_pending()
    }
}

impl PlainConversation {
    /// The second round: the one-time password.
    fn otp_round(&mut self, first: FirstFactor, answers: Answers) -> Step {
        let identity = match first {
            FirstFactor::Passed(identity) => identity,
            FirstFactor::Failed(detail) => return self.fail(detail),
        };
        let who = quoted(&identity.username);
        let Some(code) = answers.secondary_password.or(answers.password) else {
            return self.fail(format!("no OTP given for {who}"));
        };
        match self
            .shared
            .verify_otp(&identity.username, code.expose().trim())
        {
            Ok(OtpVerdict::Accepted) => {
                self.attempts.finish();
                Step::Success(identity)
            }
            Ok(OtpVerdict::Rejected(OtpRejection::WrongCode)) => {
                self.fail(format!("wrong OTP for {who}"))
            }
            Ok(OtpVerdict::Rejected(OtpRejection::Replayed)) => {
                self.fail(format!("OTP for {who} was already used"))
            }
            Ok(OtpVerdict::Rejected(OtpRejection::NoToken)) => {
                self.fail(format!("user {who} has no OTP token"))
            }
            Err(error) => {
                self.attempts.finish();
                Step::Failure(Failure {
                    reason: FailureReason::BackendError,
                    log_detail: format!("OTP check for {who} failed: {error}"),
                })
            }
        }
    }
}

/// The log text of a failed password round.
fn failure_detail(verdict: &Verdict, username: &str) -> String {
    match verdict {
        Verdict::UnknownUser => format!("user {} unknown", quoted(username)),
        Verdict::Locked => format!("account {} is locked", quoted(username)),
        Verdict::WrongPassword | Verdict::Accepted(_) | Verdict::OtpOnly(_) => {
            format!("wrong password for {}", quoted(username))
        }
    }
}

/// `'name'` with control characters and quotes escaped and length capped: the name comes from
/// the network and must not forge log lines.
pub(crate) fn quoted(username: &str) -> String {
    let mut out = String::from("'");
    let mut chars = username.chars();
    for c in chars.by_ref().take(LOGGED_USERNAME_CHARS) {
        out.extend(c.escape_debug());
    }
    if chars.next().is_some() {
        out.push_str("...");
    }
    out.push('\'');
    out
}
