//! A DTLS 0.9 association: the sans-IO `Dtls09Server` from rocserv-proto, with our socket and
//! randomness. OpenSSL cannot serve DTLS 0.9 (crates.md §2.2 c1).

use std::fmt;
use std::net::SocketAddr;

use rocserv_proto::dtls::Dtls09Suite;
use rocserv_proto::dtls09::{Dtls09Error, Dtls09Server};
use zeroize::Zeroizing;

use super::{DtlsError, UdpTx, MAX_PAYLOAD};

pub(crate) struct Dtls09Assoc {
    server: Dtls09Server,
    tx: UdpTx,
    /// Handshake answers of the current datagram (empty once established).
    out: Vec<Vec<u8>>,
    /// Reused buffer for one encrypted record.
    record: Vec<u8>,
    /// The handshake failed or the peer sent an alert.
    dead: bool,
}

impl fmt::Debug for Dtls09Assoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dtls09Assoc")
            .field("suite", &self.server.suite())
            .field("established", &self.server.is_established())
            .field("peer", &self.tx.peer)
            .finish_non_exhaustive()
    }
}

fn suite_name(suite: Dtls09Suite) -> &'static str {
    match suite {
        Dtls09Suite::Aes128Sha => "AES128-SHA",
        Dtls09Suite::Aes256Sha => "AES256-SHA",
    }
}

impl Dtls09Assoc {
    pub(crate) fn new(
        suite: Dtls09Suite,
        session_id: [u8; 32],
        master: Zeroizing<[u8; 48]>,
        tx: UdpTx,
    ) -> Self {
        let server_random: [u8; 32] = rand::random();
        Self {
            server: Dtls09Server::new(suite, session_id, &master, server_random),
            tx,
            out: Vec::new(),
            record: Vec::with_capacity(2048),
            dead: false,
        }
    }

    pub(crate) fn on_datagram(
        &mut self,
        dgram: &[u8],
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, DtlsError> {
        if self.dead {
            return Err(DtlsError::Dead);
        }
        self.out.clear();
        let was_established = self.server.is_established();
        let result = self.server.handle_datagram(dgram, &mut self.out, deliver);
        // Answers produced before an error still go out (a handshake flight, a retransmission).
        for answer in self.out.drain(..) {
            if let Err(e) = self.tx.send(&answer) {
                tracing::trace!(peer = %self.tx.peer, error = %e, "DTLS 0.9 datagram not sent");
            }
        }
        if !was_established && self.server.is_established() {
            tracing::debug!(peer = %self.tx.peer, cipher = %self.cipher_description(),
                            "DTLS handshake complete");
        }
        if let Err(e) = &result {
            if matches!(e, Dtls09Error::BadFinished | Dtls09Error::Failed) {
                self.dead = true;
            }
        }
        let records = result?;
        if self.server.peer_closed() {
            self.dead = true;
            return Err(DtlsError::Closed);
        }
        Ok(records)
    }

    pub(crate) fn send(&mut self, payload: &[u8]) -> Result<(), DtlsError> {
        if self.dead {
            return Err(DtlsError::Dead);
        }
        if !self.server.is_established() {
            return Err(DtlsError::NotEstablished);
        }
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            return Err(DtlsError::PayloadSize {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let iv: [u8; 16] = rand::random();
        self.server.encrypt(payload, iv, &mut self.record)?;
        self.tx.send(&self.record).map_err(DtlsError::Send)
    }

    pub(crate) fn is_established(&self) -> bool {
        !self.dead && self.server.is_established()
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead
    }

    pub(crate) fn cipher_description(&self) -> String {
        format!("DTLSv0.9 {}", suite_name(self.server.suite()))
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.tx.peer
    }

    pub(crate) fn set_peer(&mut self, addr: SocketAddr) {
        self.tx.peer = addr;
    }
}
