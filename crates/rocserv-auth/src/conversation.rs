//! The conversation framework every backend speaks.
//!
//! A login is a conversation: the daemon shows the client a [`Prompt`] (rendered as an XML
//! `auth-request` form, protocol.md §2.2), the client answers with [`Answers`], and the backend
//! replies with the next [`Step`]: another prompt, a success with the user's [`Identity`], or a
//! terminal [`Failure`]. Backends never see HTTP or XML.

use std::fmt;

use crate::Secret;

/// One input of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptField {
    /// Input name on the wire (`username`, `password`, `secondary_password`).
    pub name: String,
    /// Label shown next to the input (`Username:`).
    pub label: String,
    /// `false` for password inputs (the client hides what is typed).
    pub echo: bool,
}

impl PromptField {
    /// The `username` text input, labelled `Username:`.
    pub fn username() -> Self {
        Self {
            name: "username".to_owned(),
            label: "Username:".to_owned(),
            echo: true,
        }
    }

    /// The `password` hidden input, labelled `Password:`.
    pub fn password() -> Self {
        Self {
            name: "password".to_owned(),
            label: "Password:".to_owned(),
            echo: false,
        }
    }
}

/// A form to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Text for the form's `<message>` element.
    pub message: Option<String>,
    /// Text for the form's `<error>` element (e.g. after a wrong password).
    pub error: Option<String>,
    /// The inputs, in display order.
    pub fields: Vec<PromptField>,
}

/// What the client typed into the last form. Fields the form did not carry are `None`.
///
/// `Debug` is safe to log: the passwords are [`Secret`]s and print redacted.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// The `username` input.
    pub username: Option<String>,
    /// The `password` input.
    pub password: Option<Secret>,
    /// The `secondary_password` input (second factor, challenge answers).
    pub secondary_password: Option<Secret>,
}

impl Answers {
    /// The user name and password of a login form; `Err` carries the reason for the admin's log
    /// (the user name quoted safely) when the name is missing or empty or the password is
    /// missing.
    pub fn credentials(self) -> Result<(String, Secret), String> {
        match (self.username, self.password) {
            (Some(username), Some(password)) if !username.is_empty() => Ok((username, password)),
            (username, _) => {
                let who = username
                    .filter(|u| !u.is_empty())
                    .map_or_else(|| "no user name".to_owned(), |u| crate::plain::quoted(&u));
                Err(format!("missing user name or password ({who})"))
            }
        }
    }
}

/// Who logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The authenticated user name.
    pub username: String,
    /// Groups the backend reports for the user, in the backend's order; may be empty.
    pub groups: Vec<String>,
}

/// The backend's reply to one set of answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show this form and call [`AuthConversation::answer`] again with the client's reply.
    Continue(Prompt),
    /// The user is authenticated.
    Success(Identity),
    /// The login attempt is over and failed; the daemon answers `401` and closes.
    Failure(Failure),
}

/// Why a conversation (or one round of it) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The category, for the daemon's reaction (ban points, HTTP reason).
    pub reason: FailureReason,
    /// What happened, for the administrator's log. Never contains a password.
    pub log_detail: String,
}

/// Category of a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The backend itself could not decide (file unreadable, crypt failure, server down).
    BackendError,
    /// Wrong password, unknown user or locked account (the client cannot tell which).
    BadCredentials,
    /// The retry limit of the conversation was reached.
    TooManyAttempts,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BackendError => "backend error",
            Self::BadCredentials => "bad credentials",
            Self::TooManyAttempts => "too many attempts",
        })
    }
}

/// An authentication method (one per configured `auth`/`enable-auth` entry).
///
/// Implementations may block; the daemon calls them from `spawn_blocking`.
pub trait AuthBackend: Send + Sync {
    /// Short method name as written in ocserv.conf (`plain`, `pam`, ...).
    fn name(&self) -> &'static str;

    /// First form shown to a client (username + password for plain).
    fn initial_prompt(&self) -> Prompt;

    /// Start a conversation for one login attempt (one per auth transaction).
    fn start(&self) -> Box<dyn AuthConversation>;

    /// Every group this backend knows (for `auto-select-group`'s list in the login form),
    /// sorted, without duplicates. The default is none. May block (files, NSS).
    fn all_groups(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The state of one login attempt.
pub trait AuthConversation: Send {
    /// Process the client's answers to the last prompt. Blocking allowed.
    fn answer(&mut self, answers: Answers) -> Step;

    /// The failed round behind the last [`Step::Continue`], if that prompt is a retry.
    ///
    /// A retry prompt looks the same to the client whatever went wrong; this tells the daemon
    /// that the round was a failure (for ban points) and what happened (for its log). Each
    /// failure is returned once. The default is `None` (a backend that never retries).
    fn take_failure(&mut self) -> Option<Failure> {
        None
    }
}
