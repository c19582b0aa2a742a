//! The per-tunnel driver (DESIGN.md §4): one task moves packets between the client's TUN device
//! (its own, or its port on the shared device: [`TunPort`]),
//! the TLS stream (CSTP, protocol.md §4) and, when negotiated, the DTLS association (§5), with
//! reused buffers and no allocation per packet on the data path.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rocserv_proto::cstp::{self, DisconnectReason, FrameReader, PacketType};
use rocserv_proto::offload::Segments;
use rocserv_proto::timers::{self, TimerAction, TunnelTimers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::dtls::Association;
use crate::http_conn::Tls;
use crate::sessions::StopReason;
use crate::tun::Netlink;
use crate::tun_port::{self, TunPort, TunSink};
use crate::udp::{Datagram, Registration};
use crate::udp_pool;

#[cfg(test)]
mod record_tests;

/// Why a tunnel ended, as seen by the server.
#[derive(Debug)]
pub enum EndReason {
    ClientDisconnect(DisconnectReason, String),
    ConnectionClosed,
    Io(std::io::Error),
    Protocol(String),
    DeadPeer,
    IdleTimeout,
    SessionTimeout,
    Stopped(StopReason),
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::ClientDisconnect(r, text) => {
                write!(f, "client disconnected ({r:?}: '{text}')")
            }
            EndReason::ConnectionClosed => f.write_str("connection closed by the client"),
            EndReason::Io(e) => write!(f, "I/O error: {e}"),
            EndReason::Protocol(e) => write!(f, "protocol error: {e}"),
            EndReason::DeadPeer => f.write_str("DPD timeout"),
            EndReason::IdleTimeout => f.write_str("idle timeout"),
            EndReason::SessionTimeout => f.write_str("session timeout"),
            EndReason::Stopped(StopReason::Replaced) => {
                f.write_str("replaced by a new connection with the same cookie")
            }
            EndReason::Stopped(StopReason::Shutdown) => f.write_str("server shutting down"),
        }
    }
}

impl EndReason {
    /// Whether the session (cookie) ends with the tunnel.
    pub fn invalidates_session(&self) -> bool {
        match self {
            EndReason::ClientDisconnect(r, _) => r.invalidates_session(),
            EndReason::SessionTimeout => true,
            _ => false,
        }
    }
}

#[derive(Default, Debug)]
pub struct Stats {
    /// Bytes of IP packets received from the client.
    pub bytes_in: u64,
    /// Bytes of IP packets sent to the client.
    pub bytes_out: u64,
}

/// Builds a new DTLS association when a ClientHello for this session arrives from `from`.
pub type AssociationFactory = Box<dyn FnMut(SocketAddr) -> Result<Association, String> + Send>;

/// The DTLS side of a tunnel.
pub struct DtlsChannel {
    pub new_association: AssociationFactory,
    pub registration: Registration,
    pub rx: mpsc::Receiver<Datagram>,
    /// `switch-to-tcp-timeout`: no UDP input for this long → send on CSTP.
    pub switch_to_tcp: Option<Duration>,
}

struct DtlsState {
    ch: DtlsChannel,
    /// The association in use.
    active: Option<Association>,
    /// A newer association still handshaking (a second ClientHello); replaces `active` once up.
    pending: Option<Association>,
    /// Send tunnel traffic over DTLS (established and heard from recently).
    sending: bool,
    last_rx: Instant,
    /// Largest DPD probe payload received in the current probing burst, and when.
    probe: Option<(usize, Instant)>,
    /// When to send a KEEPALIVE that wakes openconnect's main loop (see [`NUDGE_AFTER`]).
    nudge: Option<Instant>,
}

/// openconnect 9.01 probes the MTU right after its DTLS handshake. When the handshake completed
/// before its main loop started (a fast server), that loop first drops its "wait for DTLS" flag
/// and then sleeps for up to 1 s before it configures the tunnel, unless a datagram wakes it;
/// one that arrives before it sleeps is read and does not count (a KEEPALIVE right after the
/// probe answer was measured to change nothing). So a KEEPALIVE follows the last probe answer
/// this much later, when the client is asleep; one byte per probing burst, harmless otherwise.
const NUDGE_AFTER: Duration = Duration::from_millis(10);

