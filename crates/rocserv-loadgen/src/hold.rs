//! Holding an established session: answer the server's DPD on CSTP and DTLS, send
//! keepalives and (like openconnect) our own DPD when nothing was received for DPD seconds,
//! optional ICMP echo traffic; at the end a DPD probe on every channel and a clean BYE.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rocserv_proto::cstp::{write_frame, FrameReader, PacketType, HEADER_LEN};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;

use crate::dtls::DtlsChannel;
use crate::icmp;
use crate::setup::{DtlsState, Established};

/// The final probe's payload prefix (followed by the channel byte).
const PROBE: &[u8] = b"rocserv-loadgen-final";
/// How long the final probe waits for answers.
const PROBE_WAIT: Duration = Duration::from_secs(30);

/// Hold settings.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    /// Override of the server's DPD interval (seconds), like openconnect `--force-dpd`.
    pub force_dpd: Option<u32>,
    /// ICMP echo requests per second per session (0 = none).
    pub pps: u32,
    /// Ping target.
    pub target: Option<Ipv4Addr>,
    /// Hard stop.
    pub deadline: Instant,
    /// The final probes are spread over this window after the hold ends (session `i` waits
    /// `(i * 7919) mod window`), so that the server sees DPD at a steady rate, not one burst.
    pub probe_spread: Duration,
}

/// What happened while holding.
#[derive(Debug, Default, Clone)]
pub struct HoldStats {
    /// Server DPD requests answered on CSTP.
    pub dpd_answered_cstp: u64,
    /// Server DPD requests answered on DTLS.
    pub dpd_answered_dtls: u64,
    /// Our DPD requests sent (idle detection, as openconnect).
    pub dpd_sent: u64,
    /// DPD responses received to our requests (excluding the final probe).
    pub dpd_replies: u64,
    /// Keepalives sent.
    pub keepalives: u64,
    /// Echo requests sent.
    pub pings_sent: u64,
    /// Echo replies received.
    pub pings_received: u64,
    /// The final CSTP probe was answered.
    pub final_cstp_ok: bool,
    /// The final DTLS probe was answered (`None`: no DTLS).
    pub final_dtls_ok: Option<bool>,
    /// Why the session ended early, if it did.
    pub lost: Option<String>,
    /// Why DTLS failed during the hold (the session went on over CSTP).
    pub dtls_lost: Option<String>,
    /// From sending the final probes until every channel answered (or gave up).
    pub probe_time: Option<Duration>,
    /// From sending the final probes until the CSTP / DTLS probe was answered.
    pub probe_rtt: [Option<Duration>; 2],
    /// Time spent on the BYE and TLS close.
    pub bye_time: Option<Duration>,
}

/// One CSTP frame, written as one TLS record.
async fn send_frame(
    tls: &mut TlsStream<TcpStream>,
    ty: PacketType,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    write_frame(&mut out, ty, payload).map_err(std::io::Error::other)?;
    tls.write_all(&out).await?;
    tls.flush().await
}

fn record(ty: PacketType, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(1 + payload.len());
    r.push(ty.to_u8());
    r.extend_from_slice(payload);
    r
}

/// Something that arrived on either channel.
enum Event {
    DpdReq(Vec<u8>),
    DpdResp(Vec<u8>),
    Data(Vec<u8>),
    Bye,
    Other,
}

fn classify(ty: PacketType, payload: &[u8]) -> Event {
    match ty {
        PacketType::DpdReq => Event::DpdReq(payload.to_vec()),
        PacketType::DpdResp => Event::DpdResp(payload.to_vec()),
        PacketType::Data => Event::Data(payload.to_vec()),
        PacketType::Disconnect | PacketType::Terminate => Event::Bye,
        _ => Event::Other,
    }
}

/// Per-session state of the hold loop.
struct Holder {
    tls: TlsStream<TcpStream>,
    dtls: Option<DtlsChannel>,
    reader: FrameReader,
    address: Ipv4Addr,
    id: u16,
    stats: HoldStats,
    last_rx: Instant,
    last_tx: Instant,
    probe_cstp: Vec<u8>,
    probe_dtls: Vec<u8>,
    /// When the final probes were sent.
    probe_sent: Option<Instant>,
}

