//! The UDP endpoint for DTLS (DESIGN.md §4, protocol.md §5.1, §5.6): one socket per listen address
//! serves every session. A datagram is routed by its source address when that address belongs to a
//! session; a ClientHello from a new address is routed by its session_id, and only to a live,
//! authenticated session that offered DTLS with that id; any other datagram from an unknown
//! address is offered to the sessions last seen at the same IP (NAT rebinding: the session moves
//! only if the datagram authenticates under its association). Nothing about an unknown datagram
//! reaches the TLS library.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rocserv_proto::dtls::{peek_client_hello, APP_ID_LEN};
use tokio::sync::mpsc;

use crate::udp_pool::{self, POOL};
use crate::udp_socket::{DatagramSocket, RecvBatch};

/// Per-session queue depth: datagrams beyond it are dropped (UDP semantics).
const SESSION_QUEUE: usize = 512;
/// A rebinding candidate datagram is offered to at most this many sessions.
const MAX_REBIND_CANDIDATES: usize = 4;
/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65536;

/// One datagram for a session. `data` comes from [`crate::udp_pool`]; the session hands it back
/// with [`crate::udp_pool::used`] when done.
#[derive(Debug)]
pub struct Datagram {
    pub data: Vec<u8>,
    pub from: SocketAddr,
    /// The datagram is a ClientHello that carried this session's id.
    pub hello: bool,
}

struct Route {
    id: [u8; APP_ID_LEN],
    tx: mpsc::Sender<Datagram>,
    /// The peer address the session currently uses, if any.
    peer: Option<SocketAddr>,
    /// The address of the latest ClientHello (a handshake in progress); at most one per session,
    /// so spoofed hellos cannot grow the address table.
    pending: Option<SocketAddr>,
    /// The client's IP (TLS peer or last DTLS peer), for rebinding candidates.
    ip: IpAddr,
}

#[derive(Default)]
struct Routes {
    by_tunnel: HashMap<u64, Route>,
    by_id: HashMap<[u8; APP_ID_LEN], u64>,
    by_addr: HashMap<SocketAddr, u64>,
}

impl Routes {
    fn remove(&mut self, tunnel: u64) {
        if let Some(r) = self.by_tunnel.remove(&tunnel) {
            if self.by_id.get(&r.id) == Some(&tunnel) {
                self.by_id.remove(&r.id);
            }
            for p in [r.peer, r.pending].into_iter().flatten() {
                if self.by_addr.get(&p) == Some(&tunnel) {
                    self.by_addr.remove(&p);
                }
            }
        }
    }
}

/// Counters of datagrams the endpoint dropped, for logs.
#[derive(Default, Debug, Clone, Copy)]
pub struct Drops {
    pub unknown: u64,
    pub queue_full: u64,
}

pub struct UdpEndpoint {
    pub sock: Arc<DatagramSocket>,
    routes: Mutex<Routes>,
    drops: Mutex<Drops>,
}

/// Deregisters a session's route when its tunnel ends.
pub struct Registration {
    endpoint: Arc<UdpEndpoint>,
    tunnel: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.endpoint.lock().remove(self.tunnel);
    }
}

impl Registration {
    /// The session's association authenticated a datagram from `addr`: route that address here.
    pub fn set_peer(&self, addr: SocketAddr) {
        let mut routes = self.endpoint.lock();
        let Some(route) = routes.by_tunnel.get_mut(&self.tunnel) else {
            return;
        };
        let old = route.peer.replace(addr);
        if route.pending == Some(addr) {
            route.pending = None;
        }
        route.ip = addr.ip();
        if let Some(old) = old.filter(|o| *o != addr) {
            if routes.by_addr.get(&old) == Some(&self.tunnel) {
                routes.by_addr.remove(&old);
            }
        }
        routes.by_addr.insert(addr, self.tunnel);
    }
}

impl UdpEndpoint {
    /// Binds `host:port` (all addresses, dual-stack, when `host` is None).
    pub fn bind(host: Option<&str>, port: u16) -> std::io::Result<Vec<std::net::UdpSocket>> {
        let socks = crate::listen::bind(
            host,
            port,
            socket2::Type::DGRAM,
            "udp-port/udp-listen-host",
            |s| {
                // Bursts of many sessions' datagrams: deeper queues than the defaults.
                let _ = s.set_recv_buffer_size(4 << 20);
                let _ = s.set_send_buffer_size(4 << 20);
                Ok(())
            },
        )?;
        Ok(socks.into_iter().map(Into::into).collect())
    }