/// After this long without a new MTU probe, the client's probing is over.
const PROBE_SETTLE: Duration = Duration::from_secs(2);
/// The TUN read buffer holds at least this much packet (the device MTU is usually smaller).
const MIN_TX_PACKET: usize = 1500;
/// Probes smaller than this are ordinary DPDs, not MTU probes.
const MIN_PROBE: usize = 256;

/// How a burst reads the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunRead {
    /// The runtime saw the device become readable: reads clear that readiness when the device
    /// is empty.
    Ready,
    /// Right after the tunnel wrote the packets of a batch of the client's datagrams: whatever
    /// the kernel queued meanwhile (replies and ACKs made while those writes were handled) goes
    /// out now, without waiting for the reactor's next poll to report it; the readiness is left
    /// as it is (at worst the next wake-up finds the device empty). Over DTLS only: over TLS
    /// the same early read meant one more flush per TLS read and cost more than it saved
    /// (upload 5.4-5.8 -> 7.5 server CPU-s/GB).
    Now,
}

/// Most datagrams handled per wake-up of the DTLS branch (the first and those already queued
/// behind it): bounds how long the other directions and the timers wait behind a busy upload.
const DATAGRAM_BATCH: usize = 64;

/// Most TUN packets sent per wake-up of the TUN branch: bounds how long the client's direction
/// and the timers wait behind a busy download.
const BURST_PACKETS: usize = 64;
/// No new device frame is read once this many CSTP bytes are queued in the TLS session: a few
/// dozen records, one `writev`.
const BURST_TLS_BYTES: usize = 32 * 1024;
/// The TLS session's send-buffer limit: room for [`BURST_TLS_BYTES`] plus the packets of one
/// more 64 KiB super-packet with their CSTP and TLS record overheads (see [`queue_frame`]).
pub const TLS_BUFFER_LIMIT: usize = 160 * 1024;
/// The most a TLS record adds to its plaintext with the suites rustls offers (TLS 1.2 AES-GCM:
/// 5-byte header, 8-byte explicit nonce, 16-byte tag).
const TLS_RECORD_OVERHEAD: usize = 29;
/// Most packets taken from one device frame: a 64 KiB super-packet of a TCP sender with an
/// MSS of 256 bytes. A frame cut finer (a sender with a tiny MSS whose segments the host's GRO
/// joined) loses the rest, which TCP sends again, instead of holding the worker for thousands.
const MAX_FRAME_PACKETS: usize = 256;

thread_local! {
    /// The frame a burst reads from the device: up to a 64 KiB super-packet. One per worker
    /// thread, not per tunnel (a burst is synchronous code between two awaits).
    /// One byte more than the largest frame, so that a frame cut short by the kernel shows.
    static FRAME: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; crate::tun::MAX_FRAME + 1]);
}

/// Initial capacity of the CSTP receive buffer: a few MTU-sized frames per read. It grows (up to
/// one maximal frame) only if the client sends a larger frame; idle tunnels stay small.
const RX_BUFFER: usize = 4096;

pub struct Driver {
    pub stats: Stats,
    timers: TunnelTimers,
    dtls: Option<DtlsState>,
    /// Decrypted DTLS payloads of one datagram, reused: `arena` holds the bytes, `spans` the ends.
    arena: Vec<u8>,
    spans: Vec<usize>,
}

impl Driver {
    pub fn new(timers: TunnelTimers, dtls: Option<DtlsChannel>, now: Instant) -> Self {
        Self {
            stats: Stats::default(),
            timers,
            dtls: dtls.map(|ch| DtlsState {
                ch,
                active: None,
                pending: None,
                sending: false,
                last_rx: now,
                probe: None,
                nudge: None,
            }),
            arena: Vec::with_capacity(4 * 2048),
            spans: Vec::with_capacity(8),
        }
    }

    /// The DTLS cipher in use, for logs.
    pub fn dtls_description(&self) -> Option<String> {
        self.dtls
            .as_ref()?
            .active
            .as_ref()
            .map(|a| a.cipher_description())
    }

