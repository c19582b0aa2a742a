//! Peeking at a DTLS ClientHello to route a new association (protocol.md §5.1).

/// Record header (13) + handshake header (12) + client_version (2) + random (32).
const SESSION_ID_LEN_OFFSET: usize = 59;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

/// What the demultiplexer needs to know about a datagram that starts a DTLS association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHelloInfo<'a> {
    /// Version in the record header (`0xFEFF`, `0xFEFD` or `0x0100` for DTLS 0.9).
    pub record_version: u16,
    /// `client_version` in the ClientHello body.
    pub client_version: u16,
    /// The session_id: our App-ID or Session-ID for a client that wants to talk to a session.
    pub session_id: &'a [u8],
}

fn is_dtls_version(v: u16) -> bool {
    matches!(v, 0xFEFF | 0xFEFD | 0x0100)
}

/// Returns the ClientHello's versions and session_id if `dgram` starts with an epoch-0 DTLS
/// handshake record holding the (first fragment of a) ClientHello. Never panics.
pub fn peek_client_hello(dgram: &[u8]) -> Option<ClientHelloInfo<'_>> {
    if *dgram.first()? != CONTENT_HANDSHAKE {
        return None;
    }
    let record_version = u16::from_be_bytes([*dgram.get(1)?, *dgram.get(2)?]);
    if !is_dtls_version(record_version) {
        return None;
    }
    // epoch must be 0 for a ClientHello
    if dgram.get(3..5)? != [0, 0] {
        return None;
    }
    if *dgram.get(13)? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    // fragment_offset must be 0: the session id is in the first fragment
    if dgram.get(19..22)? != [0, 0, 0] {
        return None;
    }
    let client_version = u16::from_be_bytes([*dgram.get(25)?, *dgram.get(26)?]);
    if !is_dtls_version(client_version) {
        return None;
    }
    let len = usize::from(*dgram.get(SESSION_ID_LEN_OFFSET)?);
    if len > 32 {
        return None;
    }
    let start = SESSION_ID_LEN_OFFSET + 1;
    let session_id = dgram.get(start..start + len)?;
    Some(ClientHelloInfo {
        record_version,
        client_version,
        session_id,
    })
}
