//! Per-client TUN devices, configured through rtnetlink (no fork of `ip`).
//!
//! As ocserv, every client gets its own layer-3 device named from the `device` option: the
//! kernel picks the first free index for the pattern `<device>%d` (vpns0, vpns1, ...). The device
//! is point-to-point: `local peer <client>/32`, where `local` is the pool's server-side address
//! shared by all devices (see [`crate::pool`]). The device exists as long as its [`Tun`] (it is
//! not persistent): dropping the `Tun` closes the fd and the kernel removes the interface with
//! its address and route.
//!
//! The device fd comes from tun-rs (`IFF_TUN | IFF_NO_PI`, non-blocking, driven by tokio);
//! MTU, address and link state go through one shared rtnetlink connection ([`Netlink`]).
//!
//! Creating and removing a network device takes the kernel's RTNL lock, and removing one waits
//! for an RCU grace period (about 16 ms here, per device): the `close()` of a TUN fd is a
//! blocking system call. None of that runs on the runtime's worker threads, or one tunnel's
//! teardown would stall every other tunnel's packets (measured: with 1,000 tunnels ending, the
//! others answered DPD seconds late). The `TUNSETIFF` ioctl and the close run on the blocking
//! pool (closes in parallel, so the kernel batches their grace periods), and the rtnetlink
//! connection has its own thread, whose `sendmsg` may wait on the RTNL lock.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use rocserv_proto::offload::VNET_HDR_LEN;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::LinkUnspec;

/// Longest accepted `device` base name: IFNAMSIZ (16) minus the NUL, minus room for two digits.
pub const MAX_BASE_NAME_LEN: usize = 13;

/// What went wrong, naming the device (or the name pattern) and the operation.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// The configured `device` base name cannot be used as an interface name prefix.
    #[error("invalid tun device name {name:?}: {why}")]
    InvalidName {
        /// The configured base name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Opening `/dev/net/tun` or creating the interface failed (missing CAP_NET_ADMIN, no tun
    /// module, name pattern exhausted, ...).
    #[error("cannot create tun device {pattern}: {source}")]
    Create {
        /// The name pattern asked of the kernel, e.g. `vpns%d`.
        pattern: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An operation on an existing device failed.
    #[error("tun device {device}: cannot {op}: {source}")]
    Device {
        /// The interface name.
        device: String,
        /// What was being done.
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A netlink request about a device failed (the kernel's error is in `source`).
    #[error("tun device {device}: cannot {op}: {source}")]
    Netlink {
        /// The interface name.
        device: String,
        /// What was being done, e.g. `set MTU 1400`.
        op: String,
        /// The netlink error.
        #[source]
        source: rtnetlink::Error,
    },
    /// The rtnetlink socket could not be opened.
    #[error("cannot open the rtnetlink socket: {0}")]
    NetlinkSocket(#[source] io::Error),
    /// The blocking task that creates the device did not complete (runtime shutting down).
    #[error("cannot create tun device {pattern}: the creating task was cancelled")]
    Cancelled {
        /// The name pattern asked of the kernel.
        pattern: String,
    },
}

/// The process's shared rtnetlink handle. Cheap to clone; the connection runs on its own thread
/// (in the network namespace of the thread that called [`Netlink::new`]) as long as a clone
/// lives.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl fmt::Debug for Netlink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netlink").finish_non_exhaustive()
    }
}

impl Netlink {
    /// Opens the rtnetlink socket on a dedicated thread `rocserv-netlink`, which runs the
    /// connection until every handle is dropped. Works inside or outside a tokio runtime.
    pub fn new() -> Result<Netlink, TunError> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("rocserv-netlink".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                // The socket registers with this thread's reactor, so it is made here.
                let made = rt.block_on(async { rtnetlink::new_connection() });
                match made {
                    Ok((conn, handle, _unsolicited)) => {
                        let _ = tx.send(Ok(handle));
                        rt.block_on(conn);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
            .map_err(TunError::NetlinkSocket)?;
        let handle = rx
            .recv()
            .map_err(|_| TunError::NetlinkSocket(io::Error::other("netlink thread ended")))?
            .map_err(TunError::NetlinkSocket)?;
        Ok(Netlink { handle })
    }

    /// Sets the MTU of interface `index` (`device` names it in the error).
    pub async fn set_link_mtu(&self, index: u32, device: &str, mtu: u16) -> Result<(), TunError> {
        let msg = LinkUnspec::new_with_index(index)
            .mtu(u32::from(mtu))
            .build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|source| nl_error(device, format!("set MTU {mtu}"), source))
    }

    /// Sets the MTU of interface `index` and brings it up, in one message (`device` names it
    /// in the error).
    pub async fn set_link_mtu_up(
        &self,
        index: u32,
        device: &str,
        mtu: u16,
    ) -> Result<(), TunError> {
        let msg = LinkUnspec::new_with_index(index)
            .mtu(u32::from(mtu))
            .up()
            .build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|source| nl_error(device, format!("set MTU {mtu} and link up"), source))
    }

    /// The underlying rtnetlink handle (the shared device's address, queries in tests).
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }
}

/// What a client's device looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunConfig<'a> {
    /// The `device` option, e.g. `vpns`; the kernel appends the first free index.
    pub base_name: &'a str,
    /// Server-side ("local image") address, shared by all devices of a pool.
    pub local: Ipv4Addr,
    /// The client's VPN address.
    pub peer: Ipv4Addr,
    /// Link MTU.
    pub mtu: u16,
}

