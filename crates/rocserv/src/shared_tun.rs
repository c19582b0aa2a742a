//! The opt-in shared TUN device (`shared-tun = true`, a rocserv extension).
//!
//! By default every client gets its own device (see [`crate::tun`]), as ocserv does. That costs
//! a second file descriptor per session, which caps a server at about half its open-file limit
//! in sessions. In shared mode there is ONE device, named exactly the `device` option (e.g.
//! `vpns`), with the pool's server-side address and the pool's prefix (`ip addr add
//! <local>/<prefix> dev vpns`), so the kernel routes the whole pool to it. It is multi-queue,
//! one queue per runtime worker, and one reader task per queue hands each packet to the session
//! that holds its IPv4 destination address ([`Dispatch`]). A session writes its client's packets
//! to the device only when their source address is the client's own: with one device the kernel
//! can no longer tell clients apart, so a client could otherwise send as another.
//!
//! Creating the device and attaching queues (`TUNSETIFF`) and closing it run on the blocking
//! pool, and netlink on its own thread, as for per-client devices (see [`crate::tun`]).
//!
//! What the shared device does not do: it enforces only its own MTU (the largest a session can
//! get with the global `mtu`); a session's lower MTU (client `Base-MTU`, DTLS probing) is kept in
//! its port for the driver but not applied by the kernel, and a per-user `mtu` above the global
//! one does not raise the device's. IPv6 packets are dropped (IPv6 pools are not implemented).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::tun::{Netlink, TunError};

/// Packets queued per session towards its driver; beyond it they are dropped (as a full device
/// queue would).
const SESSION_QUEUE: usize = 128;
/// Free packet buffers kept for reuse; more are freed.
const MAX_FREE_BUFFERS: usize = 4096;
/// Largest packet a queue read can return (an IPv4 total length is 16 bits).
const MAX_PACKET: usize = 65535;

/// Where a shared-device packet goes: the destination address decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an IPv4 packet (or shorter than an IPv4 header).
    NotIpv4,
    /// No session holds the destination address.
    Unknown,
    /// The session's queue is full (its client is slower than the traffic to it).
    QueueFull,
}

/// Why a client's packet was not written to the shared device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoofed {
    /// Not an IPv4 packet (IPv6 pools are not implemented).
    NotIpv4,
    /// The source address is not the session's VPN address.
    WrongSource(Ipv4Addr),
}

/// The destination of an IPv4 packet.
pub fn ipv4_destination(pkt: &[u8]) -> Option<Ipv4Addr> {
    ipv4_field(pkt, 16)
}

/// The source of an IPv4 packet.
pub fn ipv4_source(pkt: &[u8]) -> Option<Ipv4Addr> {
    ipv4_field(pkt, 12)
}

fn ipv4_field(pkt: &[u8], at: usize) -> Option<Ipv4Addr> {
    if pkt.len() < 20 || pkt.first()? >> 4 != 4 {
        return None;
    }
    let b: [u8; 4] = pkt.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Anti-spoofing: a client may only send IPv4 packets from its own VPN address.
pub fn check_source(pkt: &[u8], own: Ipv4Addr) -> Result<(), Spoofed> {
    match ipv4_source(pkt) {
        None => Err(Spoofed::NotIpv4),
        Some(src) if src == own => Ok(()),
        Some(src) => Err(Spoofed::WrongSource(src)),
    }
}

/// Packet buffers handed from the readers to the sessions and back, so that the data path does
/// not allocate per packet once warm.
#[derive(Debug)]
pub struct BufPool {
    free: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
}

impl BufPool {
    /// A pool of buffers of `capacity` bytes (they grow if a packet is larger).
    pub fn new(capacity: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty buffer.
    pub fn get(&self) -> Vec<u8> {
        self.lock()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    /// Gives a buffer back.
    pub fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut free = self.lock();
        if free.len() < MAX_FREE_BUFFERS {
            free.push(buf);
        }
    }
}

struct Route {
    /// Which registration made this entry (a newer one for the same address replaces it).
    id: u64,
    tx: mpsc::Sender<Vec<u8>>,
}

/// Counters of packets dropped, for logs.
#[derive(Debug, Default)]
struct Drops {
    not_ipv4: AtomicU64,
    unknown: AtomicU64,
    queue_full: AtomicU64,
    spoofed: AtomicU64,
}

/// Adds one to `counter`; true when the new total is a power of two (time to log it).
fn count(counter: &AtomicU64) -> (u64, bool) {
    let n = counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    (n, n.is_power_of_two())
}

/// The table address -> session queue that the readers dispatch by.
#[derive(Default)]
pub struct Dispatch {
    routes: RwLock<HashMap<Ipv4Addr, Route>>,
    next_id: AtomicU64,
    drops: Drops,
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatch")
            .field("sessions", &self.read().len())
            .finish_non_exhaustive()
    }
}

/// A session's entry in the [`Dispatch`] table; removed on drop unless a newer registration for
/// the same address has replaced it.
pub struct Registration {
    table: Arc<Dispatch>,
    addr: Ipv4Addr,
    id: u64,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("addr", &self.addr)
            .field("id", &self.id)
            .finish()
    }
}

