//! The device side of a tunnel, as the driver sees it: the client's own TUN device (the
//! default, as ocserv), or its port on the shared device (`shared-tun`, see
//! [`crate::shared_tun`]).

use std::cell::RefCell;
use std::io;

use rocserv_proto::offload::{Coalescer, VNET_HDR_LEN};

use crate::shared_tun::SharedPort;
use crate::tun::{Netlink, Tun, TunError};

/// Where a tunnel's packets come from and go to.
#[derive(Debug)]
pub enum TunPort {
    /// The client's own device, and its current MTU.
    Own { tun: Tun, mtu: u16 },
    /// The client's entry on the shared device.
    Shared(SharedPort),
}

impl TunPort {
    /// Waits until [`TunPort::try_recv`] may find a frame (it can still say `WouldBlock`).
    pub async fn readable(&mut self) -> io::Result<()> {
        match self {
            TunPort::Own { tun, .. } => tun.readable().await,
            TunPort::Shared(port) => port.readable().await,
        }
    }

    /// Whether frames start with a virtio-net header and may be super-packets (read them with
    /// [`rocserv_proto::offload::Segments::with_vnet_hdr`], else with `Segments::plain`).
    pub fn has_vnet_hdr(&self) -> bool {
        match self {
            TunPort::Own { tun, .. } => tun.has_vnet_hdr(),
            TunPort::Shared(_) => false,
        }
    }

    /// Reads a frame that is already waiting, without waiting for one (`WouldBlock` when none
    /// is). Size `buf` for [`crate::tun::MAX_FRAME`].
    pub fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TunPort::Own { tun, .. } => tun.try_recv(buf),
            TunPort::Shared(port) => port.try_recv(buf),
        }
    }

    /// A frame already queued, even before the runtime has seen the device become readable
    /// (see [`crate::tun::Tun::read_now`]); `WouldBlock` when none is.
    pub fn try_recv_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TunPort::Own { tun, .. } => tun.read_now(buf),
            TunPort::Shared(port) => port.try_recv(buf),
        }
    }

    /// Writes one frame (see [`crate::tun::Tun::write`]); on the shared device, only plain
    /// packets whose source is the client's address (others are dropped and counted).
    fn write(&self, hdr: &[u8; VNET_HDR_LEN], pkt: &[u8]) -> io::Result<()> {
        match self {
            TunPort::Own { tun, .. } => tun.write(hdr, pkt).map(drop),
            TunPort::Shared(port) => port.send(pkt),
        }
    }

    /// The tunnel's current MTU.
    pub fn mtu(&self) -> u16 {
        match self {
            TunPort::Own { mtu, .. } => *mtu,
            TunPort::Shared(port) => port.mtu(),
        }
    }

    /// The largest packet a frame can carry once cut into packets: the own device's MTU at
    /// creation, or the shared device's MTU (which may exceed the session's).
    pub fn max_packet(&self) -> u16 {
        match self {
            TunPort::Own { mtu, .. } => *mtu,
            TunPort::Shared(port) => port.device_mtu(),
        }
    }

    /// Changes the tunnel MTU: the link MTU of an own device; only the record of it on the
    /// shared device (whose MTU serves every session).
    pub async fn set_mtu(&mut self, nl: &Netlink, new: u16) -> Result<(), TunError> {
        match self {
            TunPort::Own { tun, mtu } => {
                tun.set_mtu(nl, new).await?;
                *mtu = new;
            }
            TunPort::Shared(port) => port.set_mtu(new),
        }
        Ok(())
    }

    /// Ends the tunnel's use of the device: an own device is removed (awaited); a shared port
    /// leaves the dispatch table.
    pub async fn close(self) {
        match self {
            TunPort::Own { tun, .. } => tun.close().await,
            TunPort::Shared(port) => drop(port),
        }
    }

    /// The device name (the scripts' `DEVICE`).
    pub fn name(&self) -> &str {
        match self {
            TunPort::Own { tun, .. } => tun.name(),
            TunPort::Shared(port) => port.name(),
        }
    }
}

thread_local! {
    /// The coalescer of this thread's [`with_sink`] (one 64 KiB run buffer per worker thread,
    /// not per tunnel).
    static COALESCER: RefCell<Coalescer> = RefCell::new(Coalescer::new());
}

/// Where a tunnel writes its client's packets during one synchronous batch (see
/// [`with_sink`]).
pub struct TunSink<'a> {
    tun: &'a TunPort,
    /// Joins runs of TCP segments when the device takes super-packets.
    coalescer: Option<&'a mut Coalescer>,
}

impl TunSink<'_> {
    /// Writes (or holds, to join it with the next ones) one packet from the client. A failed
    /// write drops the packet, as a full queue would.
    pub fn push(&mut self, pkt: &[u8]) {
        let tun = self.tun;
        match self.coalescer.as_deref_mut() {
            Some(c) => c.push(pkt, &mut |hdr, p| write_or_drop(tun, hdr, p)),
            None => write_or_drop(tun, &rocserv_proto::offload::PLAIN, pkt),
        }
    }
}

/// Runs `f`, a synchronous batch of work that writes the client's packets to `tun` through the
/// [`TunSink`] it is given, and writes what is still held when it returns. Where the device
/// takes super-packets, consecutive TCP segments of one flow leave as one (see
/// [`Coalescer`]): one trip through the host's forwarding and the receiver's TCP stack instead
/// of one per segment. The batch is synchronous so that nothing held can outlive it, move to
/// another thread or mix with another tunnel's packets.
pub fn with_sink<R>(tun: &TunPort, f: impl FnOnce(&mut TunSink<'_>) -> R) -> R {
    if !tun.has_vnet_hdr() {
        return f(&mut TunSink {
            tun,
            coalescer: None,
        });
    }
    COALESCER.with(|cell| {
        // A nested batch (never done today) writes its packets as they come.
        let mut guard = cell.try_borrow_mut().ok();
        let mut sink = TunSink {
            tun,
            coalescer: guard.as_deref_mut(),
        };
        let r = f(&mut sink);
        if let Some(c) = sink.coalescer {
            c.flush(&mut |hdr, p| write_or_drop(tun, hdr, p));
        }
        r
    })
}

/// Writes one frame; a failed write drops it (debug log), as a full queue would.
fn write_or_drop(tun: &TunPort, hdr: &[u8; VNET_HDR_LEN], pkt: &[u8]) {
    if let Err(e) = tun.write(hdr, pkt) {
        tracing::debug!(error = %e, "TUN write failed; packet dropped");
    }
}
