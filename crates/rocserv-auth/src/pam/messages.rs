//! What every PAM conversation function does the same way: read libpam's message array, and
//! hand back the response array that libpam frees (with each response string).

use std::ffi::{c_char, c_int, c_void, CStr};

use zeroize::Zeroizing;

use super::ffi::{PamMessage, PamResponse, PAM_BUF_ERR, PAM_MAX_NUM_MSG, PAM_SUCCESS};

/// One message of a conversation call.
pub(super) struct Message {
    /// `PAM_PROMPT_ECHO_OFF`, `PAM_TEXT_INFO`, ...
    pub style: c_int,
    /// The text (empty when libpam passed none).
    pub text: String,
}

/// The messages of one call, or `None` when the arguments are not a valid message array (the
/// conversation then answers `PAM_CONV_ERR`).
///
/// # Safety
/// `msg` is NULL or points to `num_msg` pointers, each NULL or pointing to a valid
/// `pam_message` whose text is NULL or NUL-terminated.
pub(super) unsafe fn read_messages(
    num_msg: c_int,
    msg: *mut *const PamMessage,
) -> Option<Vec<Message>> {
    if num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || msg.is_null() {
        return None;
    }
    let count = usize::try_from(num_msg).ok()?;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        // SAFETY: `index < num_msg`, so the pointer array holds this element.
        let message = unsafe { *msg.add(index) };
        if message.is_null() {
            return None;
        }
        // SAFETY: non-NULL element of libpam's message array.
        let message = unsafe { &*message };
        let text = if message.msg.is_null() {
            String::new()
        } else {
            // SAFETY: libpam's message texts are NUL-terminated strings.
            unsafe { CStr::from_ptr(message.msg) }
                .to_string_lossy()
                .into_owned()
        };
        out.push(Message {
            style: message.msg_style,
            text,
        });
    }
    Some(out)
}

/// Stores in `*resp` one response per message: `replies[i]` as a C string, or no text.
/// Returns `PAM_SUCCESS`, or `PAM_BUF_ERR` (nothing handed over) when memory runs out.
///
/// # Safety
/// `resp` is writable.
pub(super) unsafe fn respond(
    resp: *mut *mut PamResponse,
    replies: &[Option<Zeroizing<Vec<u8>>>],
) -> c_int {
    // SAFETY: calloc of one zeroed response per message; libpam frees the array and each string.
    let array = unsafe { libc::calloc(replies.len(), std::mem::size_of::<PamResponse>()) }
        .cast::<PamResponse>();
    if array.is_null() {
        return PAM_BUF_ERR;
    }
    for (index, reply) in replies.iter().enumerate() {
        let Some(bytes) = reply else { continue };
        // SAFETY: malloc of len + 1 bytes, filled with `bytes` and a NUL below.
        let copy = unsafe { libc::malloc(bytes.len() + 1) }.cast::<u8>();
        if copy.is_null() {
            // SAFETY: free what was handed out so far, then the array (all from malloc).
            unsafe { free_responses(array, index) };
            return PAM_BUF_ERR;
        }
        // SAFETY: `copy` has room for len + 1 bytes; `array` has `replies.len()` zeroed entries.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
            *copy.add(bytes.len()) = 0;
            (*array.add(index)).resp = copy.cast::<c_char>();
        }
    }
    // SAFETY: `resp` is writable (the caller's contract).
    unsafe { *resp = array };
    PAM_SUCCESS
}

/// Frees the first `filled` response strings (wiping them) and the array.
///
/// # Safety
/// `array` comes from `calloc` with at least `filled` entries whose `resp` is NULL or from
/// `malloc`.
unsafe fn free_responses(array: *mut PamResponse, filled: usize) {
    for index in 0..filled {
        // SAFETY: per the contract.
        unsafe {
            let entry = &mut *array.add(index);
            if !entry.resp.is_null() {
                let len = libc::strlen(entry.resp);
                std::ptr::write_bytes(entry.resp, 0, len);
                libc::free(entry.resp.cast::<c_void>());
            }
        }
    }
    // SAFETY: per the contract.
    unsafe { libc::free(array.cast::<c_void>()) };
}
