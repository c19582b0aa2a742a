//! The DTLS endpoint's UDP socket, registered with the runtime for reading only.
//!
//! tokio's `UdpSocket` also asks epoll for writability, and the kernel signals write space each
//! time one of the socket's sent datagrams is freed, that is when the peer has read it. With the
//! endpoint's thread asleep by then (one ping through the tunnel, a keepalive), every datagram
//! sent woke that thread once more, for an event nobody waits for: DTLS sends never wait (a
//! datagram the socket has no room for is dropped, as UDP allows; handshake flights are
//! retransmitted by their timers). Here sends are plain non-blocking system calls and only
//! reads go through the reactor.

use std::io;
use std::net::SocketAddr;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

#[derive(Debug)]
pub struct DatagramSocket {
    fd: AsyncFd<std::net::UdpSocket>,
}

impl DatagramSocket {
    /// Takes a bound socket (made non-blocking here). Needs a tokio runtime with I/O enabled.
    pub fn from_std(sock: std::net::UdpSocket) -> io::Result<Self> {
        sock.set_nonblocking(true)?;
        // SAFETY: the descriptor is the socket's own (`OwnedFd` inside), open for as long as the
        // `AsyncFd` owns the socket, which it does until dropped (never swapped: no `get_mut`).
        let fd = unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    #[cfg(test)]
    pub fn bind(addr: &str) -> io::Result<Self> {
        Self::from_std(std::net::UdpSocket::bind(addr)?)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.get_ref().local_addr()
    }

    /// Waits for a datagram.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let mut ready = self.fd.readable().await?;
            // `try_io` clears the readiness on WouldBlock, so the next round waits again.
            if let Ok(r) = ready.try_io(|s| s.get_ref().recv_from(buf)) {
                return r;
            }
        }
    }

    /// Sends one datagram without waiting: `WouldBlock` when the socket has no room.
    pub fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        retry_interrupted(|| self.fd.get_ref().send_to(buf, to))
    }

    /// One `sendmsg` without waiting (see [`Self::try_send_to`]).
    pub fn try_sendmsg(&self, msg: &socket2::MsgHdr<'_, '_, '_>) -> io::Result<usize> {
        retry_interrupted(|| socket2::SockRef::from(self.fd.get_ref()).sendmsg(msg, 0))
    }
}

fn retry_interrupted<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn receives_and_sends_without_waiting_for_writability() {
        let a = DatagramSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // No readiness to wait for first: the very first send goes out.
        assert_eq!(a.try_send_to(b"one", b.local_addr().unwrap()).unwrap(), 3);
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr().unwrap()));
        b.send_to(b"two", a.local_addr().unwrap()).unwrap();
        b.send_to(b"three", a.local_addr().unwrap()).unwrap();
        for want in [&b"two"[..], b"three"] {
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), a.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], want);
        }
        // Nothing more: the receive waits (and is cancelled by the timeout).
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.recv_from(&mut buf))
                .await
                .is_err()
        );
    }
}