/// One client's TUN device. Owns the fd; the interface disappears with it: awaited with
/// [`Tun::close`], or in the background when dropped.
pub struct Tun {
    /// Always `Some` until [`Tun::close`] or drop takes it.
    dev: Option<tun_rs::AsyncDevice>,
    name: String,
    index: u32,
    /// Opened with `IFF_VNET_HDR` and TCP (and, where the kernel has it, UDP) segmentation
    /// offload: reads carry a virtio-net header and may be super-packets, writes need a header.
    vnet_hdr: bool,
}

impl fmt::Debug for Tun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Tun {
    /// Creates `<base_name>%d` with `IFF_TUN | IFF_NO_PI` (and offloads, see [`build_device`]),
    /// adds the point-to-point address `local peer peer/32`, sets its MTU and brings it up. On any error the device is
    /// removed again.
    pub async fn create(cfg: &TunConfig<'_>, nl: &Netlink) -> Result<Tun, TunError> {
        check_base_name(cfg.base_name)?;
        let pattern = format!("{}%d", cfg.base_name);
        let p = pattern.clone();
        // TUNSETIFF registers a network device under the RTNL lock: off the workers.
        let (dev, name, index) = tokio::task::spawn_blocking(move || {
            let dev = build_device(&p)?;
            let name = dev.name().map_err(|source| TunError::Create {
                pattern: p.clone(),
                source,
            })?;
            match dev.if_index() {
                Ok(index) => Ok((dev, name, index)),
                Err(source) => Err(TunError::Device {
                    device: name,
                    op: "get interface index".into(),
                    source,
                }),
            }
        })
        .await
        .map_err(|_| TunError::Cancelled { pattern })??;
        let vnet_hdr = dev.tcp_gso();
        let tun = Tun {
            dev: Some(dev),
            name,
            index,
            vnet_hdr,
        };
        // Both requests go to the netlink thread at once (one wake-up of it, one round trip
        // instead of three); the kernel handles them in this order.
        let configured = tokio::try_join!(
            tun.add_p2p_address(nl, cfg.local, cfg.peer),
            nl.set_link_mtu_up(tun.index, &tun.name, cfg.mtu),
        );
        if let Err(e) = configured.map(drop) {
            // Gone before the caller can retry with the same name.
            tun.close().await;
            return Err(e);
        }
        tracing::debug!(device = %tun.name, local = %cfg.local, peer = %cfg.peer, mtu = cfg.mtu,
            "tun device up");
        Ok(tun)
    }

    /// Removes the device and waits until the kernel has done so (the close runs on the
    /// blocking pool).
    pub async fn close(mut self) {
        if let Some(dev) = self.dev.take() {
            tracing::debug!(device = %self.name, "closing tun device");
            let _ = tokio::task::spawn_blocking(move || drop(dev)).await;
        }
    }

    fn dev(&self) -> io::Result<&tun_rs::AsyncDevice> {
        self.dev
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// The interface name the kernel chose, e.g. `vpns0` (the scripts' `DEVICE`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index.
    #[cfg(test)]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether reads start with a virtio-net header (see [`rocserv_proto::offload`]).
    pub fn has_vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Waits until a read may find a frame (it can still say `WouldBlock`).
    pub async fn readable(&self) -> io::Result<()> {
        self.dev()?.readable().await
    }

    /// Reads one frame that is already waiting (`WouldBlock` when none is): the virtio-net
    /// header and a packet or super-packet when [`Tun::has_vnet_hdr`], else one IP packet. A
    /// frame longer than `buf` is truncated by the kernel: size `buf` for [`MAX_FRAME`].
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev()?.try_recv(buf)
    }

