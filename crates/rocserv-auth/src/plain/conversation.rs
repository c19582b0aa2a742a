//! One login attempt against the password file.

use std::sync::Arc;

use super::{credentials_prompt, Shared, Verdict, LOGIN_FAILED};
use crate::conversation::{Answers, AuthConversation, Failure, FailureReason, Step};

/// Failed rounds allowed in one conversation; the last one ends it (ocserv's `MAX_TRIES`).
pub const MAX_ATTEMPTS: u32 = 3;

/// Longest part of a client-chosen user name copied into a log line.
const LOGGED_USERNAME_CHARS: usize = 64;

/// A `plain` login attempt: up to [`MAX_ATTEMPTS`] username/password rounds.
///
/// A wrong password, an unknown user, a locked account and a missing field all produce the
/// same retry prompt, and the first three cost the same single hash computation.
pub struct PlainConversation {
    shared: Arc<Shared>,
    failures: u32,
    pending: Option<Failure>,
    finished: bool,
}

impl PlainConversation {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            failures: 0,
            pending: None,
            finished: false,
        }
    }

    /// Failed rounds so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn fail(&mut self, log_detail: String) -> Step {
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

impl AuthConversation for PlainConversation {
    fn answer(&mut self, answers: Answers) -> Step {
        self.pending = None;
        if self.finished {
            return Step::Failure(Failure {
                reason: FailureReason::BackendError,
                log_detail: "answer received after the plain conversation ended".to_owned(),
            });
        }
        let (username, password) = match (answers.username, answers.password) {
            (Some(username), Some(password)) if !username.is_empty() => (username, password),
            (username, _) => {
                let who = username
                    .filter(|u| !u.is_empty())
                    .map_or_else(|| "no user name".to_owned(), |u| quoted(&u));
                return self.fail(format!("missing user name or password ({who})"));
            }
        };
        match self.shared.verify(&username, password.expose()) {
            Verdict::Accepted(identity) => {
                self.finished = true;
                Step::Success(identity)
            }
            Verdict::UnknownUser => self.fail(format!("user {} unknown", quoted(&username))),
            Verdict::WrongPassword => {
                self.fail(format!("wrong password for {}", quoted(&username)))
            }
            Verdict::Locked => self.fail(format!("account {} is locked", quoted(&username))),
        }
    }

    fn take_failure(&mut self) -> Option<Failure> {
        self.pending.take()
    }
}

/// `'name'` with control characters and quotes escaped and length capped: the name comes from
/// the network and must not forge log lines.
fn quoted(username: &str) -> String {
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