    fn next_deadline(&self) -> Instant {
        let mut d = self.timers.next_deadline();
        if let Some(st) = &self.dtls {
            for a in [&st.active, &st.pending].into_iter().flatten() {
                if let Some(t) = a.next_timeout() {
                    d = d.min(t);
                }
            }
            if st.sending {
                if let Some(s) = st.ch.switch_to_tcp {
                    d = d.min(st.last_rx + s);
                }
            }
            if let Some((_, at)) = st.probe {
                d = d.min(at + PROBE_SETTLE);
            }
            if let Some(at) = st.nudge {
                d = d.min(at);
            }
        }
        d
    }

    pub async fn run(
        &mut self,
        mut tls: Tls,
        tun: &mut TunPort,
        netlink: &Netlink,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> EndReason {
        let mut reader = FrameReader::growable(RX_BUFFER);
        // A burst may queue the packets of a whole super-packet before it flushes.
        tls.get_mut().1.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        // TUN packets are read after a CSTP-header-sized gap, so the same buffer can carry the
        // 8-byte CSTP header or the 1-byte DTLS header in front of the packet. The port's largest
        // packet bounds what a read returns (an own device's MTU only ever goes down after
        // creation; the shared device's is fixed).
        let mut tx = vec![0u8; cstp::HEADER_LEN + usize::from(tun.max_packet()).max(MIN_TX_PACKET)];
        let mut ctl = Vec::with_capacity(64);
        let reason = loop {
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            let dtls_rx = async {
                match self.dtls.as_mut() {
                    Some(st) => st.ch.rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tls.read(reader.spare()) => {
                    let n = match r {
                        Ok(0) => break EndReason::ConnectionClosed,
                        Ok(n) => n,
                        Err(e) => break EndReason::Io(e),
                    };
                    reader.filled(n);
                    let now = Instant::now();
                    self.timers.on_receive(now);
                    if let Some(end) = self.drain_frames(&mut reader, tun, &mut tls, &mut ctl, now).await {
                        break end;
                    }
                }
                d = dtls_rx => {
                    if let Some(d) = d {
                        let written = self.stats.bytes_in;
                        self.on_datagrams(d, tun);
                        if self.stats.bytes_in != written {
                            if let Err(e) = self.send_burst(&mut tx, tun, &mut tls, TunRead::Now).await {
                                break EndReason::Io(e);
                            }
                        }
                    }
                }
                r = tun.readable() => {
                    if let Err(e) = r {
                        break EndReason::Io(e);
                    }
                    if let Err(e) = self.send_burst(&mut tx, tun, &mut tls, TunRead::Ready).await {
                        break EndReason::Io(e);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if let Some(end) = self.on_tick(tun, netlink, &mut tls, &mut ctl).await {
                        break end;
                    }
                }
                r = stop.changed() => {
                    let why = if r.is_ok() { *stop.borrow() } else { Some(StopReason::Shutdown) };
                    if let Some(why) = why {
                        if why == StopReason::Replaced {
                            // Tell a still-living client why, so that it does not reconnect and
                            // steal the session back (endless flapping between two clients).
                            send_disconnect(&mut tls, &mut ctl, "Session taken over by a new connection").await;
                        }
                        break EndReason::Stopped(why);
                    }
                }
            }
        };
        let _ = tls.shutdown().await;
        reason
    }

    /// Sends the packets the device holds (up to [`BURST_PACKETS`] and [`BURST_TLS_BYTES`]),
    /// without waiting for more. Over DTLS the records leave in trains (one `sendmsg` with UDP
    /// GSO, see [`crate::dtls::Burst`]); over TLS each packet is its own CSTP frame in its own
    /// TLS record (openconnect reads exactly one frame per record), and all records are written
    /// to the socket with one flush instead of one write per packet.
    async fn send_burst(
        &mut self,
        tx: &mut [u8],
        tun: &mut TunPort,
        tls: &mut Tls,
        read: TunRead,
    ) -> std::io::Result<()> {
        if self.collect_burst(tx, tun, tls, read)? > 0 {
            tls.flush().await?;
        }
        Ok(())
    }

    /// The synchronous part of [`Self::send_burst`]: reads frames from the device into this
    /// thread's frame buffer, cuts super-packets into packets (each written to `tx` after a
    /// CSTP-header-sized gap), sends over DTLS, queues over TLS (without I/O), and returns the
    /// number of bytes queued for TLS. The limits are checked between frames: the packets of a
    /// super-packet that was read all go (at most 64 KiB, within the TLS session's buffer
    /// limit, see [`TLS_BUFFER_LIMIT`]).
    fn collect_burst(
        &mut self,
        tx: &mut [u8],
        tun: &mut TunPort,
        tls: &mut Tls,
        read: TunRead,
    ) -> std::io::Result<usize> {
        let h = cstp::HEADER_LEN;
        let vnet = tun.has_vnet_hdr();
        let burst = crate::dtls::Burst::start();
        let mut packets = 0;
        let mut queued = 0;
        let mut queued_tls = 0;
        let result = FRAME.with_borrow_mut(|buf| {
            while packets < BURST_PACKETS && queued < BURST_TLS_BYTES {
                let got = match read {
                    TunRead::Ready => tun.try_recv(buf),
                    TunRead::Now => tun.try_recv_now(buf),
                };
                let n = match got {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let Some(read) = buf.get(..n).filter(|_| n <= crate::tun::MAX_FRAME) else {
                    // Filled the buffer: cut short by the kernel (a device allowed to pass
                    // more than 64 KiB per super-packet); not something to send.
                    tracing::debug!(bytes = n, "oversized TUN frame dropped");
                    continue;
                };
                let mut segments = if vnet {
                    match Segments::with_vnet_hdr(read) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(error = %e, "TUN frame dropped");
                            continue;
                        }
                    }
                } else {
                    Segments::plain(read)
                };
                for _ in 0..MAX_FRAME_PACKETS {
                    let len = match segments.next_into(tx.get_mut(h..).unwrap_or_default()) {
                        Ok(Some(len)) => len,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "TUN packet dropped");
                            break;
                        }
                    };
                    packets += 1;
                    if let Some(cstp_frame) = self.route_packet(tx, len) {
                        // Each record costs at most TLS_RECORD_OVERHEAD more in the session's
                        // buffer, empty when the burst began; a frame that would not fit is
                        // dropped (with the rest of its super-packet) rather than split.
                        queued_tls += cstp_frame.len() + TLS_RECORD_OVERHEAD;
                        if queued_tls > TLS_BUFFER_LIMIT {
                            tracing::debug!("TLS send buffer full in a burst; packets dropped");
                            return Ok(());
                        }
                        queue_frame(tls, cstp_frame)?;
                        queued += cstp_frame.len();
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = burst.finish() {
            self.dtls_send_failed(&e);
        }
        result.map(|()| queued)
    }

    /// A DTLS send error: the tunnel's packets go over TLS until the client is heard on UDP again.
    /// (The datagrams of a train whose send failed are lost, as lost UDP datagrams are; the
    /// tunnel's TCP resends what mattered.)
    fn dtls_send_failed(&mut self, e: &dyn std::fmt::Display) {
        if let Some(st) = self.dtls.as_mut().filter(|st| st.sending) {
            tracing::debug!(error = %e, "DTLS send failed; using TLS");
            st.sending = false;
        }
    }

    /// Accounts the TUN packet held in `tx[HEADER_LEN..HEADER_LEN + n]` and sends it over DTLS
    /// when that is in use. Otherwise returns it as a CSTP frame (header written in front) for
    /// the caller to send over TLS.
    fn route_packet<'a>(&mut self, tx: &'a mut [u8], n: usize) -> Option<&'a [u8]> {
        let h = cstp::HEADER_LEN;
        if timers::counts_as_activity(tx.get(h..h + n).unwrap_or_default()) {
            self.timers.on_data_activity(Instant::now());
        }
        self.stats.bytes_out += n as u64;
        if let Some(st) = self.dtls.as_mut().filter(|st| st.sending) {
            if let (Some(assoc), Some(record)) = (st.active.as_mut(), tx.get_mut(h - 1..h + n)) {
                if let Some(t) = record.first_mut() {
                    *t = PacketType::Data.to_u8();
                }
                match assoc.send(record) {
                    Ok(()) => return None,
                    Err(e) => self.dtls_send_failed(&e),
                }
            }
        }
        let header = cstp::encode_header(PacketType::Data, n).ok()?;
        if let Some(hd) = tx.get_mut(..h) {
            hd.copy_from_slice(&header);
        }
        tx.get(..h + n)
    }

    /// Handles `first` and the datagrams already queued behind it (up to [`DATAGRAM_BATCH`]) in
    /// one synchronous batch, so that the client's packets they carry can leave in runs (see
    /// [`tun_port::with_sink`]).
    fn on_datagrams(&mut self, first: Datagram, tun: &TunPort) {
        tun_port::with_sink(tun, |sink| {
            let mut next = Some(first);
            let mut handled = 0;
            while let Some(d) = next.take() {
                self.on_datagram(&d, sink);
                udp_pool::used(d.data);
                handled += 1;
                if handled < DATAGRAM_BATCH {
                    next = self.dtls.as_mut().and_then(|st| st.ch.rx.try_recv().ok());
                }
            }
        });
        udp_pool::POOL.give_back();
    }

    fn on_datagram(&mut self, d: &Datagram, sink: &mut TunSink<'_>) {
        let now = Instant::now();
        let Some(st) = self.dtls.as_mut() else { return };
        if d.hello {
            match (st.ch.new_association)(d.from) {
                Ok(a) => {
                    tracing::debug!(from = %d.from, "DTLS handshake started");
                    st.pending = Some(a);
                }
                Err(e) => {
                    tracing::warn!(from = %d.from, "cannot start a DTLS association: {e}");
                    return;
                }
            }
        }
        self.arena.clear();
        self.spans.clear();
        let (arena, spans) = (&mut self.arena, &mut self.spans);
        let mut deliver = |p: &[u8]| {
            arena.extend_from_slice(p);
            spans.push(arena.len());
        };
        // Handshake records (and ChangeCipherSpec/alerts) from the address of a handshake in
        // progress go to the pending association; application data goes to the established one,
        // so a replayed ClientHello cannot divert a live client's traffic.
        let handshake_record = matches!(d.data.first(), Some(20..=22));
        let active_up = st.active.as_ref().is_some_and(|a| a.is_established());
        let to_pending = st
            .pending
            .as_ref()
            .is_some_and(|p| p.peer() == d.from && !p.is_established())
            && (handshake_record || !active_up);
        let assoc = if to_pending {
            st.pending.as_mut()
        } else {
            st.active.as_mut().or(st.pending.as_mut())
        };
        let Some(assoc) = assoc else { return };
        let authenticated = match assoc.on_datagram(&d.data, d.from, now, &mut deliver) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(from = %d.from, error = %e, "DTLS datagram rejected");
                0
            }
        };
        if authenticated > 0 && assoc.peer() != d.from {
            tracing::info!(old = %assoc.peer(), new = %d.from, "DTLS peer moved (NAT rebinding)");
            assoc.set_peer(d.from);
            st.ch.registration.set_peer(d.from);
        }
        if st.pending.as_ref().is_some_and(|p| p.is_established()) {
            if let Some(new) = st.pending.take() {
                tracing::info!(peer = %new.peer(), cipher = %new.cipher_description(),
                               records = new.record_layer(), "DTLS established");
                st.ch.registration.set_peer(new.peer());
                st.active = Some(new);
                st.sending = true;
                st.last_rx = now;
            }
        }
        if st.pending.as_ref().is_some_and(|p| p.is_dead()) {
            tracing::info!(from = %d.from, "DTLS handshake failed; the client stays on TLS until it retries");
            st.pending = None;
        }
        if st.active.as_ref().is_some_and(|a| a.is_dead()) {
            tracing::info!("DTLS association closed; sending over TLS");
            st.active = None;
            st.sending = false;
        }
        if authenticated > 0 {
            st.last_rx = now;
            if st.active.as_ref().is_some_and(|a| a.is_established()) {
                st.sending = true;
            }
            self.timers.on_receive(now);
        }
        self.handle_dtls_payloads(sink, now);
    }

    /// Acts on the payloads decrypted from one datagram (type byte + data), held in `arena`.
    fn handle_dtls_payloads(&mut self, sink: &mut TunSink<'_>, now: Instant) {
        let mut start = 0;
        for i in 0..self.spans.len() {
            let Some(&end) = self.spans.get(i) else { break };
            let range = start..end;
            start = end;
            let Some(&ty) = self.arena.get(range.start) else {
                continue;
            };
            match PacketType::from_u8(ty) {
                PacketType::Data => {
                    let body = self
                        .arena
                        .get(range.start + 1..range.end)
                        .unwrap_or_default();
                    if body.is_empty() {
                        continue;
                    }
                    if timers::counts_as_activity(body) {
                        self.timers.on_data_activity(now);
                    }
                    self.stats.bytes_in += body.len() as u64;
                    sink.push(body);
                }
                PacketType::DpdReq => {
                    let Some(st) = self.dtls.as_mut() else {
                        continue;
                    };
                    let len = range.len().saturating_sub(1);
                    if len >= MIN_PROBE {
                        let max = st.probe.map_or(0, |(m, _)| m).max(len);
                        st.probe = Some((max, now));
                    }
                    // Echo byte for byte with the type changed (openconnect's MTU probing
                    // depends on it).
                    if let (Some(a), Some(rec)) = (st.active.as_mut(), self.arena.get_mut(range)) {
                        if let Some(t) = rec.first_mut() {
                            *t = PacketType::DpdResp.to_u8();
                        }
                        if let Err(e) = a.send(rec) {
                            tracing::debug!(error = %e, "DTLS DPD answer failed");
                        }
                    }
                    if len >= MIN_PROBE {
                        st.nudge = Some(now + NUDGE_AFTER);
                    }
                }
                PacketType::DpdResp | PacketType::Keepalive => {}
                PacketType::Disconnect => {
                    tracing::debug!(
                        "DISCONNECT over DTLS ignored (openconnect sends its BYE over TLS)"
                    );
                }
                other => {
                    tracing::debug!(ty = other.to_u8(), "unexpected DTLS payload type ignored")
                }
            }
        }
    }

    async fn on_tick(
        &mut self,
        tun: &mut TunPort,
        netlink: &Netlink,
        tls: &mut Tls,
        ctl: &mut Vec<u8>,
    ) -> Option<EndReason> {
        let now = Instant::now();
        if let Some(st) = self.dtls.as_mut() {
            for a in [st.active.as_mut(), st.pending.as_mut()]
                .into_iter()
                .flatten()
            {
                if a.next_timeout().is_some_and(|t| t <= now) {
                    a.on_timeout(now);
                }
            }
            if st.sending
                && st
                    .ch
                    .switch_to_tcp
                    .is_some_and(|s| now.duration_since(st.last_rx) >= s)
            {
                tracing::info!(
                    "no UDP from the client for switch-to-tcp-timeout; sending over TLS"
                );
                st.sending = false;
            }
            if st.nudge.is_some_and(|at| at <= now) {
                st.nudge = None;
                if let Some(a) = st.active.as_mut() {
                    if let Err(e) = a.send(&[PacketType::Keepalive.to_u8()]) {
                        tracing::debug!(error = %e, "DTLS keepalive failed");
                    }
                }
            }
            if let Some((max, at)) = st.probe {
                if now.duration_since(at) >= PROBE_SETTLE {
                    st.probe = None;
                    // The client's tunnel MTU is the largest probe that reached us.
                    let probed = u16::try_from(max).unwrap_or(u16::MAX);
                    let old = tun.mtu();
                    if probed < old && probed >= rocserv_proto::mtu::MIN_LINK_MTU {
                        match tun.set_mtu(netlink, probed).await {
                            Ok(()) => {
                                tracing::info!(
                                    old,
                                    new = probed,
                                    "TUN MTU lowered to the client's probed MTU"
                                );
                            }
                            Err(e) => tracing::warn!("cannot lower the TUN MTU: {e}"),
                        }
                    }
                }
            }
        }
        match self.timers.poll(now) {
            TimerAction::None => None,
            TimerAction::SendDpd => {
                ctl.clear();
                let _ = cstp::write_frame(ctl, PacketType::DpdReq, &[]);
                write_frame(tls, ctl).await.err().map(EndReason::Io)
            }
            TimerAction::DeadPeer => Some(EndReason::DeadPeer),
            TimerAction::IdleTimeout => {
                send_disconnect(tls, ctl, "Idle timeout").await;
                Some(EndReason::IdleTimeout)
            }
            TimerAction::SessionTimeout => {
                send_disconnect(tls, ctl, "Session timeout").await;
                Some(EndReason::SessionTimeout)
            }
        }
    }

    /// Handles every complete CSTP frame in the buffer: the client's packets in one
    /// synchronous batch (so that they can leave in runs, see [`tun_port::with_sink`]), the DPD
    /// answers queued and flushed once at the end. Returns Some when the tunnel must end.
    async fn drain_frames(
        &mut self,
        reader: &mut FrameReader,
        tun: &TunPort,
        tls: &mut Tls,
        ctl: &mut Vec<u8>,
        now: Instant,
    ) -> Option<EndReason> {
        let mut answered = false;
        let end = tun_port::with_sink(tun, |sink| {
            self.take_frames(reader, sink, tls, ctl, now, &mut answered)
        });
        if answered {
            if let Err(e) = tls.flush().await {
                return end.or(Some(EndReason::Io(e)));
            }
        }
        end
    }

    /// The synchronous part of [`Self::drain_frames`]; sets `answered` when a DPD answer was
    /// queued in the TLS session.
    fn take_frames(
        &mut self,
        reader: &mut FrameReader,
        sink: &mut TunSink<'_>,
        tls: &mut Tls,
        ctl: &mut Vec<u8>,
        now: Instant,
        answered: &mut bool,
    ) -> Option<EndReason> {
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return None,
                Err(e) => return Some(EndReason::Protocol(format!("bad CSTP frame: {e:?}"))),
            };
            match frame.ty {
                PacketType::Data => {
                    let pkt = frame.payload;
                    if pkt.is_empty() {
                        continue;
                    }
                    if let Some(st) = self.dtls.as_mut().filter(|st| st.sending) {
                        // Data on TLS while DTLS is up: the client fell back to TLS.
                        tracing::debug!(
                            "client sends over TLS: DTLS not in use until it is heard again"
                        );
                        st.sending = false;
                    }
                    if timers::counts_as_activity(pkt) {
                        self.timers.on_data_activity(now);
                    }
                    self.stats.bytes_in += pkt.len() as u64;
                    sink.push(pkt);
                }
                PacketType::DpdReq => {
                    // Answer with the same payload.
                    ctl.clear();
                    let _ = cstp::write_frame(ctl, PacketType::DpdResp, frame.payload);
                    if let Err(e) = queue_frame(tls, ctl) {
                        return Some(EndReason::Io(e));
                    }
                    *answered = true;
                }
                PacketType::DpdResp | PacketType::Keepalive => {}
                PacketType::Disconnect => {
                    let (reason, text) = cstp::parse_disconnect(frame.payload);
                    return Some(EndReason::ClientDisconnect(reason, text));
                }
                PacketType::Terminate => {
                    return Some(EndReason::ClientDisconnect(
                        DisconnectReason::Empty,
                        "terminate".into(),
                    ))
                }
                PacketType::Compressed => {
                    tracing::debug!(
                        "compressed CSTP frame received although compression is off; dropped"
                    );
                }
                PacketType::Unknown(t) => {
                    tracing::debug!(ty = t, "unknown CSTP frame type ignored");
                }
            }
        }
    }
}