    /// Like [`Tun::try_recv`], but reads even when the runtime has not yet seen the device
    /// become readable: for a frame the kernel queued during one of this tunnel's own writes
    /// (a reply made while the write was being handled), which the reactor learns of only at
    /// its next poll. Does not touch the runtime's readiness state.
    pub fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let dev = self.dev()?;
        // SAFETY: the descriptor is owned by `dev`, alive for the call; `buf` is writable for
        // its length. The descriptor is non-blocking.
        let n = unsafe { libc::read(dev.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Writes one frame: `pkt` behind the virtio-net header `hdr` when the device has one
    /// (all zero: one packet as it is; or a super-packet for the kernel to cut), else `pkt`
    /// alone (then `hdr` must ask for nothing). A TUN write does not wait for room, so this
    /// is a plain non-blocking system call; returns the packet bytes written.
    pub fn write(&self, hdr: &[u8; VNET_HDR_LEN], pkt: &[u8]) -> io::Result<usize> {
        let dev = self.dev()?;
        if self.vnet_hdr {
            let n = write_parts(dev, &[io::IoSlice::new(hdr), io::IoSlice::new(pkt)])?;
            Ok(n.saturating_sub(VNET_HDR_LEN))
        } else if hdr == &NO_OFFLOAD {
            write_parts(dev, &[io::IoSlice::new(pkt)])
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "offload requested from a device without a virtio-net header",
            ))
        }
    }

    /// Changes the link MTU (after MTU negotiation with the client).
    pub async fn set_mtu(&self, nl: &Netlink, mtu: u16) -> Result<(), TunError> {
        nl.set_link_mtu(self.index, &self.name, mtu).await
    }

    async fn add_p2p_address(
        &self,
        nl: &Netlink,
        local: Ipv4Addr,
        peer: Ipv4Addr,
    ) -> Result<(), TunError> {
        // `ip addr add <local> peer <peer>/32`: IFA_LOCAL is our side, IFA_ADDRESS the peer.
        let mut req = nl.handle.address().add(self.index, IpAddr::V4(local), 32);
        for attr in &mut req.message_mut().attributes {
            if let AddressAttribute::Address(a) = attr {
                *a = IpAddr::V4(peer);
            }
        }
        req.execute()
            .await
            .map_err(|source| self.nl_error(format!("add address {local} peer {peer}/32"), source))
    }

    fn nl_error(&self, op: String, source: rtnetlink::Error) -> TunError {
        nl_error(&self.name, op, source)
    }
}

/// The largest frame a read can return: a 64 KiB super-packet behind its virtio-net header.
pub const MAX_FRAME: usize = VNET_HDR_LEN + 65_536;

/// The virtio-net header of a packet written as it is: no segmentation, checksum complete.
pub const NO_OFFLOAD: [u8; VNET_HDR_LEN] = rocserv_proto::offload::PLAIN;

