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

    /// Waits for a datagram (the tests' one-at-a-time receive; the endpoint uses
    /// [`Self::recv_batch`]).
    #[cfg(test)]
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let mut ready = self.fd.readable().await?;
            // `try_io` clears the readiness on WouldBlock, so the next round waits again.
            if let Ok(r) = ready.try_io(|s| s.get_ref().recv_from(buf)) {
                return r;
            }
        }
    }

    /// Waits for datagrams and receives as many as are queued, up to the batch's size, with one
    /// `recvmmsg`; returns how many (at least one).
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            // As in `recv_from`: WouldBlock clears the readiness. A batch that is not full does
            // not: the next call finds out, as the next `recv_from` would.
            if let Ok(r) = ready.try_io(|s| batch.receive(s.get_ref())) {
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

/// Most datagrams one [`DatagramSocket::recv_batch`] takes.
pub const BATCH: usize = 16;

/// Buffers for [`DatagramSocket::recv_batch`]: [`BATCH`] datagrams of up to `slot` bytes, their
/// lengths and senders. A datagram longer than its slot is not returned.
pub struct RecvBatch {
    slots: Vec<Vec<u8>>,
    /// Per slot of the last receive: length and sender, `None` for a datagram left out.
    got: Vec<Option<(usize, SocketAddr)>>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("received", &self.got.len())
            .finish_non_exhaustive()
    }
}

impl RecvBatch {
    /// Room for [`BATCH`] datagrams of up to `slot` bytes each (pages are touched only as
    /// datagrams fill them).
    pub fn new(slot: usize) -> RecvBatch {
        RecvBatch {
            slots: (0..BATCH).map(|_| vec![0u8; slot]).collect(),
            got: Vec::with_capacity(BATCH),
        }
    }

    /// The datagrams of the last receive: bytes and sender.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.got.iter().zip(&self.slots).filter_map(|(&got, slot)| {
            let (n, from) = got?;
            Some((slot.get(..n)?, from))
        })
    }

    /// One non-blocking `recvmmsg` into the slots; the number of datagrams it returned
    /// (truncated ones and ones from an unknown address family are left out of
    /// [`RecvBatch::iter`]).
    fn receive(&mut self, sock: &std::net::UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        self.got.clear();
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((slot, iov), (msg, name)) in self
            .slots
            .iter_mut()
            .zip(iovs.iter_mut())
            .zip(msgs.iter_mut().zip(names.iter_mut()))
        {
            iov.iov_base = slot.as_mut_ptr().cast();
            iov.iov_len = slot.len();
            msg.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            msg.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        let n = retry_interrupted(|| {
            // SAFETY: `msgs` holds BATCH headers, each pointing at its own name buffer and one
            // iovec over a live slot of the stated length; all outlive the call.
            let r = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            usize::try_from(r).map_err(|_| io::Error::last_os_error())
        })?;
        for (msg, name) in msgs.iter().zip(&names).take(n) {
            let truncated = msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let from = sockaddr_to_std(name).filter(|_| !truncated);
            self.got.push(from.map(|from| (msg.msg_len as usize, from)));
        }
        Ok(n)
    }
}

/// The address in a `sockaddr_storage` filled by the kernel (IPv4 or IPv6).
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
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
        // Several queued datagrams come in one batch, each with its sender.
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for m in [&b"four"[..], b"five", b"six"] {
            b.send_to(m, a.local_addr().unwrap()).unwrap();
        }
        c.send_to(&[7u8; 3000], a.local_addr().unwrap()).unwrap(); // longer than a slot
        c.send_to(b"eight", a.local_addr().unwrap()).unwrap();
        let mut batch = RecvBatch::new(2048);
        let mut got = Vec::new();
        while got.len() < 4 {
            tokio::time::timeout(Duration::from_secs(5), a.recv_batch(&mut batch))
                .await
                .unwrap()
                .unwrap();
            got.extend(batch.iter().map(|(d, from)| (d.to_vec(), from)));
        }
        let (bb, cc) = (b.local_addr().unwrap(), c.local_addr().unwrap());
        assert_eq!(
            got,
            vec![
                (b"four".to_vec(), bb),
                (b"five".to_vec(), bb),
                (b"six".to_vec(), bb),
                (b"eight".to_vec(), cc)
            ],
            "the oversized datagram is left out"
        );
        // Nothing more: the receive waits (and is cancelled by the timeout).
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.recv_from(&mut buf))
                .await
                .is_err()
        );
    }
}
