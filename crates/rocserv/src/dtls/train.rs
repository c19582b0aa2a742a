//! Datagram trains (UDP GSO). While a [`Burst`] is open on a thread, the datagrams sent through
//! [`UdpTx::send`] are collected instead of sent one by one: consecutive datagrams to the same
//! peer on the same socket, all of the first one's size except possibly a shorter last one,
//! leave in one `sendmsg` with `UDP_SEGMENT`. The kernel then carries one buffer through the
//! IP stack and splits it into the same datagrams only at the end (the device, or the receiving
//! socket), which is where the per-packet cost of a download over DTLS went. The client sees
//! exactly the datagrams it would have seen without trains, in the same order.
//!
//! The collection is per thread, not per tunnel (no memory per session); a burst is synchronous
//! code between two awaits, which [`Burst`] enforces by not being `Send`.

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::udp_socket::DatagramSocket;

use super::UdpTx;

/// Most datagrams in one train (the kernel's `UDP_MAX_SEGMENTS` is 64 on older kernels).
const MAX_SEGMENTS: usize = 64;
/// Most bytes in one train: the UDP payload of one IPv4 datagram (65,535 - 20 - 8), rounded down.
const MAX_TRAIN_BYTES: usize = 65_000;

/// Cleared when the kernel refuses `UDP_SEGMENT` in a way that will not change (no GSO for UDP,
/// no checksum offload on the way out): from then on trains leave one datagram per send.
static GSO_USABLE: AtomicBool = AtomicBool::new(true);

thread_local! {
    static TRAIN: RefCell<Train> = RefCell::new(Train::default());
}

/// Collects the datagrams this thread sends until [`Burst::finish`] (or drop) sends them.
/// Not `Send`: it cannot be held across an `.await` in a spawned task.
pub struct Burst {
    _thread_bound: PhantomData<*const ()>,
}

impl Burst {
    pub fn start() -> Burst {
        TRAIN.with(|t| t.borrow_mut().active = true);
        Burst {
            _thread_bound: PhantomData,
        }
    }

    /// Sends what was collected; returns the first send error other than a full socket (a
    /// datagram the socket refuses for lack of room is dropped, as UDP allows).
    pub fn finish(self) -> io::Result<()> {
        let r = TRAIN.with(|t| t.borrow_mut().close());
        std::mem::forget(self);
        r
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        let _ = TRAIN.with(|t| t.borrow_mut().close());
    }
}

impl UdpTx {
    /// Sends one datagram to the peer: at once, or as part of this thread's open [`Burst`].
    /// A datagram the socket refuses for lack of room is dropped; other errors are returned
    /// (in a burst, from [`Burst::finish`]).
    pub fn send(&self, dgram: &[u8]) -> io::Result<()> {
        TRAIN.with(|t| {
            let mut t = t.borrow_mut();
            if t.active {
                t.push(self, dgram);
                Ok(())
            } else {
                send_one(&self.sock, self.peer, dgram)
            }
        })
    }
}

#[derive(Default)]
struct Train {
    active: bool,
    buf: Vec<u8>,
    /// The size of every datagram in `buf` but the last.
    seg: usize,
    count: usize,
    /// A datagram shorter than `seg` was added: it must be the last.
    closed: bool,
    to: Option<(Arc<DatagramSocket>, SocketAddr)>,
    error: Option<io::Error>,
}

impl Train {
    fn push(&mut self, tx: &UdpTx, dgram: &[u8]) {
        if !self.takes(tx, dgram.len()) {
            self.flush();
        }
        if self.count == 0 {
            self.seg = dgram.len();
            self.to = Some((tx.sock.clone(), tx.peer));
        }
        self.buf.extend_from_slice(dgram);
        self.count += 1;
        self.closed = dgram.len() < self.seg;
    }

    fn takes(&self, tx: &UdpTx, len: usize) -> bool {
        let same_way = self
            .to
            .as_ref()
            .is_some_and(|(sock, peer)| Arc::ptr_eq(sock, &tx.sock) && *peer == tx.peer);
        self.count == 0
            || (same_way
                && !self.closed
                && len <= self.seg
                && self.count < MAX_SEGMENTS
                && self.buf.len() + len <= MAX_TRAIN_BYTES)
    }