/// Writes one frame as one TLS record and flushes it to the socket.
pub async fn write_frame(tls: &mut Tls, frame: &[u8]) -> std::io::Result<()> {
    queue_frame(tls, frame)?;
    tls.flush().await
}

/// Encrypts one frame into one TLS record queued in the TLS session, without I/O. Every caller
/// flushes before it returns, and a burst stops reading at [`BURST_TLS_BYTES`] (plus at most
/// one 64 KiB super-packet), below the session's send-buffer limit ([`TLS_BUFFER_LIMIT`]), so
/// the frame is never split over two records (which openconnect would take for a broken
/// stream); should it not fit, the tunnel ends with an error instead.
fn queue_frame(tls: &mut Tls, frame: &[u8]) -> std::io::Result<()> {
    let (_, conn) = tls.get_mut();
    let n = conn.writer().write(frame)?;
    if n == frame.len() {
        Ok(())
    } else {
        Err(std::io::Error::other(
            "TLS send buffer full: a CSTP frame would be split",
        ))
    }
}

pub async fn send_disconnect(tls: &mut Tls, ctl: &mut Vec<u8>, text: &str) {
    ctl.clear();
    // A DISCONNECT tells openconnect the server ended the session (it does not reconnect).
    let mut payload = Vec::with_capacity(1 + text.len());
    payload.push(0u8);
    payload.extend_from_slice(text.as_bytes());
    if cstp::write_frame(ctl, PacketType::Disconnect, &payload).is_ok() {
        let _ = write_frame(tls, ctl).await;
    }
}
