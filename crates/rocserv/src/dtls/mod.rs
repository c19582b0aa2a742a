//! DTLS associations of the tunnel (protocol.md §5): one [`Association`] per DTLS handshake of a
//! session, in one of three modes.
//!
//! * PSK-NEGOTIATE (§5.2) and legacy DTLS 1.2 resumption (§5.3) run on OpenSSL (crates.md §2):
//!   the contexts are built once ([`DtlsContexts`]); each association owns an `SslStream` over a
//!   datagram channel that is fed the current datagram and writes every OpenSSL output datagram
//!   straight to the UDP socket ([`UdpTx`]).
//! * DTLS 0.9 (Cisco's pre-RFC DTLS) adapts the sans-IO `rocserv_proto::dtls09::Dtls09Server`,
//!   because OpenSSL has no DTLS 0.9 server.
//!
//! The UDP endpoint (demultiplexer) routes datagrams to associations; this module never reads the
//! socket. Payloads are one CSTP type byte followed by the data, in one record per datagram.

mod assoc;
mod channel;
mod contexts;
mod dtls09_assoc;
mod error;
mod openssl_assoc;
mod session_der;
#[cfg(test)]
mod tests;
mod train;

use std::net::SocketAddr;
use std::sync::Arc;

pub use assoc::Association;
pub use contexts::DtlsContexts;
pub use error::DtlsError;
pub use train::Burst;

/// Largest payload (type byte + data) one DTLS record can carry (2^14, RFC 6347).
pub const MAX_PAYLOAD: usize = 16384;

/// Where an association sends its datagrams: the shared UDP socket and the peer's address.
/// Sends ([`UdpTx::send`]) never wait: a datagram that would block is dropped (UDP semantics;
/// handshake flights are retransmitted by the timers).
#[derive(Debug, Clone)]
pub struct UdpTx {
    pub sock: Arc<crate::udp_socket::DatagramSocket>,
    pub peer: SocketAddr,
}
