//! One PAM transaction on its own OS thread.
//!
//! `pam_authenticate` is a blocking call that calls back into the conversation function once
//! per batch of messages, and sleeps seconds on failure. The thread runs
//! `pam_start → pam_authenticate → pam_acct_mgmt (→ pam_chauthtok if the password expired) →
//! pam_end`; whenever the stack prompts, the conversation function sends a [`Question`] to the
//! login's [`super::PamConversation`] and blocks until the client's answer arrives on a
//! channel. If that channel closes (the login was abandoned) or no answer comes in time, the
//! conversation function returns `PAM_CONV_ERR`, the stack fails and `pam_end` runs: a thread
//! never outlives its login by more than the stack's own failure delay.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use zeroize::Zeroizing;

use super::ffi::*;
use super::groups::unix_groups;
use super::messages::{read_messages, respond, Message};
use crate::Secret;

/// PAM threads alive in this process (for the concurrency cap and for tests).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// The number of PAM transactions whose thread is still running.
pub fn active_transactions() -> usize {
    ACTIVE.load(Ordering::SeqCst)
}

/// Decrements [`ACTIVE`] when the thread ends, however it ends.
struct ActiveGuard;

impl ActiveGuard {
    /// Counts a new thread unless `limit` are running already.
    fn acquire(limit: usize) -> Option<Self> {
        ACTIVE
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Self)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A prompt of the PAM stack, for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// PAM_TEXT_INFO texts since the last prompt, then the prompt's own text.
    pub message: String,
    /// PAM_ERROR_MSG texts since the last prompt.
    pub error: Option<String>,
    /// `true` for PAM_PROMPT_ECHO_ON.
    pub echo: bool,
    /// How many prompts the stack issued before this one in this transaction (the first
    /// password prompt, answered from the login form, counts).
    pub index: u32,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated and the account is usable.
    Success {
        /// The user name as PAM has it after authentication (`PAM_USER`).
        username: String,
        /// The user's Unix groups with gid ≥ gid-min.
        groups: Vec<String>,
    },
    /// A PAM call failed.
    Failed {
        /// Which call.
        stage: &'static str,
        /// Its return code.
        code: c_int,
        /// `pam_strerror` of the code, plus the stack's error messages.
        text: String,
    },
}

/// What the PAM thread tells the login.
#[derive(Debug)]
pub enum Event {
    /// Show this prompt and send the answer.
    Ask(Question),
    /// The transaction is over.
    Done(Outcome),
}

/// Everything a transaction needs, moved onto its thread.
pub struct Params {
    pub service: CString,
    pub username: CString,
    pub config_dir: Option<PathBuf>,
    pub rhost: Option<CString>,
    pub first_password: Option<Secret>,
    pub gid_min: Option<u32>,
    pub answer_timeout: Duration,
}

/// Why no transaction could be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The concurrency cap is reached.
    TooMany,
    /// The OS refused a thread.
    Thread(std::io::Error),
}

/// Starts the transaction's thread.
pub fn spawn(
    params: Params,
    limit: usize,
    events: Sender<Event>,
    answers: Receiver<Secret>,
) -> Result<(), SpawnError> {
    let guard = ActiveGuard::acquire(limit).ok_or(SpawnError::TooMany)?;
    std::thread::Builder::new()
        .name("pam".to_owned())
        .spawn(move || {
            let _guard = guard;
            let outcome = run(params, &events, answers);
            let _ = events.send(Event::Done(outcome));
        })
        .map(|_| ())
        .map_err(SpawnError::Thread)
}

/// The conversation function's state, owned by the PAM thread.
struct ConvState<'a> {
    first_password: Option<Secret>,
    events: &'a Sender<Event>,
    answers: Receiver<Secret>,
    answer_timeout: Duration,
    infos: Vec<String>,
    errors: Vec<String>,
    /// Every error text of the transaction, for the failure log.
    all_errors: Vec<String>,
    prompts: u32,
}

fn run(params: Params, events: &Sender<Event>, answers: Receiver<Secret>) -> Outcome {
    let mut state = ConvState {
        first_password: params.first_password,
        events,
        answers,
        answer_timeout: params.answer_timeout,
        infos: Vec::new(),
        errors: Vec::new(),
        all_errors: Vec::new(),
        prompts: 0,
    };
    let conv = PamConv {
        conv: Some(conversation),
        appdata_ptr: std::ptr::from_mut(&mut state).cast::<c_void>(),
    };
    let config_dir = params
        .config_dir
        .as_ref()
        .and_then(|dir| CString::new(dir.as_os_str().as_encoded_bytes()).ok());
    let mut handle: *mut PamHandle = std::ptr::null_mut();
    // SAFETY: all strings are NUL-terminated and outlive the call; `conv` and the state it
    // points to live on this stack frame until after `pam_end` below.
    let rc = unsafe {
        pam_start_confdir(
            params.service.as_ptr(),
            params.username.as_ptr(),
            &conv,
            config_dir.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
            &mut handle,
        )
    };
    if rc != PAM_SUCCESS || handle.is_null() {
        let text = error_text(handle, rc);
        if !handle.is_null() {
            // SAFETY: `handle` came from pam_start and is ended exactly once.
            unsafe { pam_end(handle, rc) };
        }
        return Outcome::Failed {
            stage: "pam_start",
            code: rc,
            text,
        };
    }
    if let Some(rhost) = &params.rhost {
        // SAFETY: `handle` is live; libpam copies the string.
        unsafe { pam_set_item(handle, PAM_RHOST, rhost.as_ptr().cast::<c_void>()) };
    }

    let mut stage = "pam_authenticate";
    // SAFETY: `handle` is live; the conversation state is valid (see above).
    let mut rc = unsafe { pam_authenticate(handle, PAM_DISALLOW_NULL_AUTHTOK) };
    if rc == PAM_SUCCESS {
        stage = "pam_acct_mgmt";
        // SAFETY: as above.
        rc = unsafe { pam_acct_mgmt(handle, PAM_DISALLOW_NULL_AUTHTOK) };
        if rc == PAM_NEW_AUTHTOK_REQD {
            stage = "pam_chauthtok";
            // SAFETY: as above.
            rc = unsafe { pam_chauthtok(handle, PAM_CHANGE_EXPIRED_AUTHTOK) };
        }
    }
    let pam_username = if rc == PAM_SUCCESS {
        pam_user(handle)
    } else {
        None
    };
    let mut text = error_text(handle, rc);
    // SAFETY: `handle` came from pam_start and is ended exactly once; nothing uses it later.
    unsafe { pam_end(handle, rc) };
    // libpam is done with `conv`; the state is ours again.
    if rc != PAM_SUCCESS {
        if !state.all_errors.is_empty() {
            text = format!("{text} ({})", state.all_errors.join("; "));
        }
        return Outcome::Failed {
            stage,
            code: rc,
            text,
        };
    }
    let username = pam_username.unwrap_or_else(|| params.username.to_string_lossy().into_owned());
    let groups = unix_groups(&username, params.gid_min);
    Outcome::Success { username, groups }
}

