//! `acct = "pam"`: a PAM account-management check of a user who has already logged in (by any
//! method, certificates included), before the session opens.
//!
//! One short transaction: `pam_start(service, user)` → `pam_acct_mgmt` → `pam_end`. Nobody can
//! answer a prompt at that point, so the conversation function refuses every prompt with
//! `PAM_CONV_ERR` (a stack that asks fails the check); info and error messages are accepted and
//! kept for the refusal's log text. The call blocks (modules may read files or ask a
//! directory): the daemon runs it through `spawn_blocking`.

use std::ffi::{c_int, c_void, CString};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use zeroize::Zeroizing;

use super::ffi::*;
use super::messages::{read_messages, respond};
use super::transaction::error_text;

/// Why [`account_check`] did not accept the account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountCheckError {
    /// The service or user name cannot be passed to PAM (empty, `/` in the service, NUL).
    #[error("invalid PAM account check input: {0}")]
    InvalidInput(String),
    /// `pam_start` failed (for instance the service file is unreadable).
    #[error("PAM account check could not start (service {service:?}): {text}")]
    Start {
        /// The PAM service.
        service: String,
        /// pam_start's return code.
        code: c_int,
        /// `pam_strerror` of the code.
        text: String,
    },
    /// `pam_acct_mgmt` refused the account (expired, locked, not allowed now, ...).
    #[error("PAM account check refused {username:?}: {text}")]
    Refused {
        /// The user checked.
        username: String,
        /// pam_acct_mgmt's return code.
        code: c_int,
        /// `pam_strerror` of the code, plus the stack's messages.
        text: String,
    },
}

/// Runs `pam_acct_mgmt` for `username` against the PAM service `service` (`/etc/pam.d/<service>`),
/// with `PAM_RHOST` set to `remote_host` when given. Blocking.
///
/// # Errors
/// [`AccountCheckError::Refused`] when the stack refuses the account,
/// [`AccountCheckError::Start`] when no transaction could be started,
/// [`AccountCheckError::InvalidInput`] for names PAM cannot take.
pub fn account_check(
    service: &str,
    username: &str,
    remote_host: Option<&str>,
) -> Result<(), AccountCheckError> {
    account_check_in(None, service, username, remote_host)
}

/// [`account_check`] with service files read from `config_dir` instead of `/etc/pam.d`
/// (`pam_start_confdir`; for tests and self-contained setups). `None` is `/etc/pam.d`.
///
/// # Errors
/// As [`account_check`].
pub fn account_check_in(
    config_dir: Option<&Path>,
    service: &str,
    username: &str,
    remote_host: Option<&str>,
) -> Result<(), AccountCheckError> {
    if service.is_empty() || service == "." || service == ".." || service.contains('/') {
        return Err(AccountCheckError::InvalidInput(format!(
            "service name {service:?} must be a file name in /etc/pam.d"
        )));
    }
    if username.is_empty() {
        return Err(AccountCheckError::InvalidInput(
            "empty user name".to_owned(),
        ));
    }
    let nul = |what: &str| AccountCheckError::InvalidInput(format!("{what} contains a NUL byte"));
    let c_service = CString::new(service).map_err(|_| nul("service name"))?;
    let c_user = CString::new(username).map_err(|_| nul("user name"))?;
    let c_rhost = remote_host
        .map(CString::new)
        .transpose()
        .map_err(|_| nul("remote host"))?;
    let c_dir = config_dir
        .map(|d| CString::new(d.as_os_str().as_encoded_bytes()))
        .transpose()
        .map_err(|_| nul("PAM configuration directory"))?;

    let mut messages: Vec<String> = Vec::new();
    let conv = PamConv {
        conv: Some(no_prompt_conversation),
        appdata_ptr: std::ptr::from_mut(&mut messages).cast::<c_void>(),
    };
    let mut handle: *mut PamHandle = std::ptr::null_mut();
    // SAFETY: all strings are NUL-terminated and outlive the call; `conv` and `messages` live
    // on this frame until after `pam_end` below.
    let rc = unsafe {
        pam_start_confdir(
            c_service.as_ptr(),
            c_user.as_ptr(),
            &conv,
            c_dir.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
            &mut handle,
        )
    };
    if rc != PAM_SUCCESS || handle.is_null() {
        let text = error_text(handle, rc);
        if !handle.is_null() {
            // SAFETY: `handle` came from pam_start and is ended exactly once.
            unsafe { pam_end(handle, rc) };
        }
        return Err(AccountCheckError::Start {
            service: service.to_owned(),
            code: rc,
            text,
        });
    }
    if let Some(rhost) = &c_rhost {
        // SAFETY: `handle` is live; libpam copies the string.
        unsafe { pam_set_item(handle, PAM_RHOST, rhost.as_ptr().cast::<c_void>()) };
    }
    // SAFETY: `handle` is live; the conversation's state (`messages`) is valid.
    let rc = unsafe { pam_acct_mgmt(handle, 0) };
    let mut text = error_text(handle, rc);
    // SAFETY: `handle` came from pam_start and is ended exactly once; nothing uses it later.
    unsafe { pam_end(handle, rc) };
    if rc == PAM_SUCCESS {
        return Ok(());
    }
    if !messages.is_empty() {
        text = format!("{text} ({})", messages.join("; "));
    }
    Err(AccountCheckError::Refused {
        username: username.to_owned(),
        code: rc,
        text,
    })
}

