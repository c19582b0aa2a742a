//! The DISCONNECT (`0x05`) payload: a reason byte followed by optional text (protocol.md §4.5).

use super::{write_frame, CstpError, PacketType};

/// Longest disconnect text kept by [`parse_disconnect`], in characters.
pub const MAX_DISCONNECT_TEXT: usize = 128;

/// Why the peer disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// `0xb0`: the user logged off; invalidate the session.
    UserLogout,
    /// `0x70`: client-side error (e.g. routing setup failed); invalidate the session.
    LocalError,
    /// `0x91`: the client reconnects immediately; keep the session.
    Reconnect,
    /// `0xd1`: VPN paused; keep the session.
    Pause,
    /// No reason byte at all (a temporary disconnect).
    Empty,
    /// Any other reason byte.
    Other(u8),
}

impl DisconnectReason {
    /// Whether the session (and its cookie) must be invalidated: user logout or local error.
    pub fn invalidates_session(&self) -> bool {
        matches!(
            self,
            DisconnectReason::UserLogout | DisconnectReason::LocalError
        )
    }

    /// The reason byte, `None` for [`DisconnectReason::Empty`].
    pub fn code(&self) -> Option<u8> {
        match self {
            DisconnectReason::UserLogout => Some(0xb0),
            DisconnectReason::LocalError => Some(0x70),
            DisconnectReason::Reconnect => Some(0x91),
            DisconnectReason::Pause => Some(0xd1),
            DisconnectReason::Empty => None,
            DisconnectReason::Other(c) => Some(*c),
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            0xb0 => DisconnectReason::UserLogout,
            0x70 => DisconnectReason::LocalError,
            0x91 => DisconnectReason::Reconnect,
            0xd1 => DisconnectReason::Pause,
            other => DisconnectReason::Other(other),
        }
    }
}

/// Splits a DISCONNECT payload into its reason and a log-safe text: lossy UTF-8, control
/// characters removed, at most [`MAX_DISCONNECT_TEXT`] characters.
pub fn parse_disconnect(payload: &[u8]) -> (DisconnectReason, String) {
    let Some((&code, text)) = payload.split_first() else {
        return (DisconnectReason::Empty, String::new());
    };
    let text = String::from_utf8_lossy(text)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DISCONNECT_TEXT)
        .collect();
    (DisconnectReason::from_code(code), text)
}

/// Appends a DISCONNECT frame carrying `reason` and `text` (empty payload for
/// [`DisconnectReason::Empty`], in which case `text` is not sent).
pub fn write_disconnect(
    out: &mut Vec<u8>,
    reason: DisconnectReason,
    text: &str,
) -> Result<(), CstpError> {
    let mut payload = Vec::with_capacity(1 + text.len());
    if let Some(code) = reason.code() {
        payload.push(code);
        payload.extend_from_slice(text.as_bytes());
    }
    write_frame(out, PacketType::Disconnect, &payload)
}
