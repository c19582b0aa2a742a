//! [`Association`]: what the session driver holds for one DTLS handshake of a session.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use rocserv_proto::dtls::{Dtls09Suite, Legacy12Suite};
use zeroize::Zeroizing;

use super::dtls09_assoc::Dtls09Assoc;
use super::openssl_assoc::OpensslAssoc;
use super::{DtlsContexts, DtlsError, UdpTx};

/// One DTLS association of one session, in any of the three modes. Synchronous: every call does
/// its OpenSSL work and its `try_send_to`s, and returns.
pub struct Association {
    inner: Inner,
}

enum Inner {
    Openssl(OpensslAssoc),
    Dtls09(Box<Dtls09Assoc>),
}

impl fmt::Debug for Association {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Openssl(a) => a.fmt(f),
            Inner::Dtls09(a) => a.fmt(f),
        }
    }
}

impl Association {
    /// PSK-NEGOTIATE (protocol.md §5.2): `psk` is the 32 bytes exported from the TLS session of
    /// the CONNECT; `mtu` is the tunnel MTU announced to the client (a tunnel packet of that size
    /// plus the type byte fits one record). The first datagram is expected to be the ClientHello
    /// whose session_id is the App-ID. `only` limits the handshake to one OpenSSL cipher
    /// (`match-tls-dtls-ciphers`: the DTLS cipher must be the TLS session's).
    pub fn psk(
        ctx: &DtlsContexts,
        psk: [u8; 32],
        only: Option<&str>,
        mtu: u16,
        tx: UdpTx,
    ) -> Result<Association, DtlsError> {
        Ok(Self {
            inner: Inner::Openssl(OpensslAssoc::psk(ctx, psk, only, mtu, tx)?),
        })
    }

    /// Legacy DTLS 1.2 resumption (protocol.md §5.3) of the session `session_id`
    /// (`X-DTLS-Session-ID`) with `master` (`X-DTLS-Master-Secret`). A client that does not
    /// resume is refused: `on_datagram` fails and the association is dead.
    pub fn legacy12(
        ctx: &DtlsContexts,
        suite: Legacy12Suite,
        session_id: [u8; 32],
        master: [u8; 48],
        mtu: u16,
        tx: UdpTx,
    ) -> Result<Association, DtlsError> {
        let master = Zeroizing::new(master);
        Ok(Self {
            inner: Inner::Openssl(OpensslAssoc::legacy12(
                ctx, suite, session_id, master, mtu, tx,
            )?),
        })
    }

    /// DTLS 0.9 resumption (protocol.md §5.3), served by rocserv-proto's `Dtls09Server`.
    pub fn dtls09(
        suite: Dtls09Suite,
        session_id: [u8; 32],
        master: [u8; 48],
        tx: UdpTx,
    ) -> Association {
        let master = Zeroizing::new(master);
        Self {
            inner: Inner::Dtls09(Box::new(Dtls09Assoc::new(suite, session_id, master, tx))),
        }
    }

    /// One datagram from `from`. Decrypted payloads (type byte + data) go to `deliver`. Returns
    /// the number of authenticated application records (> 0 means the sender proved the key,
    /// so a datagram from a new address is a NAT rebinding: call [`Association::set_peer`]).
    ///
    /// Garbage, forged and replayed records are dropped silently (`Ok(0)`). An error with
    /// [`DtlsError::is_fatal`] means the association is dead (handshake failure, refused
    /// resumption, close_notify); a non-fatal one concerns this datagram only.
    pub fn on_datagram(
        &mut self,
        dgram: &[u8],
        from: SocketAddr,
        now: Instant,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, DtlsError> {
        let _ = (from, now);
        match &mut self.inner {
            Inner::Openssl(a) => a.on_datagram(dgram, deliver),
            Inner::Dtls09(a) => a.on_datagram(dgram, deliver),
        }
    }

    /// Encrypts and sends one payload (type byte + data, 1..=16384 bytes) as one record in one
    /// datagram. A full socket drops the datagram silently.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), DtlsError> {
        match &mut self.inner {
            Inner::Openssl(a) => a.send(payload),
            Inner::Dtls09(a) => a.send(payload),
        }
    }

    /// Whether the handshake completed (and the association has not died since).
    pub fn is_established(&self) -> bool {
        match &self.inner {
            Inner::Openssl(a) => a.is_established(),
            Inner::Dtls09(a) => a.is_established(),
        }
    }

    /// Whether the association is unusable (failed handshake, timer gave up, fatal error,
    /// close_notify); the driver should drop it.
    pub fn is_dead(&self) -> bool {
        match &self.inner {
            Inner::Openssl(a) => a.is_dead(),
            Inner::Dtls09(a) => a.is_dead(),
        }
    }

    /// Version and cipher for logs, e.g. "DTLSv1.2 PSK-AES256-GCM-SHA384".
    pub fn cipher_description(&self) -> String {
        match &self.inner {
            Inner::Openssl(a) => a.cipher_description(),
            Inner::Dtls09(a) => a.cipher_description(),
        }
    }

    /// Who seals and opens the application records: "rocserv" (our own record layer: DTLS 0.9,
    /// and DTLS 1.2 with an AES-GCM or ChaCha20-Poly1305 suite once established) or "OpenSSL".
    pub fn record_layer(&self) -> &'static str {
        match &self.inner {
            Inner::Openssl(a) => a.record_layer(),
            Inner::Dtls09(_) => "rocserv",
        }
    }

    /// When [`Association::on_timeout`] must be called next (OpenSSL's handshake retransmission
    /// timer); `None` when no timer runs.
    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.inner {
            Inner::Openssl(a) => a.next_timeout(),
            Inner::Dtls09(_) => None,
        }
    }

    /// Retransmits the last handshake flight if its timer expired; the association dies when
    /// OpenSSL gives up.
    pub fn on_timeout(&mut self, now: Instant) {
        match &mut self.inner {
            Inner::Openssl(a) => a.on_timeout(now),
            Inner::Dtls09(_) => {}
        }
    }

    /// Where datagrams are sent.
    pub fn peer(&self) -> SocketAddr {
        match &self.inner {
            Inner::Openssl(a) => a.peer(),
            Inner::Dtls09(a) => a.peer(),
        }
    }

    /// Re-homes the association (NAT rebinding), after `on_datagram` reported authenticated
    /// records from `addr`.
    pub fn set_peer(&mut self, addr: SocketAddr) {
        match &mut self.inner {
            Inner::Openssl(a) => a.set_peer(addr),
            Inner::Dtls09(a) => a.set_peer(addr),
        }
    }
}
