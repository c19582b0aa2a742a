//! The few libpam entry points rocserv uses, declared by hand.
//!
//! Why not pam-client/pam-sys: they generate these declarations with bindgen at build time,
//! which needs libclang (and libpam0g-dev) on every build machine, for eight functions and
//! three structs whose layout has been fixed by the Linux-PAM ABI for two decades. Declaring
//! them here keeps the build to a plain link against `libpam.so.0` by its soname (the runtime
//! library of package libpam0g, present on any system with PAM; not even libpam0g-dev is
//! needed) and keeps every `unsafe` use in this module and
//! `transaction.rs`, where it can be audited in one sitting.
//!
//! Values and layouts are Linux-PAM's (`security/_pam_types.h`, libpam 1.5).

use std::ffi::{c_char, c_int, c_void};

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_BUF_ERR: c_int = 5;
pub const PAM_PERM_DENIED: c_int = 6;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_CRED_INSUFFICIENT: c_int = 8;
pub const PAM_USER_UNKNOWN: c_int = 10;
pub const PAM_MAXTRIES: c_int = 11;
pub const PAM_NEW_AUTHTOK_REQD: c_int = 12;
pub const PAM_ACCT_EXPIRED: c_int = 13;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_AUTHTOK_ERR: c_int = 20;
pub const PAM_AUTHTOK_EXPIRED: c_int = 27;

/// `pam_authenticate`/`pam_acct_mgmt` flag: an empty password never authenticates.
pub const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;
/// `pam_chauthtok` flag: change only an expired password.
pub const PAM_CHANGE_EXPIRED_AUTHTOK: c_int = 0x0020;

/// `pam_get_item`/`pam_set_item` item types.
pub const PAM_USER: c_int = 2;
pub const PAM_RHOST: c_int = 4;

/// Message styles of the conversation.
pub const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub const PAM_PROMPT_ECHO_ON: c_int = 2;
pub const PAM_ERROR_MSG: c_int = 3;
pub const PAM_TEXT_INFO: c_int = 4;

/// Most messages a module may pass in one conversation call.
pub const PAM_MAX_NUM_MSG: c_int = 32;
/// Longest message or answer Linux-PAM expects (bytes, including the NUL).
pub const PAM_MAX_RESP_SIZE: usize = 512;

/// `struct pam_message`.
#[repr(C)]
pub struct PamMessage {
    pub msg_style: c_int,
    pub msg: *const c_char,
}

/// `struct pam_response`; the array and each `resp` are `malloc`ed and freed by libpam.
#[repr(C)]
pub struct PamResponse {
    pub resp: *mut c_char,
    pub resp_retcode: c_int,
}

/// The conversation callback. Linux-PAM passes `msg` as an array of pointers.
pub type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
pub struct PamConv {
    pub conv: Option<ConvFn>,
    pub appdata_ptr: *mut c_void,
}

/// Opaque `pam_handle_t`.
#[repr(C)]
pub struct PamHandle {
    _private: [u8; 0],
}

#[link(name = "libpam.so.0", kind = "dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn pam_start_confdir(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    pub fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
    pub fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub fn pam_chauthtok(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
    pub fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    pub fn pam_get_item(
        pamh: *const PamHandle,
        item_type: c_int,
        item: *mut *const c_void,
    ) -> c_int;
}