impl Holder {
    /// Handles one event from CSTP (`dtls == false`) or DTLS. `Err` ends the session.
    async fn on_event(&mut self, ev: Event, on_dtls: bool) -> Result<(), String> {
        self.last_rx = Instant::now();
        match ev {
            Event::DpdReq(p) => {
                if on_dtls {
                    if let Some(d) = self.dtls.as_mut() {
                        let _ = d.send(&record(PacketType::DpdResp, &p));
                        self.stats.dpd_answered_dtls += 1;
                    }
                } else {
                    send_frame(&mut self.tls, PacketType::DpdResp, &p)
                        .await
                        .map_err(|e| format!("cstp write: {e}"))?;
                    self.stats.dpd_answered_cstp += 1;
                }
                self.last_tx = Instant::now();
            }
            Event::DpdResp(p) => {
                let since_probe = self.probe_sent.map(|t| t.elapsed());
                if p == self.probe_cstp && !on_dtls {
                    self.stats.final_cstp_ok = true;
                    self.stats.probe_rtt[0] = since_probe;
                } else if p == self.probe_dtls && on_dtls {
                    self.stats.final_dtls_ok = Some(true);
                    self.stats.probe_rtt[1] = since_probe;
                } else {
                    self.stats.dpd_replies += 1;
                }
            }
            Event::Data(pkt) => {
                if icmp::echo_reply_id(&pkt, self.address) == Some(self.id) {
                    self.stats.pings_received += 1;
                }
            }
            Event::Bye => return Err("server disconnect".into()),
            Event::Other => {}
        }
        Ok(())
    }

    /// Reads what CSTP delivered; `Err` when the stream ended or broke.
    fn cstp_events(&mut self, n: usize) -> Result<Vec<Event>, String> {
        if n == 0 {
            return Err("server closed TLS".into());
        }
        self.reader.filled(n);
        let mut evs = Vec::new();
        loop {
            match self.reader.next_frame() {
                Ok(Some(f)) => evs.push(classify(f.ty, f.payload)),
                Ok(None) => return Ok(evs),
                Err(e) => return Err(format!("cstp framing: {e}")),
            }
        }
    }

    fn dtls_events(&mut self) -> Result<Vec<Event>, String> {
        let mut evs = Vec::new();
        if let Some(d) = self.dtls.as_mut() {
            d.drain(|rec| {
                if let Some((&ty, payload)) = rec.split_first() {
                    evs.push(classify(PacketType::from_u8(ty), payload));
                }
            })
            .map_err(|e| e.to_string())?;
        }
        Ok(evs)
    }

    /// Sends a frame on DTLS when up, else on CSTP.
    async fn send_any(&mut self, ty: PacketType, payload: &[u8]) -> Result<(), String> {
        self.last_tx = Instant::now();
        if let Some(d) = self.dtls.as_mut() {
            if d.send(&record(ty, payload)).is_ok() {
                return Ok(());
            }
        }
        send_frame(&mut self.tls, ty, payload)
            .await
            .map_err(|e| format!("cstp write: {e}"))
    }
}