/// One `writev` of `parts` to the (non-blocking) device: one packet.
pub(crate) fn write_parts(
    dev: &tun_rs::AsyncDevice,
    parts: &[io::IoSlice<'_>],
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let count = libc::c_int::try_from(parts.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is owned by `dev`, alive for the call; `IoSlice` is ABI-compatible
    // with `struct iovec` and `parts` outlives the call.
    let n = unsafe { libc::writev(dev.as_raw_fd(), parts.as_ptr().cast(), count) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Opens the device (`IFF_TUN | IFF_NO_PI`) with `IFF_VNET_HDR` and segmentation offloads, so
/// that a TCP sender's large writes reach the server as one super-packet each; without them if
/// the kernel refuses (the device then reads one packet per call, as before).
fn build_device(pattern: &str) -> Result<tun_rs::AsyncDevice, TunError> {
    let build = |offload: bool| {
        tun_rs::DeviceBuilder::new()
            .name(pattern.to_owned())
            .packet_information(false)
            .offload(offload)
            .build_async()
    };
    build(true)
        .or_else(|e| {
            tracing::debug!(pattern, error = %e, "TUN offloads unavailable; one packet per read");
            build(false)
        })
        .map_err(|source| TunError::Create {
            pattern: pattern.to_owned(),
            source,
        })
}

impl Drop for Tun {
    /// Not closed with [`Tun::close`] (an early return): close in the background, never on a
    /// worker thread; inline only outside a runtime.
    fn drop(&mut self) {
        if let Some(dev) = self.dev.take() {
            tracing::debug!(device = %self.name, "closing tun device");
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || drop(dev))),
                Err(_) => drop(dev),
            }
        }
    }
}

/// A failed netlink request about `device`.
pub(crate) fn nl_error(device: &str, op: String, source: rtnetlink::Error) -> TunError {
    TunError::Netlink {
        device: device.to_owned(),
        op,
        source,
    }
}

/// The base name must leave room for the index and be a plain interface name.
pub(crate) fn check_base_name(name: &str) -> Result<(), TunError> {
    let why = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_BASE_NAME_LEN {
        Some("longer than 13 bytes (the kernel limit is 15 with the index)")
    } else if name
        .bytes()
        .any(|b| b == b'%' || b == b'/' || b == b':' || !b.is_ascii_graphic())
    {
        Some("only printable ASCII without '%', '/', ':' or spaces is allowed")
    } else if name == "." || name == ".." {
        Some("not a valid interface name")
    } else {
        None
    };
    match why {
        Some(why) => Err(TunError::InvalidName {
            name: name.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "tun_offload_tests.rs"]
mod offload_tests;

#[cfg(test)]
pub(crate) mod tests {
    use super::offload_tests::{assert_udp_checksum, udp_packets_to};
    use super::*;
    use futures::TryStreamExt;
    use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags};
    use rtnetlink::packet_route::AddressFamily;
    use std::time::Duration;

    #[test]
    fn base_name_checks() {
        assert!(check_base_name("vpns").is_ok());
        assert!(check_base_name("a-b_c.1").is_ok());
        assert!(check_base_name("abcdefghijklm").is_ok());
        for bad in [
            "",
            "abcdefghijklmn",
            "vp%ns",
            "a/b",
            "a b",
            "a:b",
            "..",
            "vpné",
        ] {
            let e = check_base_name(bad).unwrap_err();
            assert!(matches!(e, TunError::InvalidName { .. }), "{bad:?}");
            assert!(e.to_string().contains("invalid tun device name"), "{e}");
        }
    }

    #[test]
    fn netlink_needs_no_runtime_of_the_caller() {
        let nl = Netlink::new().unwrap();
        drop(nl);
    }

    #[tokio::test]
    async fn invalid_name_fails_before_touching_the_system() {
        let nl = Netlink::new().unwrap();
        let cfg = TunConfig {
            base_name: "bad name",
            local: Ipv4Addr::new(10, 0, 0, 1),
            peer: Ipv4Addr::new(10, 0, 0, 2),
            mtu: 1400,
        };
        assert!(matches!(
            Tun::create(&cfg, &nl).await,
            Err(TunError::InvalidName { .. })
        ));
    }

    /// Runs `f` on a fresh thread that has its own, empty network namespace, with a
    /// current-thread runtime (so every socket and device it creates lives in that namespace).
    /// Returns None (and says why) when not root.
    pub(crate) fn in_fresh_netns<F, Fut>(f: F) -> Option<()>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: creating tun devices in a network namespace needs root");
            return None;
        }
        let joined = std::thread::spawn(move || {
            // SAFETY: unshare affects only this thread's namespaces; nothing else is borrowed.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "unshare(CLONE_NEWNET): {}",
                io::Error::last_os_error()
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f());
        })
        .join();
        if let Err(panic) = joined {
            std::panic::resume_unwind(panic);
        }
        Some(())
    }

    pub(crate) async fn link_state(nl: &Netlink, index: u32) -> Option<(String, bool, u32)> {
        let msgs: Vec<_> = nl
            .handle()
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_collect()
            .await
            .ok()?;
        let m = msgs.into_iter().next()?;
        let up = m.header.flags.contains(LinkFlags::Up);
        let mut name = String::new();
        let mut mtu = 0;
        for a in m.attributes {
            match a {
                LinkAttribute::IfName(n) => name = n,
                LinkAttribute::Mtu(m) => mtu = m,
                _ => {}
            }
        }
        Some((name, up, mtu))
    }

    /// (prefix_len, local, address) of every IPv4 address on `index`.
    pub(crate) async fn addresses(
        nl: &Netlink,
        index: u32,
    ) -> Vec<(u8, Option<IpAddr>, Option<IpAddr>)> {
        let msgs: Vec<_> = nl
            .handle()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .unwrap();
        msgs.into_iter()
            .filter(|m| m.header.index == index && m.header.family == AddressFamily::Inet)
            .map(|m| {
                let mut local = None;
                let mut addr = None;
                for a in m.attributes {
                    match a {
                        AddressAttribute::Local(l) => local = Some(l),
                        AddressAttribute::Address(x) => addr = Some(x),
                        _ => {}
                    }
                }
                (m.header.prefix_len, local, addr)
            })
            .collect()
    }

    /// A minimal IPv4/UDP packet (UDP checksum 0 = none).
    pub(crate) fn udp_packet(
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = Vec::with_capacity(total);
        p.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        let sum: u32 = p
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn tun_in_fresh_netns() {
        in_fresh_netns(|| async {
            let nl = Netlink::new().unwrap();
            let local = Ipv4Addr::new(10, 99, 0, 1);
            let peer = Ipv4Addr::new(10, 99, 0, 2);
            let cfg = TunConfig {
                base_name: "rtst",
                local,
                peer,
                mtu: 1400,
            };
            let tun = Tun::create(&cfg, &nl).await.unwrap();
            assert_eq!(tun.name(), "rtst0");
            assert_eq!(
                link_state(&nl, tun.index()).await,
                Some(("rtst0".to_owned(), true, 1400))
            );
            assert_eq!(
                addresses(&nl, tun.index()).await,
                vec![(32, Some(IpAddr::V4(local)), Some(IpAddr::V4(peer)))]
            );

            // A second client: next index, same local address (shared, as ocserv).
            let peer2 = Ipv4Addr::new(10, 99, 0, 3);
            let tun2 = Tun::create(&TunConfig { peer: peer2, ..cfg }, &nl)
                .await
                .unwrap();
            assert_eq!(tun2.name(), "rtst1");
            assert_eq!(
                addresses(&nl, tun2.index()).await,
                vec![(32, Some(IpAddr::V4(local)), Some(IpAddr::V4(peer2)))]
            );

            // Host -> client: a datagram to the peer is routed into the tun and read back.
            let sock = tokio::net::UdpSocket::bind((local, 0)).await.unwrap();
            let port = sock.local_addr().unwrap().port();
            sock.send_to(b"to-client", (peer, 9)).await.unwrap();
            let pkt = udp_packets_to(&tun, peer, 1).await.0.remove(0);
            assert_udp_checksum(&pkt);
            assert_eq!(&pkt[12..16], &local.octets());
            assert_eq!(&pkt[22..24], &9u16.to_be_bytes());
            assert_eq!(&pkt[28..], b"to-client");

            // Client -> host: a packet written to the tun reaches the socket.
            let pkt = udp_packet(peer, 4000, local, port, b"from-client");
            assert_eq!(tun.write(&NO_OFFLOAD, &pkt).unwrap(), pkt.len());
            let mut buf = vec![0u8; 2048];
            let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
                .await
                .expect("the packet written to the tun was not delivered")
                .unwrap();
            assert_eq!(&buf[..n], b"from-client");
            assert_eq!(from, (peer, 4000).into());

            // MTU change.
            tun.set_mtu(&nl, 1300).await.unwrap();
            assert_eq!(link_state(&nl, tun.index()).await.map(|s| s.2), Some(1300));
            let e = tun.set_mtu(&nl, 10).await.unwrap_err();
            assert!(
                e.to_string().contains("rtst0") && e.to_string().contains("MTU 10"),
                "{e}"
            );

            // Dropping removes the interface; its index is then free for the next one.
            let (i1, i2) = (tun.index(), tun2.index());
            tun.close().await;
            drop(tun2); // in the background
            let t0 = std::time::Instant::now();
            while (link_state(&nl, i1).await.is_some() || link_state(&nl, i2).await.is_some())
                && t0.elapsed() < Duration::from_secs(5)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(link_state(&nl, i1).await, None);
            assert_eq!(link_state(&nl, i2).await, None);
            let tun3 = Tun::create(&cfg, &nl).await.unwrap();
            assert_eq!(tun3.name(), "rtst0");
        });
    }

    /// A failing configuration step removes the half-made device.
    #[test]
    fn failed_setup_removes_device() {
        in_fresh_netns(|| async {
            let nl = Netlink::new().unwrap();
            let cfg = TunConfig {
                base_name: "rfail",
                local: Ipv4Addr::new(10, 98, 0, 1),
                peer: Ipv4Addr::new(10, 98, 0, 2),
                mtu: 10, // below the IPv4 minimum: the kernel refuses it
            };
            let e = Tun::create(&cfg, &nl).await.unwrap_err();
            assert!(
                matches!(e, TunError::Netlink { ref device, .. } if device == "rfail0"),
                "{e}"
            );
            // the name is free again
            let tun = Tun::create(&TunConfig { mtu: 1400, ..cfg }, &nl)
                .await
                .unwrap();
            assert_eq!(tun.name(), "rfail0");
        });
    }
}