/// `pam_strerror` of `code`.
pub(super) fn error_text(handle: *mut PamHandle, code: c_int) -> String {
    // SAFETY: pam_strerror accepts any code and (in Linux-PAM) ignores the handle; it
    // returns a static string or NULL.
    let text = unsafe { pam_strerror(handle, code) };
    if text.is_null() {
        return format!("PAM error {code}");
    }
    // SAFETY: a non-NULL result is a NUL-terminated static string.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// The `PAM_USER` item (a module may have canonicalised the name).
fn pam_user(handle: *mut PamHandle) -> Option<String> {
    let mut item: *const c_void = std::ptr::null();
    // SAFETY: `handle` is live; libpam stores a pointer to its own copy in `item`.
    let rc = unsafe { pam_get_item(handle, PAM_USER, &mut item) };
    if rc != PAM_SUCCESS || item.is_null() {
        return None;
    }
    // SAFETY: PAM_USER is a NUL-terminated string owned by the handle, still live here.
    let name = unsafe { CStr::from_ptr(item.cast::<c_char>()) };
    name.to_str().ok().map(str::to_owned)
}

/// The conversation function libpam calls. Never unwinds into C.
unsafe extern "C" fn conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: forwarded from libpam, which passes the pointers described in `converse`.
        unsafe { converse(num_msg, msg, resp, appdata_ptr) }
    }))
    .unwrap_or(PAM_CONV_ERR)
}

/// # Safety
/// `msg` points to `num_msg` pointers to valid `pam_message`s, `resp` is writable and
/// `appdata_ptr` is the `ConvState` set up in [`run`].
unsafe fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    if resp.is_null() || appdata_ptr.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: forwarded from libpam (see the function's contract).
    let Some(batch) = (unsafe { read_messages(num_msg, msg) }) else {
        return PAM_CONV_ERR;
    };
    // SAFETY: see the function's contract; nothing else touches the state during the call.
    let state = unsafe { &mut *appdata_ptr.cast::<ConvState<'_>>() };
    let mut replies: Vec<Option<Zeroizing<Vec<u8>>>> = Vec::with_capacity(batch.len());
    for Message { style, text } in batch {
        let reply = match style {
            PAM_PROMPT_ECHO_OFF | PAM_PROMPT_ECHO_ON => {
                let echo = style == PAM_PROMPT_ECHO_ON;
                match state.prompt(text, echo) {
                    Some(answer) => Some(answer),
                    None => return PAM_CONV_ERR,
                }
            }
            PAM_ERROR_MSG => {
                state.all_errors.push(text.clone());
                state.errors.push(text);
                None
            }
            PAM_TEXT_INFO => {
                state.infos.push(text);
                None
            }
            // Binary prompts (PAM_BINARY_PROMPT) have no form equivalent.
            _ => return PAM_CONV_ERR,
        };
        replies.push(reply);
    }
    // SAFETY: `resp` is writable (checked non-NULL above).
    unsafe { respond(resp, &replies) }
}

impl ConvState<'_> {
    /// The answer to one prompt: the login form's password for the first hidden prompt, else
    /// the client's. `None` aborts the conversation (login gone, timeout, unusable answer).
    fn prompt(&mut self, text: String, echo: bool) -> Option<Zeroizing<Vec<u8>>> {
        let index = self.prompts;
        self.prompts += 1;
        if !echo {
            if let Some(password) = self.first_password.take() {
                self.infos.clear();
                self.errors.clear();
                return to_c_answer(&password);
            }
        }
        let mut message = std::mem::take(&mut self.infos);
        let text = text.trim().to_owned();
        if !text.is_empty() {
            message.push(text);
        }
        let errors = std::mem::take(&mut self.errors);
        let question = Question {
            message: message.join("\n"),
            error: (!errors.is_empty()).then(|| errors.join("\n")),
            echo,
            index,
        };
        self.events.send(Event::Ask(question)).ok()?;
        match self.answers.recv_timeout(self.answer_timeout) {
            Ok(answer) => to_c_answer(&answer),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }
}

/// The answer as bytes for C: no NUL inside, shorter than PAM_MAX_RESP_SIZE.
fn to_c_answer(answer: &Secret) -> Option<Zeroizing<Vec<u8>>> {
    let bytes = answer.expose().as_bytes();
    if bytes.contains(&0) || bytes.len() >= PAM_MAX_RESP_SIZE {
        return None;
    }
    Some(Zeroizing::new(bytes.to_vec()))
}