/// Holds `est` until the hold end published on `hold_end` (or the deadline), then probes and
/// says goodbye.
pub async fn hold(
    est: Established,
    idx: usize,
    cfg: &HoldConfig,
    mut hold_end: watch::Receiver<Option<Instant>>,
) -> HoldStats {
    let dpd = cfg.force_dpd.unwrap_or(est.params.dpd);
    let keepalive = est.params.keepalive;
    let reader = est.reader;
    let dtls = match est.dtls {
        DtlsState::Up(ch) => Some(ch),
        _ => None,
    };
    let mut h = Holder {
        tls: est.tls,
        stats: HoldStats {
            final_dtls_ok: dtls.as_ref().map(|_| false),
            ..HoldStats::default()
        },
        dtls,
        reader,
        address: est.params.address,
        id: (idx & 0xFFFF) as u16,
        last_rx: Instant::now(),
        last_tx: Instant::now(),
        probe_cstp: [PROBE, b"-cstp"].concat(),
        probe_dtls: [PROBE, b"-dtls"].concat(),
        probe_sent: None,
    };
    let ping_every = (cfg.pps > 0 && cfg.target.is_some())
        .then(|| Duration::from_secs_f64(1.0 / f64::from(cfg.pps)));
    let mut next_ping = Instant::now() + ping_every.unwrap_or(Duration::from_secs(3600));
    let mut seq: u16 = 0;
    let tick = Duration::from_secs(1);
    let spread_ms = u64::try_from(cfg.probe_spread.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let my_spread = Duration::from_millis((idx as u64).wrapping_mul(7919) % spread_ms);
    let mut end = hold_end.borrow().map(|e| e + my_spread);
    let mut hold_open = true;
    // Phase 1: hold. Phase 2 (probing) reuses the loop with `probe_until` set.
    let mut probe_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now >= cfg.deadline {
            h.stats.lost.get_or_insert_with(|| "overall timeout".into());
            break;
        }
        if let Some(pu) = probe_until {
            let dtls_done = h.dtls.is_none() || h.stats.final_dtls_ok != Some(false);
            if now >= pu || (h.stats.final_cstp_ok && dtls_done) {
                h.stats.probe_time =
                    Some(PROBE_WAIT.saturating_sub(pu.saturating_duration_since(now)));
                break;
            }
        } else if end.is_some_and(|e| now >= e) {
            // Phase 2: the final DPD probe on every channel.
            probe_until = Some(now + PROBE_WAIT);
            h.probe_sent = Some(now);
            let p = h.probe_cstp.clone();
            if let Err(e) = send_frame(&mut h.tls, PacketType::DpdReq, &p).await {
                h.stats.lost = Some(format!("cstp write: {e}"));
                break;
            }
            let p = record(PacketType::DpdReq, &h.probe_dtls);
            if let Some(d) = h.dtls.as_mut() {
                let _ = d.send(&p);
            }
            continue;
        }
        // Timers of the hold phase.
        if probe_until.is_none() {
            if dpd > 0 && now.duration_since(h.last_rx) >= Duration::from_secs(u64::from(dpd)) {
                h.stats.dpd_sent += 1;
                h.last_rx = now; // re-arm: one request per DPD interval while silent
                if let Err(e) = h.send_any(PacketType::DpdReq, b"").await {
                    h.stats.lost = Some(e);
                    break;
                }
            }
            if keepalive > 0
                && now.duration_since(h.last_tx) >= Duration::from_secs(u64::from(keepalive))
            {
                h.stats.keepalives += 1;
                if let Err(e) = h.send_any(PacketType::Keepalive, b"").await {
                    h.stats.lost = Some(e);
                    break;
                }
            }
            if let (Some(every), Some(target)) = (ping_every, cfg.target) {
                if now >= next_ping {
                    next_ping += every;
                    seq = seq.wrapping_add(1);
                    let pkt = icmp::echo_request(h.address, target, h.id, seq);
                    h.stats.pings_sent += 1;
                    if let Err(e) = h.send_any(PacketType::Data, &pkt).await {
                        h.stats.lost = Some(e);
                        break;
                    }
                }
            }
        }
        // Hold-phase timers only while holding: in the probe phase they lie in the past.
        let holding = probe_until.is_none();
        let wake = [
            Some(now + tick),
            probe_until,
            end.filter(|_| holding),
            ping_every.filter(|_| holding).map(|_| next_ping),
            Some(cfg.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + tick);
        let has_dtls = h.dtls.is_some();
        let res: Result<(), String> = tokio::select! {
            r = h.tls.read(h.reader.spare()) => {
                match r.map_err(|e| format!("cstp read: {e}")).and_then(|n| h.cstp_events(n)) {
                    Ok(evs) => {
                        let mut r = Ok(());
                        for ev in evs {
                            r = h.on_event(ev, false).await;
                            if r.is_err() { break; }
                        }
                        r
                    }
                    Err(e) => Err(e),
                }
            }
            r = async { match h.dtls.as_ref() { Some(d) => d.readable().await, None => std::future::pending().await } }, if has_dtls => {
                match r.map_err(|e| e.to_string()).and_then(|()| h.dtls_events()) {
                    Ok(evs) => {
                        for ev in evs {
                            let _ = h.on_event(ev, true).await;
                        }
                        Ok(())
                    }
                    Err(e) => {
                        // DTLS died: continue on CSTP, as openconnect falls back.
                        h.dtls = None;
                        h.stats.dtls_lost = Some(e);
                        Ok(())
                    }
                }
            }
            r = hold_end.changed(), if hold_open => {
                if r.is_err() { hold_open = false; }
                end = hold_end.borrow().map(|e| e + my_spread);
                Ok(())
            }
            () = tokio::time::sleep_until(wake.into()) => Ok(()),
        };
        if let Err(e) = res {
            h.stats.lost = Some(e);
            break;
        }
    }
    // BYE (0xb0 user disconnect) and close_notify, best effort and bounded.
    let bye = async {
        let _ = send_frame(&mut h.tls, PacketType::Disconnect, b"\xb0loadgen done").await;
        let _ = h.tls.shutdown().await;
    };
    let t_bye = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
    h.stats.bye_time = Some(t_bye.elapsed());
    h.stats
}
