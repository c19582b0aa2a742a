//! The "aggregate auth" exchange (protocol.md §2): parsing what the client POSTs
//! (`config-auth` XML or the legacy urlencoded form) and rendering the server's
//! `auth-request` / `complete` documents.

mod form;
mod parse;
mod render;

pub use parse::{parse_client_auth, MAX_AUTH_BODY_BYTES, MAX_OPAQUE_BYTES, MAX_XML_DEPTH};
pub use render::{render_auth_complete, render_auth_request, xml_escape};

use crate::secret::Secret;

/// Longest username accepted, in bytes (ocserv's limit).
pub const MAX_USERNAME_BYTES: usize = 63;

/// The `type=` of a client `config-auth` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessageKind {
    /// Start (or restart) an authentication transaction; also an empty body.
    Init,
    /// A filled-in form.
    AuthReply,
    /// Cisco clients' logout on disconnect.
    Logout,
    /// Any other `type=` value, verbatim.
    Other(String),
}

/// What the client sent in one authentication POST. `Debug` redacts the passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthMessage {
    /// The document type.
    pub kind: ClientMessageKind,
    /// `<auth><username>` / `username=`; validated (≤ 63 bytes, no control characters).
    pub username: Option<String>,
    /// `<auth><password>` / `password=`.
    pub password: Option<Secret>,
    /// `<auth><secondary_password>` / `secondary_password=`.
    pub secondary_password: Option<Secret>,
    /// `<group-select>` / `group_list=`.
    pub group_select: Option<String>,
    /// `<group-access>`: the URL the user typed.
    pub group_access: Option<String>,
    /// `<device-id>`: the client platform, e.g. `linux-64`.
    pub device_id: Option<String>,
    /// `<version>`: the client version, e.g. `v9.01-3`.
    pub client_version: Option<String>,
    /// The raw inner XML of `<opaque>` (echoed back from our form), if at most
    /// [`MAX_OPAQUE_BYTES`] long.
    pub opaque: Option<String>,
}

impl ClientAuthMessage {
    /// A message of `kind` with every field empty.
    pub fn empty(kind: ClientMessageKind) -> Self {
        Self {
            kind,
            username: None,
            password: None,
            secondary_password: None,
            group_select: None,
            group_access: None,
            device_id: None,
            client_version: None,
            opaque: None,
        }
    }
}

/// Why an authentication body was rejected. Messages never include the body's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthParseError {
    /// The body exceeds [`MAX_AUTH_BODY_BYTES`].
    #[error("authentication body larger than {MAX_AUTH_BODY_BYTES} bytes")]
    TooLarge,
    /// Elements nested deeper than [`MAX_XML_DEPTH`].
    #[error("XML nested deeper than {MAX_XML_DEPTH} elements")]
    TooDeep,
    /// A document type declaration (DTDs and entity definitions are refused).
    #[error("XML document type declarations are not allowed")]
    DtdNotAllowed,
    /// Not well-formed XML (or not UTF-8).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The root element is not `<config-auth>`.
    #[error("root element is not config-auth")]
    NotConfigAuth,
    /// The username is longer than 63 bytes or contains control characters.
    #[error("invalid username")]
    BadUsername,
}

/// Validates and normalises a username: trimmed; empty means absent.
pub(crate) fn check_username(raw: &str) -> Result<Option<String>, AuthParseError> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.len() > MAX_USERNAME_BYTES || name.chars().any(char::is_control) {
        return Err(AuthParseError::BadUsername);
    }
    Ok(Some(name.to_owned()))
}

/// One input of an `auth-request` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormField {
    /// `<input type="text">`.
    Text {
        /// Input name, e.g. `username`.
        name: String,
        /// Prompt shown to the user, e.g. `Username:`.
        label: String,
    },
    /// `<input type="password">`.
    Password {
        /// Input name, e.g. `password` or `secondary_password`.
        name: String,
        /// Prompt shown to the user, e.g. `Password:`.
        label: String,
    },
    /// `<input type="hidden">`, posted back unchanged.
    Hidden {
        /// Input name.
        name: String,
        /// Value posted back.
        value: String,
    },
}

/// One `<option>` of the `group_list` select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOption {
    /// Posted back in `<group-select>`.
    pub value: String,
    /// Shown to the user.
    pub label: String,
}

/// An `auth-request` form (protocol.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthForm {
    /// `<auth id=...>`: `main` normally, `challenge` for OTP rounds.
    pub auth_id: String,
    /// `<title>` (ignored by openconnect).
    pub title: Option<String>,
    /// `<banner>` (pre-login banner).
    pub banner: Option<String>,
    /// `<message>`, e.g. `Please enter your username and password.`.
    pub message: Option<String>,
    /// `<error>`, e.g. `Login failed.`.
    pub error: Option<String>,
    /// The inputs, in order.
    pub fields: Vec<FormField>,
    /// Options of the `group_list` select; no select when empty.
    pub groups: Vec<GroupOption>,
    /// The option value to mark `selected="true"`.
    pub selected_group: Option<String>,
    /// Where the client POSTs the reply, normally `/auth`.
    pub action: String,
}

impl AuthForm {
    /// The standard first form: `username` text input and `password` input, posted to
    /// `/auth`.
    pub fn username_password(message: Option<String>) -> Self {
        Self {
            auth_id: "main".to_owned(),
            title: None,
            banner: None,
            message,
            error: None,
            fields: vec![
                FormField::Text {
                    name: "username".to_owned(),
                    label: "Username:".to_owned(),
                },
                FormField::Password {
                    name: "password".to_owned(),
                    label: "Password:".to_owned(),
                },
            ],
            groups: Vec::new(),
            selected_group: None,
            action: "/auth".to_owned(),
        }
    }
}