impl Registration {
    /// The registration's number (distinct for every registration of a table).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut routes = self.table.write();
        if routes.get(&self.addr).is_some_and(|r| r.id == self.id) {
            routes.remove(&self.addr);
        }
    }
}

impl Dispatch {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Ipv4Addr, Route>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Ipv4Addr, Route>> {
        self.routes.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes packets for `addr` to the returned receiver (at most `depth` queued), replacing
    /// any earlier registration of the address (a reconnect or takeover of the session).
    pub fn register(
        self: &Arc<Self>,
        addr: Ipv4Addr,
        depth: usize,
    ) -> (Registration, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(depth.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.write().insert(addr, Route { id, tx });
        let reg = Registration {
            table: self.clone(),
            addr,
            id,
        };
        (reg, rx)
    }

    /// Queues a copy of `pkt` (in a buffer from `pool`) for the session that holds its
    /// destination address. Refused packets are counted (and logged at powers of two).
    pub fn dispatch(&self, pkt: &[u8], pool: &BufPool) -> Result<(), Refused> {
        let refused = match ipv4_destination(pkt) {
            None => Refused::NotIpv4,
            Some(dst) => {
                let routes = self.read();
                let reserved = routes.get(&dst).map(|r| r.tx.try_reserve());
                match reserved {
                    Some(Ok(permit)) => {
                        let mut buf = pool.get();
                        buf.extend_from_slice(pkt);
                        permit.send(buf);
                        return Ok(());
                    }
                    Some(Err(TrySendError::Full(()))) => Refused::QueueFull,
                    // The session ended and its entry is about to go.
                    Some(Err(TrySendError::Closed(()))) | None => Refused::Unknown,
                }
            }
        };
        let (counter, what) = match refused {
            Refused::NotIpv4 => (&self.drops.not_ipv4, "non-IPv4 packet"),
            Refused::Unknown => (&self.drops.unknown, "packet for an address of no session"),
            Refused::QueueFull => (&self.drops.queue_full, "packet for a full session queue"),
        };
        let (total, log) = count(counter);
        if log {
            tracing::debug!(total, "shared tun: {what} dropped");
        }
        Err(refused)
    }

    /// Counts a client packet refused by [`check_source`].
    fn spoofed(&self, why: Spoofed) {
        let (total, log) = count(&self.drops.spoofed);
        if log {
            tracing::debug!(
                total,
                ?why,
                "shared tun: client packet with a foreign source dropped"
            );
        }
    }

    /// Sessions in the table.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().len()
    }
}

/// The shared device: its queues, its dispatch table and its packet buffers.
pub struct SharedTun {
    /// One fd per queue; always non-empty until drop takes them.
    queues: Vec<tun_rs::AsyncDevice>,
    name: String,
    index: u32,
    mtu: u16,
    table: Arc<Dispatch>,
    pool: BufPool,
}

impl fmt::Debug for SharedTun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTun")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("queues", &self.queues.len())
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

/// What the shared device looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedTunConfig<'a> {
    /// The interface name, exactly (the `device` option).
    pub name: &'a str,
    /// The pool's server-side address.
    pub local: Ipv4Addr,
    /// The pool's prefix length: the kernel routes the whole pool to the device.
    pub prefix_len: u8,
    /// Link MTU: the largest tunnel MTU a session can get.
    pub mtu: u16,
    /// Queues wanted (one per runtime worker); fewer if the kernel refuses more.
    pub queues: usize,
}

