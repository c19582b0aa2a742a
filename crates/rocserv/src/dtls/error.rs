//! The errors of a DTLS association.

use rocserv_proto::dtls09::Dtls09Error;

/// Why a DTLS operation failed. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// OpenSSL refused to build a context or an SSL object (library or configuration problem).
    #[error("OpenSSL setup failed: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The DTLS handshake failed (wrong key, unsupported cipher, protocol error); the association
    /// is dead, the client may start a new one with a new ClientHello.
    #[error("DTLS handshake failed: {0}")]
    Handshake(String),
    /// Legacy mode: the client asked for a full handshake instead of resuming the announced
    /// session (wrong Session-ID, suite or EMS); refused, never fall back (protocol.md §5.3).
    #[error("legacy DTLS client did not resume the announced session")]
    NotResumed,
    /// A fatal error on an established association (OpenSSL record layer).
    #[error("DTLS record layer failed: {0}")]
    Record(String),
    /// Our record layer refused to seal (sequence numbers exhausted); the association is dead.
    #[error("DTLS record layer failed: {0}")]
    Seal(#[from] rocserv_proto::dtls::record12::SealError),
    /// The peer closed the association (close_notify).
    #[error("DTLS association closed by the peer")]
    Closed,
    /// The association failed earlier and can no longer be used.
    #[error("DTLS association is no longer usable")]
    Dead,
    /// `send` before the handshake completed.
    #[error("DTLS association is not established yet")]
    NotEstablished,
    /// The payload does not fit one DTLS record (1 ..= 16384 bytes).
    #[error("DTLS payload of {len} bytes does not fit one record (1..={max})")]
    PayloadSize { len: usize, max: usize },
    /// The record was built but the socket refused it (other than WouldBlock, which drops
    /// silently), e.g. network unreachable or message too long.
    #[error("sending the DTLS datagram failed: {0}")]
    Send(#[source] std::io::Error),
    /// DTLS 0.9: this datagram was refused; fatal only for a failed handshake (`BadFinished`,
    /// `Failed`). `UnexpectedClientHello` asks for a new association for the new ClientHello.
    #[error("DTLS 0.9: {0}")]
    Dtls09(#[from] Dtls09Error),
}

impl DtlsError {
    /// Whether the association is dead after this error. Non-fatal errors concern one datagram or
    /// one payload only.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Setup(_)
            | Self::Handshake(_)
            | Self::NotResumed
            | Self::Record(_)
            | Self::Seal(_)
            | Self::Closed
            | Self::Dead => true,
            Self::Dtls09(e) => matches!(e, Dtls09Error::BadFinished | Dtls09Error::Failed),
            Self::NotEstablished | Self::PayloadSize { .. } | Self::Send(_) => false,
        }
    }
}