    pub fn new(sock: DatagramSocket) -> Arc<Self> {
        Arc::new(Self {
            sock: Arc::new(sock),
            routes: Mutex::new(Routes::default()),
            drops: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn local_port(&self) -> Option<u16> {
        self.sock.local_addr().ok().map(|a| a.port())
    }

    /// Announces a session that offered DTLS with `id`; its datagrams arrive on the returned receiver.
    pub fn register(
        self: &Arc<Self>,
        tunnel: u64,
        id: [u8; APP_ID_LEN],
        client_ip: IpAddr,
    ) -> (Registration, mpsc::Receiver<Datagram>) {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let mut routes = self.lock();
        routes.remove(tunnel);
        routes.by_id.insert(id, tunnel);
        routes.by_tunnel.insert(
            tunnel,
            Route {
                id,
                tx,
                peer: None,
                pending: None,
                ip: client_ip,
            },
        );
        (
            Registration {
                endpoint: self.clone(),
                tunnel,
            },
            rx,
        )
    }

    /// Where a datagram goes: (tunnel, is_hello) targets, into `targets` (cleared first).
    fn route(
        &self,
        data: &[u8],
        from: SocketAddr,
        targets: &mut Vec<(mpsc::Sender<Datagram>, bool)>,
    ) {
        targets.clear();
        let mut routes = self.lock();
        // A ClientHello carrying a live id starts (or restarts) an association, even from a known
        // address (the client may re-handshake after a CSTP reconnect gave it a new id).
        if let Some(hello) = peek_client_hello(data) {
            if let Ok(id) = <[u8; APP_ID_LEN]>::try_from(hello.session_id) {
                if let Some(&tunnel) = routes.by_id.get(&id) {
                    if let Some(r) = routes.by_tunnel.get_mut(&tunnel) {
                        let tx = r.tx.clone();
                        // Handshake datagrams that follow come from the same address.
                        let old = if r.peer == Some(from) {
                            None
                        } else {
                            r.pending.replace(from)
                        };
                        if let Some(old) = old.filter(|o| *o != from && Some(*o) != r.peer) {
                            if routes.by_addr.get(&old) == Some(&tunnel) {
                                routes.by_addr.remove(&old);
                            }
                        }
                        routes.by_addr.insert(from, tunnel);
                        targets.push((tx, true));
                        return;
                    }
                }
            }
        }
        if let Some(r) = routes
            .by_addr
            .get(&from)
            .and_then(|t| routes.by_tunnel.get(t))
        {
            targets.push((r.tx.clone(), false));
            return;
        }
        targets.extend(
            routes
                .by_tunnel
                .values()
                .filter(|r| r.peer.is_some() && r.ip == from.ip())
                .take(MAX_REBIND_CANDIDATES)
                .map(|r| (r.tx.clone(), false)),
        );
    }

    /// Receives datagrams forever (as many as are queued per system call, see
    /// [`DatagramSocket::recv_batch`]) and hands them to their sessions.
    pub async fn run(self: Arc<Self>) {
        let mut batch = RecvBatch::new(MAX_DATAGRAM);
        let mut handoff = Handoff::default();
        loop {
            if let Err(e) = self.sock.recv_batch(&mut batch).await {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
            let n = batch.iter().count();
            POOL.take(n.saturating_sub(handoff.stash.len()), &mut handoff.stash);
            for (data, from) in batch.iter() {
                self.hand_over(data, normalise(from), &mut handoff);
            }
        }
    }

    /// Routes one datagram to its session(s); counts what cannot be delivered.
    fn hand_over(&self, data: &[u8], from: SocketAddr, handoff: &mut Handoff) {
        let Handoff { targets, stash } = handoff;
        self.route(data, from, targets);
        if targets.is_empty() {
            let mut d = self.drops.lock().unwrap_or_else(|p| p.into_inner());
            d.unknown += 1;
            if d.unknown.is_power_of_two() {
                tracing::debug!(from = %from, total = d.unknown, "datagram from an unknown peer dropped");
            }
            return;
        }
        for (tx, hello) in targets.drain(..) {
            let d = Datagram {
                data: udp_pool::filled(stash, data),
                from,
                hello,
            };
            if let Err(e) = tx.try_send(d) {
                let (mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) = e;
                stash.push(d.data);
                self.drops
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .queue_full += 1;
            }
        }
    }
}

/// What the receive loop reuses from one datagram to the next: the routing result and the
/// buffers taken from the pool for this batch.
#[derive(Default)]
struct Handoff {
    targets: Vec<(mpsc::Sender<Datagram>, bool)>,
    stash: Vec<Vec<u8>>,
}

/// Turns `::ffff:a.b.c.d` into `a.b.c.d`.
pub fn normalise(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_with(id: &[u8; 32]) -> Vec<u8> {
        let mut d = vec![0x16, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x67];
        d.extend_from_slice(&[0x01, 0, 0, 0x5b, 0, 0, 0, 0, 0, 0, 0, 0x5b, 0xfe, 0xfd]);
        d.extend_from_slice(&[0x11; 32]);
        d.push(32);
        d.extend_from_slice(id);
        d.extend_from_slice(&[0, 2, 0, 0xa9, 1, 0]);
        d
    }

    fn routed(
        ep: &UdpEndpoint,
        data: &[u8],
        from: SocketAddr,
    ) -> Vec<(mpsc::Sender<Datagram>, bool)> {
        let mut targets = Vec::new();
        ep.route(data, from, &mut targets);
        targets
    }

    async fn endpoint() -> Arc<UdpEndpoint> {
        UdpEndpoint::new(DatagramSocket::bind("127.0.0.1:0").unwrap())
    }

    #[tokio::test]
    async fn hello_with_a_live_id_is_routed_and_binds_the_address() {
        let ep = endpoint().await;
        let (reg, mut rx) = ep.register(7, [5; 32], "192.0.2.1".parse().unwrap());
        let from: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let t = routed(&ep, &hello_with(&[5; 32]), from);
        assert_eq!(t.len(), 1);
        assert!(t[0].1);
        // the next datagram from that address follows, even though it is no hello
        assert_eq!(routed(&ep, &[0x17, 0xfe, 0xfd], from).len(), 1);
        drop(reg);
        assert!(routed(&ep, &[0x17, 0xfe, 0xfd], from).is_empty());
        assert!(routed(&ep, &hello_with(&[5; 32]), from).is_empty());
        rx.close();
    }

    #[tokio::test]
    async fn spoofed_hellos_keep_one_pending_address_per_session() {
        let ep = endpoint().await;
        let (_reg, _rx) = ep.register(1, [5; 32], "192.0.2.1".parse().unwrap());
        for port in 1000..1100u16 {
            let from = SocketAddr::new("198.51.100.7".parse().unwrap(), port);
            assert_eq!(routed(&ep, &hello_with(&[5; 32]), from).len(), 1);
        }
        assert_eq!(ep.lock().by_addr.len(), 1);
    }

    #[tokio::test]
    async fn unknown_ids_and_garbage_go_nowhere() {
        let ep = endpoint().await;
        let (_reg, _rx) = ep.register(1, [5; 32], "192.0.2.1".parse().unwrap());
        let from: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        assert!(routed(&ep, &hello_with(&[6; 32]), from).is_empty());
        assert!(routed(&ep, b"garbage", from).is_empty());
        assert!(routed(&ep, &[], from).is_empty());
    }

    #[tokio::test]
    async fn rebinding_candidates_share_the_ip_and_need_an_established_peer() {
        let ep = endpoint().await;
        let (reg, _rx) = ep.register(1, [5; 32], "192.0.2.1".parse().unwrap());
        let newport: SocketAddr = "192.0.2.1:6000".parse().unwrap();
        assert!(
            routed(&ep, b"\x17record", newport).is_empty(),
            "no association yet"
        );
        reg.set_peer("192.0.2.1:5000".parse().unwrap());
        assert_eq!(routed(&ep, b"\x17record", newport).len(), 1);
        assert!(routed(&ep, b"\x17record", "203.0.113.1:6000".parse().unwrap()).is_empty());
        reg.set_peer(newport);
        let old: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert!(!ep.lock().by_addr.contains_key(&old));
    }
}
