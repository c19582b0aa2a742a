//! The datagram channel under an OpenSSL `SslStream`: reads return the datagram being fed (once),
//! writes go to the UDP socket ([`UdpTx::send`]: at once, or in a train during a burst), and so
//! do the records the association seals itself once established.

use std::io::{self, Read, Write};

use super::UdpTx;

/// Feeds one datagram at a time to OpenSSL and sends what it writes. The inbox buffer is reused,
/// so feeding a datagram does not allocate once it has grown to the largest datagram seen.
#[derive(Debug)]
pub(crate) struct Channel {
    tx: UdpTx,
    inbox: Vec<u8>,
    pending: bool,
    /// The first send error (other than WouldBlock) since the last `take_send_error`.
    send_error: Option<io::Error>,
}

impl Channel {
    pub(crate) fn new(tx: UdpTx) -> Self {
        Self {
            tx,
            inbox: Vec::with_capacity(2048),
            pending: false,
            send_error: None,
        }
    }

    /// Makes `dgram` the next (and only) thing OpenSSL can read.
    pub(crate) fn load(&mut self, dgram: &[u8]) {
        self.inbox.clear();
        self.inbox.extend_from_slice(dgram);
        self.pending = true;
    }

    /// Whether OpenSSL has taken the datagram loaded last (it reads a datagram whole).
    pub(crate) fn drained(&self) -> bool {
        !self.pending
    }

    /// Forgets a datagram OpenSSL did not read (e.g. the association failed before reading it).
    pub(crate) fn discard(&mut self) {
        self.pending = false;
    }

    /// Sends one datagram (at once or in this thread's train); an error other than WouldBlock
    /// is kept for [`Channel::take_send_error`].
    pub(crate) fn send_datagram(&mut self, dgram: &[u8]) {
        if let Err(e) = self.tx.send(dgram) {
            tracing::trace!(peer = %self.tx.peer, error = %e, "DTLS datagram not sent");
            if self.send_error.is_none() {
                self.send_error = Some(e);
            }
        }
    }

    pub(crate) fn take_send_error(&mut self) -> Option<io::Error> {
        self.send_error.take()
    }

    pub(crate) fn peer(&self) -> std::net::SocketAddr {
        self.tx.peer
    }

    pub(crate) fn set_peer(&mut self, peer: std::net::SocketAddr) {
        self.tx.peer = peer;
    }
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never report 0 bytes: OpenSSL takes that for EOF, a fatal error.
        if !self.pending || self.inbox.is_empty() {
            self.pending = false;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.pending = false;
        // Like recv(2): a datagram longer than the buffer is truncated.
        let n = self.inbox.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(&self.inbox) {
            *dst = *src;
        }
        Ok(n)
    }
}

impl Write for Channel {
    /// Always reports success: a datagram the socket refuses is lost, as UDP allows; OpenSSL's
    /// timers retransmit handshake flights. Errors other than WouldBlock are kept for `send`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_datagram(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