impl SharedTun {
    /// Creates the device with `queues` queues (`IFF_MULTI_QUEUE` when more than one), sets its
    /// MTU, adds `local/prefix_len` and brings it up. On any error the device is removed again.
    pub async fn create(cfg: &SharedTunConfig<'_>, nl: &Netlink) -> Result<SharedTun, TunError> {
        crate::tun::check_base_name(cfg.name)?;
        let name = cfg.name.to_owned();
        let wanted = cfg.queues.max(1);
        let n = name.clone();
        // TUNSETIFF (device creation and every queue attach) takes the RTNL lock: off the workers.
        let (queues, index) = tokio::task::spawn_blocking(move || {
            let first = tun_rs::DeviceBuilder::new()
                .name(n.clone())
                .packet_information(false)
                .multi_queue(wanted > 1)
                .build_async()
                .map_err(|source| TunError::Create {
                    pattern: n.clone(),
                    source,
                })?;
            let index = first.if_index().map_err(|source| TunError::Device {
                device: n.clone(),
                op: "get interface index".into(),
                source,
            })?;
            let mut queues = Vec::with_capacity(wanted);
            for _ in 1..wanted {
                match first.try_clone() {
                    Ok(q) => queues.push(q),
                    Err(e) => {
                        tracing::warn!(device = %n, error = %e, queues = queues.len() + 1,
                            "cannot attach another queue to the shared tun device; using fewer");
                        break;
                    }
                }
            }
            queues.insert(0, first);
            Ok((queues, index))
        })
        .await
        .map_err(|_| TunError::Cancelled {
            pattern: name.clone(),
        })??;
        let tun = SharedTun {
            queues,
            name,
            index,
            mtu: cfg.mtu,
            table: Arc::new(Dispatch::default()),
            pool: BufPool::new(usize::from(cfg.mtu)),
        };
        let configured = async {
            nl.handle()
                .address()
                .add(index, IpAddr::V4(cfg.local), cfg.prefix_len)
                .execute()
                .await
                .map_err(|source| {
                    crate::tun::nl_error(
                        &tun.name,
                        format!("add address {}/{}", cfg.local, cfg.prefix_len),
                        source,
                    )
                })?;
            nl.set_link_mtu_up(index, &tun.name, cfg.mtu).await
        }
        .await;
        if let Err(e) = configured {
            tun.close().await;
            return Err(e);
        }
        tracing::info!(device = %tun.name, local = %cfg.local, prefix = cfg.prefix_len,
            mtu = cfg.mtu, queues = tun.queues.len(), "shared tun device up");
        Ok(tun)
    }

    /// Removes the device and waits until the kernel has done so.
    pub async fn close(mut self) {
        let queues = std::mem::take(&mut self.queues);
        tracing::debug!(device = %self.name, "closing the shared tun device");
        let _ = tokio::task::spawn_blocking(move || drop(queues)).await;
    }

    /// The interface name (the scripts' `DEVICE`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index.
    #[cfg(test)]
    fn index(&self) -> u32 {
        self.index
    }

    /// Number of queues (and reader tasks).
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Reads queue `queue` and dispatches its packets until the queue fails (the device was
    /// removed). Run one per queue.
    pub async fn run_reader(self: Arc<Self>, queue: usize) {
        let Some(dev) = self.queues.get(queue) else {
            return;
        };
        let mut buf = vec![0u8; MAX_PACKET];
        loop {
            match dev.recv(&mut buf).await {
                Ok(n) => {
                    let _ = self
                        .table
                        .dispatch(buf.get(..n).unwrap_or_default(), &self.pool);
                }
                Err(e) => {
                    tracing::error!(device = %self.name, queue, error = %e,
                        "shared tun device read failed; its packets no longer reach the clients");
                    return;
                }
            }
        }
    }

    /// Registers a session's VPN address; its packets arrive on the returned port.
    pub fn port(self: &Arc<Self>, addr: Ipv4Addr, mtu: u16) -> SharedPort {
        let (reg, rx) = self.table.register(addr, SESSION_QUEUE);
        let queue = usize::try_from(reg.id()).unwrap_or(0) % self.queues.len().max(1);
        SharedPort {
            tun: self.clone(),
            addr,
            rx,
            _reg: reg,
            queue,
            mtu,
            held: None,
        }
    }
}

impl Drop for SharedTun {
    /// Closes the queues in the background (never on a worker thread); inline outside a runtime.
    fn drop(&mut self) {
        let queues = std::mem::take(&mut self.queues);
        if queues.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || drop(queues))),
            Err(_) => drop(queues),
        }
    }
}