/// The conversation function of the account check: prompts get `PAM_CONV_ERR`, info and error
/// texts are collected. Never unwinds into C.
unsafe extern "C" fn no_prompt_conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: forwarded from libpam, see `collect_messages`.
        unsafe { collect_messages(num_msg, msg, resp, appdata_ptr) }
    }))
    .unwrap_or(PAM_CONV_ERR)
}

/// # Safety
/// `msg` points to `num_msg` pointers to valid `pam_message`s, `resp` is writable and
/// `appdata_ptr` is the `Vec<String>` set up in [`account_check_in`].
unsafe fn collect_messages(
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
    // SAFETY: see the function's contract; nothing else touches the vector during the call.
    let messages = unsafe { &mut *appdata_ptr.cast::<Vec<String>>() };
    for message in &batch {
        match message.style {
            PAM_ERROR_MSG | PAM_TEXT_INFO => {
                let text = message.text.trim();
                if !text.is_empty() {
                    messages.push(text.to_owned());
                }
            }
            // Nobody can answer: prompts (and binary prompts) fail the conversation.
            _ => return PAM_CONV_ERR,
        }
    }
    // Messages only: an array of empty responses, as libpam expects one (it frees it).
    let none: Vec<Option<Zeroizing<Vec<u8>>>> = batch.iter().map(|_| None).collect();
    // SAFETY: `resp` is writable (checked non-NULL above).
    unsafe { respond(resp, &none) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the conversation function as libpam would, with messages of the given styles.
    fn converse(styles: &[(c_int, &str)]) -> (c_int, Vec<String>) {
        let texts: Vec<CString> = styles
            .iter()
            .map(|(_, t)| CString::new(*t).unwrap())
            .collect();
        let messages: Vec<PamMessage> = styles
            .iter()
            .zip(&texts)
            .map(|((style, _), text)| PamMessage {
                msg_style: *style,
                msg: text.as_ptr(),
            })
            .collect();
        let mut pointers: Vec<*const PamMessage> =
            messages.iter().map(std::ptr::from_ref).collect();
        let mut collected: Vec<String> = Vec::new();
        let mut resp: *mut PamResponse = std::ptr::null_mut();
        let rc = unsafe {
            no_prompt_conversation(
                c_int::try_from(pointers.len()).unwrap(),
                pointers.as_mut_ptr(),
                &mut resp,
                std::ptr::from_mut(&mut collected).cast::<c_void>(),
            )
        };
        if !resp.is_null() {
            for index in 0..styles.len() {
                assert!(unsafe { (*resp.add(index)).resp.is_null() });
            }
            unsafe { libc::free(resp.cast::<c_void>()) };
        }
        (rc, collected)
    }

    #[test]
    fn messages_are_collected_and_prompts_refused() {
        let (rc, collected) = converse(&[(PAM_TEXT_INFO, " hello "), (PAM_ERROR_MSG, "expired")]);
        assert_eq!(rc, PAM_SUCCESS);
        assert_eq!(collected, ["hello", "expired"]);
        for prompt in [PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, 7] {
            let (rc, _) = converse(&[(PAM_TEXT_INFO, "x"), (prompt, "Password: ")]);
            assert_eq!(rc, PAM_CONV_ERR, "style {prompt}");
        }
        let (rc, _) = converse(&[]);
        assert_eq!(rc, PAM_CONV_ERR);
    }
}
