//! The device side of a tunnel, as the driver sees it: the client's own TUN device (the
//! default, as ocserv), or its port on the shared device (`shared-tun`, see
//! [`crate::shared_tun`]).

use std::io;

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

    /// Writes a packet from the client. On the shared device, a packet whose source is not the
    /// client's address is dropped (and counted) instead.
    pub async fn send(&self, pkt: &[u8]) -> io::Result<()> {
        match self {
            TunPort::Own { tun, .. } => tun.send(pkt).await.map(drop),
            TunPort::Shared(port) => port.send(pkt).await,
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