fn device_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the shared tun device is gone")
}

/// One session's view of the shared device.
pub struct SharedPort {
    tun: Arc<SharedTun>,
    addr: Ipv4Addr,
    rx: mpsc::Receiver<Vec<u8>>,
    /// Keeps the session's entry in the table; removed when the port goes.
    _reg: Registration,
    /// The queue fd this session writes to (spreads sessions over the queues).
    queue: usize,
    mtu: u16,
    /// A packet taken from `rx` by [`SharedPort::readable`], not yet read.
    held: Option<Vec<u8>>,
}

impl fmt::Debug for SharedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPort")
            .field("device", &self.tun.name)
            .field("addr", &self.addr)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

impl SharedPort {
    /// Waits for the next packet for this session and holds it for [`SharedPort::try_recv`]
    /// (cancel-safe: a packet taken from the queue is kept, not lost).
    pub async fn readable(&mut self) -> io::Result<()> {
        if self.held.is_none() {
            self.held = Some(self.rx.recv().await.ok_or_else(device_gone)?);
        }
        Ok(())
    }

    /// The held packet, or one that is already queued for this session (`WouldBlock` when
    /// none is), copied into `buf` (truncated to it, as a device read would be).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(pkt) = self.held.take() {
            return Ok(self.deliver(pkt, buf));
        }
        match self.rx.try_recv() {
            Ok(pkt) => Ok(self.deliver(pkt, buf)),
            Err(mpsc::error::TryRecvError::Empty) => Err(io::ErrorKind::WouldBlock.into()),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(device_gone()),
        }
    }

    /// Copies a dispatched packet into `buf` and returns its buffer to the pool.
    fn deliver(&self, pkt: Vec<u8>, buf: &mut [u8]) -> usize {
        let n = pkt.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), pkt.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.tun.pool.put(pkt);
        n
    }

    /// Writes a client's packet to the shared device if its source is the client's address;
    /// other packets are dropped and counted. Non-blocking, as a TUN write is.
    pub fn send(&self, pkt: &[u8]) -> io::Result<()> {
        if let Err(why) = check_source(pkt, self.addr) {
            self.tun.table.spoofed(why);
            return Ok(());
        }
        let dev = self
            .tun
            .queues
            .get(self.queue)
            .or_else(|| self.tun.queues.first())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        crate::tun::write_parts(dev, &[io::IoSlice::new(pkt)])?;
        Ok(())
    }

    /// The session's tunnel MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The shared device's MTU: the longest packet the port can deliver.
    pub fn device_mtu(&self) -> u16 {
        self.tun.mtu
    }

    /// Records a new tunnel MTU for the session; the shared device keeps its own.
    pub fn set_mtu(&mut self, mtu: u16) {
        self.mtu = mtu;
    }

    /// The shared device's name.
    pub fn name(&self) -> &str {
        self.tun.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tun::tests::{addresses, in_fresh_netns, link_state, udp_packet};
    use std::time::Duration;

    const A: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 3);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 9);

    fn to(dst: Ipv4Addr, tag: &[u8]) -> Vec<u8> {
        udp_packet(HOST, 53, dst, 4000, tag)
    }

    fn payload(p: &[u8]) -> &[u8] {
        &p[28..]
    }

    #[test]
    fn packets_go_to_the_session_of_their_destination() {
        let pool = BufPool::new(1500);
        let table = Arc::new(Dispatch::default());
        let (_ra, mut rx_a) = table.register(A, 4);
        let (_rb, mut rx_b) = table.register(B, 4);
        assert_eq!(table.dispatch(&to(A, b"for a"), &pool), Ok(()));
        assert_eq!(table.dispatch(&to(B, b"for b"), &pool), Ok(()));
        assert_eq!(payload(&rx_a.try_recv().unwrap()), b"for a");
        assert_eq!(payload(&rx_b.try_recv().unwrap()), b"for b");
        assert!(rx_a.try_recv().is_err() && rx_b.try_recv().is_err());
    }

    #[test]
    fn unknown_destinations_and_non_ipv4_are_refused() {
        let pool = BufPool::new(1500);
        let table = Arc::new(Dispatch::default());
        let (_ra, _rx) = table.register(A, 4);
        assert_eq!(table.dispatch(&to(B, b"x"), &pool), Err(Refused::Unknown));
        let mut v6 = to(A, b"x");
        v6[0] = 0x60;
        assert_eq!(table.dispatch(&v6, &pool), Err(Refused::NotIpv4));
        assert_eq!(table.dispatch(&[0x45; 19], &pool), Err(Refused::NotIpv4));
        assert_eq!(table.dispatch(&[], &pool), Err(Refused::NotIpv4));
        assert_eq!(table.drops.unknown.load(Ordering::Relaxed), 1);
        assert_eq!(table.drops.not_ipv4.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let pool = BufPool::new(1500);
        let table = Arc::new(Dispatch::default());
        let (_ra, mut rx) = table.register(A, 2);
        assert_eq!(table.dispatch(&to(A, b"1"), &pool), Ok(()));
        assert_eq!(table.dispatch(&to(A, b"2"), &pool), Ok(()));
        assert_eq!(table.dispatch(&to(A, b"3"), &pool), Err(Refused::QueueFull));
        assert_eq!(table.drops.queue_full.load(Ordering::Relaxed), 1);
        // Room again once the session has read.
        assert_eq!(payload(&rx.try_recv().unwrap()), b"1");
        assert_eq!(table.dispatch(&to(A, b"4"), &pool), Ok(()));
        assert_eq!(payload(&rx.try_recv().unwrap()), b"2");
        assert_eq!(payload(&rx.try_recv().unwrap()), b"4");
    }

    #[test]
    fn dropping_a_registration_removes_its_entry() {
        let pool = BufPool::new(1500);
        let table = Arc::new(Dispatch::default());
        let (ra, _rx) = table.register(A, 4);
        let (_rb, _rxb) = table.register(B, 4);
        drop(ra);
        assert_eq!(table.len(), 1);
        assert_eq!(table.dispatch(&to(A, b"x"), &pool), Err(Refused::Unknown));
        assert_eq!(table.dispatch(&to(B, b"x"), &pool), Ok(()));
    }

    #[test]
    fn a_reconnect_replaces_the_entry_and_survives_the_old_drop() {
        let pool = BufPool::new(1500);
        let table = Arc::new(Dispatch::default());
        let (old, mut old_rx) = table.register(A, 4);
        let (new, mut new_rx) = table.register(A, 4);
        assert_ne!(old.id(), new.id());
        assert_eq!(table.dispatch(&to(A, b"after"), &pool), Ok(()));
        assert_eq!(payload(&new_rx.try_recv().unwrap()), b"after");
        // The old tunnel ends late: its drop must not remove the new tunnel's entry.
        drop(old);
        assert!(old_rx.try_recv().is_err());
        assert_eq!(table.len(), 1);
        assert_eq!(table.dispatch(&to(A, b"still"), &pool), Ok(()));
        assert_eq!(payload(&new_rx.try_recv().unwrap()), b"still");
        drop(new);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_closed_receiver_counts_as_unknown() {
        let pool = BufPool::new(1500);
        let table = Arc::new(Dispatch::default());
        let (_ra, rx) = table.register(A, 4);
        drop(rx);
        assert_eq!(table.dispatch(&to(A, b"x"), &pool), Err(Refused::Unknown));
    }

    #[test]
    fn clients_may_only_send_from_their_own_address() {
        let own = udp_packet(A, 4000, HOST, 53, b"ok");
        assert_eq!(check_source(&own, A), Ok(()));
        assert_eq!(check_source(&own, B), Err(Spoofed::WrongSource(A)));
        let mut v6 = own.clone();
        v6[0] = 0x60;
        assert_eq!(check_source(&v6, A), Err(Spoofed::NotIpv4));
        assert_eq!(check_source(&own[..19], A), Err(Spoofed::NotIpv4));
        assert_eq!(check_source(&[], A), Err(Spoofed::NotIpv4));
        assert_eq!(ipv4_destination(&own), Some(HOST));
        assert_eq!(ipv4_source(&own), Some(A));
    }

    #[test]
    fn buffers_are_reused() {
        let pool = BufPool::new(1500);
        let mut b = pool.get();
        assert!(b.capacity() >= 1500);
        b.extend_from_slice(&[1; 100]);
        let ptr = b.as_ptr();
        pool.put(b);
        let again = pool.get();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
    }

    /// The whole path in a fresh network namespace (root only): one device named exactly as
    /// configured, the pool routed to it, packets dispatched to the right port, foreign sources
    /// dropped.
    #[test]
    fn shared_tun_in_fresh_netns() {
        in_fresh_netns(|| async {
            let nl = Netlink::new().unwrap();
            let local = Ipv4Addr::new(10, 97, 0, 1);
            let (a, b) = (Ipv4Addr::new(10, 97, 0, 2), Ipv4Addr::new(10, 97, 0, 3));
            let cfg = SharedTunConfig {
                name: "rsh",
                local,
                prefix_len: 24,
                mtu: 1434,
                queues: 2,
            };
            let tun = Arc::new(SharedTun::create(&cfg, &nl).await.unwrap());
            assert_eq!(tun.name(), "rsh");
            assert_eq!(tun.queue_count(), 2);
            assert_eq!(
                link_state(&nl, tun.index()).await,
                Some(("rsh".to_owned(), true, 1434))
            );
            assert_eq!(
                addresses(&nl, tun.index()).await,
                vec![(24, Some(IpAddr::V4(local)), Some(IpAddr::V4(local)))]
            );
            for q in 0..tun.queue_count() {
                tokio::spawn(tun.clone().run_reader(q));
            }
            let mut port_a = TunPortPair::new(&tun, a);
            let mut port_b = TunPortPair::new(&tun, b);

            // Host -> clients: each datagram reaches the port of its destination only.
            let sock = tokio::net::UdpSocket::bind((local, 0)).await.unwrap();
            let port = sock.local_addr().unwrap().port();
            sock.send_to(b"to-a", (a, 9)).await.unwrap();
            sock.send_to(b"to-b", (b, 9)).await.unwrap();
            assert_eq!(port_a.next_udp().await, b"to-a");
            assert_eq!(port_b.next_udp().await, b"to-b");

            // Client -> host: from its own address it is delivered; from another it is not.
            let spoofed = udp_packet(b, 4001, local, port, b"spoofed");
            port_a.port.send(&spoofed).unwrap();
            let genuine = udp_packet(a, 4000, local, port, b"from-a");
            port_a.port.send(&genuine).unwrap();
            let mut buf = vec![0u8; 2048];
            let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
                .await
                .expect("the client's packet was not delivered")
                .unwrap();
            assert_eq!((&buf[..n], from), (&b"from-a"[..], (a, 4000).into()));
            assert_eq!(tun.table.drops.spoofed.load(Ordering::Relaxed), 1);
            // Nothing else arrives (the spoofed one was sent first, so it would be here).
            assert!(
                tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf))
                    .await
                    .is_err()
            );

            // The per-session MTU is the port's; the device keeps the shared one.
            port_a.port.set_mtu(1300);
            assert_eq!(port_a.port.mtu(), 1300);
            // Reads are sized for the device's MTU, not the session's.
            assert_eq!(port_a.port.device_mtu(), 1434);
            assert_eq!(link_state(&nl, tun.index()).await.map(|s| s.2), Some(1434));

            // A session that ended receives nothing more; the other still does.
            drop(port_b);
            sock.send_to(b"to-b-again", (b, 9)).await.unwrap();
            sock.send_to(b"to-a-again", (a, 9)).await.unwrap();
            assert_eq!(port_a.next_udp().await, b"to-a-again");
            assert_eq!(tun.table.len(), 1);
        });
    }

    struct TunPortPair {
        port: SharedPort,
        peer: Ipv4Addr,
    }

    impl TunPortPair {
        fn new(tun: &Arc<SharedTun>, peer: Ipv4Addr) -> Self {
            Self {
                port: tun.port(peer, 1434),
                peer,
            }
        }

        /// The payload of the next IPv4/UDP packet to this port's address (anything else the
        /// kernel sends is skipped).
        async fn next_udp(&mut self) -> Vec<u8> {
            let mut buf = vec![0u8; 2048];
            tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    self.port.readable().await.unwrap();
                    let Ok(n) = self.port.try_recv(&mut buf) else {
                        continue;
                    };
                    let p = &buf[..n];
                    if n >= 28 && p[9] == 17 && p[16..20] == self.peer.octets() {
                        return p[28..].to_vec();
                    }
                }
            })
            .await
            .expect("no packet came out of the shared tun")
        }
    }
}