    fn flush(&mut self) {
        if let Some((sock, peer)) = self.to.take() {
            if let Err(e) = send_train(&sock, peer, &self.buf, self.seg, self.count) {
                self.error.get_or_insert(e);
            }
        }
        self.buf.clear();
        self.count = 0;
        self.closed = false;
    }

    fn close(&mut self) -> io::Result<()> {
        self.flush();
        self.active = false;
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn send_one(sock: &DatagramSocket, peer: SocketAddr, dgram: &[u8]) -> io::Result<()> {
    match sock.try_send_to(dgram, peer) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            tracing::trace!(%peer, len = dgram.len(), "DTLS datagram dropped: socket full");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Sends `count` datagrams held back to back in `buf`, each `seg` bytes but the last.
fn send_train(
    sock: &DatagramSocket,
    peer: SocketAddr,
    buf: &[u8],
    seg: usize,
    count: usize,
) -> io::Result<()> {
    if count > 1 && GSO_USABLE.load(Ordering::Relaxed) {
        match send_segmented(sock, peer, buf, seg) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tracing::trace!(%peer, count, "DTLS datagrams dropped: socket full");
                return Ok(());
            }
            Err(e) if gso_refused(&e) => {
                if e.raw_os_error() != Some(libc::EINVAL) {
                    GSO_USABLE.store(false, Ordering::Relaxed);
                    tracing::info!(error = %e,
                        "UDP segmentation offload refused by the kernel; sending DTLS datagrams one by one");
                }
            }
            Err(e) => return Err(e),
        }
    }
    send_each(sock, peer, buf, seg)
}

/// The datagrams of a train, one `sendto` each.
fn send_each(sock: &DatagramSocket, peer: SocketAddr, buf: &[u8], seg: usize) -> io::Result<()> {
    let mut first_error = None;
    for dgram in buf.chunks(seg.max(1)) {
        if let Err(e) = send_one(sock, peer, dgram) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Errors that mean "not with `UDP_SEGMENT`": EINVAL for this train only (e.g. a datagram
/// larger than the path MTU); EIO, ENOPROTOOPT and EOPNOTSUPP for good.
fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// Size of `cmsghdr` and of one control message carrying a `u16` (CMSG_SPACE(2)).
const CMSG_HDR: usize = std::mem::size_of::<libc::cmsghdr>();
const CMSG_U16_SPACE: usize = CMSG_HDR + std::mem::size_of::<usize>();
// The layout written by `send_segmented`: a size_t length, then two ints, nothing else.
const _: () =
    assert!(CMSG_HDR == std::mem::size_of::<usize>() + 2 * std::mem::size_of::<libc::c_int>());

/// One `sendmsg` with a `UDP_SEGMENT` control message: the kernel sends `buf` as datagrams of
/// `seg` bytes (the last may be shorter).
fn send_segmented(
    sock: &DatagramSocket,
    peer: SocketAddr,
    buf: &[u8],
    seg: usize,
) -> io::Result<()> {
    let seg = u16::try_from(seg).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } + the u16, padded.
    let mut control = [0u8; CMSG_U16_SPACE];
    let fields: [&[u8]; 4] = [
        &(CMSG_HDR + 2).to_ne_bytes(),
        &libc::SOL_UDP.to_ne_bytes(),
        &libc::UDP_SEGMENT.to_ne_bytes(),
        &seg.to_ne_bytes(),
    ];
    let mut at = 0;
    for f in fields {
        if let Some(dst) = control.get_mut(at..at + f.len()) {
            dst.copy_from_slice(f);
        }
        at += f.len();
    }
    let addr = socket2::SockAddr::from(peer);
    let iov = [io::IoSlice::new(buf)];
    let msg = socket2::MsgHdr::new()
        .with_addr(&addr)
        .with_buffers(&iov)
        .with_control(&control);
    let sent = sock.try_sendmsg(&msg)?;
    if sent == buf.len() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "short UDP send: {sent} of {} bytes",
            buf.len()
        )))
    }
}

#[cfg(test)]
mod tests;
