//! One login attempt through PAM: the [`AuthConversation`] side of a transaction.

use std::ffi::{c_int, CString};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;

use super::ffi;
use super::transaction::{self, Event, Outcome, Params, Question, SpawnError};
use super::PamOptions;
use crate::attempts::Attempts;
use crate::conversation::{
    Answers, AuthConversation, Failure, FailureReason, Identity, Prompt, PromptField, Step,
};
use crate::plain::quoted;
use crate::Secret;

/// A `pam` login attempt: up to [`MAX_ATTEMPTS`](crate::attempts::MAX_ATTEMPTS) PAM transactions, each of as many rounds as
/// the stack asks for.
pub struct PamConversation {
    options: Arc<PamOptions>,
    service: CString,
    rhost: Option<CString>,
    attempts: Attempts,
    live: Option<Live>,
}

/// The running transaction of the current attempt.
struct Live {
    username: String,
    answers: Sender<Secret>,
    events: Receiver<Event>,
}

impl PamConversation {
    pub(super) fn new(options: Arc<PamOptions>, service: CString) -> Self {
        Self {
            options,
            service,
            rhost: None,
            attempts: Attempts::default(),
            live: None,
        }
    }

    /// Sets `PAM_RHOST` (the client's address) for the transactions of this login.
    pub fn set_remote_host(&mut self, host: &str) {
        self.rhost = CString::new(host).ok();
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.attempts.failures()
    }

    fn fail(&mut self, log_detail: String) -> Step {
        self.attempts.fail(log_detail)
    }

    fn backend_error(&mut self, log_detail: String) -> Step {
        self.attempts.finish();
        self.live = None;
        Step::Failure(Failure {
            reason: FailureReason::BackendError,
            log_detail,
        })
    }

    /// Starts a transaction for the login form's answers.
    fn begin(&mut self, answers: Answers) -> Step {
        let (username, password) = match answers.credentials() {
            Ok(credentials) => credentials,
            Err(why) => return self.fail(why),
        };
        let Ok(c_username) = CString::new(username.as_str()) else {
            return self.fail(format!("user name {} contains NUL", quoted(&username)));
        };
        let (answer_tx, answer_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::channel();
        let params = Params {
            service: self.service.clone(),
            username: c_username,
            config_dir: self.options.config_dir.clone(),
            rhost: self.rhost.clone(),
            first_password: Some(password),
            gid_min: self.options.gid_min,
            answer_timeout: self.options.answer_timeout,
        };
        match transaction::spawn(params, self.options.max_transactions, event_tx, answer_rx) {
            Ok(()) => {}
            Err(SpawnError::TooMany) => {
                return self.backend_error(format!(
                    "PAM login of {} refused: {} PAM transactions already running",
                    quoted(&username),
                    self.options.max_transactions
                ))
            }
            Err(SpawnError::Thread(error)) => {
                return self.backend_error(format!("cannot start a PAM thread: {error}"))
            }
        }
        self.wait(Live {
            username,
            answers: answer_tx,
            events: event_rx,
        })
    }

    /// Waits for the stack's next prompt or verdict.
    fn wait(&mut self, live: Live) -> Step {
        match live.events.recv_timeout(self.options.step_timeout) {
            Ok(Event::Ask(question)) => {
                let prompt = question_prompt(&question);
                self.live = Some(live);
                Step::Continue(prompt)
            }
            Ok(Event::Done(Outcome::Success { username, groups })) => {
                self.attempts.finish();
                Step::Success(Identity { username, groups })
            }
            Ok(Event::Done(Outcome::Failed { stage, code, text })) => {
                let detail = format!("PAM {stage} for {} failed: {text}", quoted(&live.username));
                if is_credential_error(code) {
                    self.fail(detail)
                } else {
                    self.backend_error(format!("{detail} (service {:?})", self.options.service))
                }
            }
            Err(RecvTimeoutError::Timeout) => self.backend_error(format!(
                "PAM stack gave no prompt or verdict for {} within {} s",
                quoted(&live.username),
                self.options.step_timeout.as_secs()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                self.backend_error("PAM thread ended without a verdict".to_owned())
            }
        }
    }
}

impl AuthConversation for PamConversation {
    fn answer(&mut self, answers: Answers) -> Step {
        self.attempts.clear_pending();
        if self.attempts.is_finished() {
            return Step::Failure(Failure {
                reason: FailureReason::BackendError,
                log_detail: "answer received after the PAM conversation ended".to_owned(),
            });
        }
        let Some(live) = self.live.take() else {
            return self.begin(answers);
        };
        // A follow-up form has one input; take it whatever it was called.
        let answer = answers
            .secondary_password
            .or(answers.password)
            .unwrap_or_else(|| Secret::new(String::new()));
        // If the thread is gone its verdict is already queued; `wait` reads it.
        let _ = live.answers.send(answer);
        self.wait(live)
    }

    fn take_failure(&mut self) -> Option<Failure> {
        self.attempts.take_pending()
    }
}

/// The form for a prompt of the stack.
fn question_prompt(question: &Question) -> Prompt {
    let (name, label) = if question.index == 0 {
        ("password".to_owned(), "Password:".to_owned())
    } else {
        (
            "secondary_password".to_owned(),
            format!("Password{}:", question.index),
        )
    };
    Prompt {
        message: (!question.message.is_empty()).then(|| question.message.clone()),
        error: question.error.clone(),
        fields: vec![PromptField {
            name,
            label,
            echo: question.echo,
        }],
    }
}

/// Failures caused by what the user typed or by the account's state: the login may retry.
fn is_credential_error(code: c_int) -> bool {
    matches!(
        code,
        ffi::PAM_AUTH_ERR
            | ffi::PAM_USER_UNKNOWN
            | ffi::PAM_MAXTRIES
            | ffi::PAM_CRED_INSUFFICIENT
            | ffi::PAM_ACCT_EXPIRED
            | ffi::PAM_PERM_DENIED
            | ffi::PAM_NEW_AUTHTOK_REQD
            | ffi::PAM_AUTHTOK_ERR
            | ffi::PAM_AUTHTOK_EXPIRED
            | ffi::PAM_CONV_ERR
    )
}
