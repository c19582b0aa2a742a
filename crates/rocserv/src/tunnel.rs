//! The tunnel: CONNECT handling (protocol.md §3.2) and the per-session driver that moves packets
//! between the TLS stream (CSTP, §4) and the client's TUN device (DESIGN.md §4).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use rocserv_proto::connect::{self, ConnectRequest, RekeyMethod, TunnelParams};
use rocserv_proto::cookie::{CookieHash, SessionCookie};
use rocserv_proto::cstp::{self, DisconnectReason, FrameReader, PacketType};
use rocserv_proto::http::RequestHead;
use rocserv_proto::mtu;
use rocserv_proto::timers::{self, TimerAction, TunnelTimers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http_conn::{HttpConn, Tls};
use crate::script::{run_script, ScriptEnv, ScriptOutcome, ScriptReason};
use crate::server::Server;
use crate::sessions::{Claim, Refusal, StopReason, TunnelGrant};
use crate::tun::{Tun, TunConfig};

/// Default MTU of a fresh TUN/ethernet link when `mtu` is not configured.
const DEVICE_DEFAULT_MTU: u16 = 1500;
/// How long a takeover waits for the previous tunnel of the session to go away.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

/// Why a tunnel ended, as seen by the server.
#[derive(Debug)]
enum EndReason {
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
    fn invalidates_session(&self) -> bool {
        match self {
            EndReason::ClientDisconnect(r, _) => r.invalidates_session(),
            EndReason::SessionTimeout => true,
            _ => false,
        }
    }
}

/// Everything about one tunnel that scripts and logs need.
struct TunnelInfo {
    grant_id: u64,
    username: String,
    group: String,
    device: String,
    hostname: Option<String>,
    real_ip: IpAddr,
    real_local_ip: IpAddr,
    local: std::net::Ipv4Addr,
    remote: std::net::Ipv4Addr,
    user_agent: String,
    device_platform: String,
    device_type: String,
}

/// A route as ocserv hands it to scripts: IPv4 as `address/dotted-netmask` (ocserv normalises the
/// configured form to this), IPv6 as `address/prefix`.
fn script_route(net: &ipnet::IpNet) -> String {
    match net {
        ipnet::IpNet::V4(n) => format!("{}/{}", n.network(), n.netmask()),
        ipnet::IpNet::V6(n) => format!("{}/{}", n.network(), n.prefix_len()),
    }
}

/// Sets `NAME` (every item), `NAME4` (IPv4 items) and `NAME6` (IPv6 items), as ocserv does for routes,
/// no-routes and DNS servers. Items are `(is_ipv4, text)`.
fn set_family_lists(env: &mut ScriptEnv, name: &str, items: &[(bool, String)]) {
    let pick = |want: Option<bool>| -> Vec<String> {
        items
            .iter()
            .filter(|(v4, _)| want.is_none_or(|w| w == *v4))
            .map(|(_, t)| t.clone())
            .collect()
    };
    env.set_list(name, &pick(None));
    env.set_list(&format!("{name}4"), &pick(Some(true)));
    env.set_list(&format!("{name}6"), &pick(Some(false)));
}

impl Server {
    fn script_env(&self, reason: ScriptReason, t: &TunnelInfo) -> ScriptEnv {
        let cfg = &self.cfg;
        let mut env = ScriptEnv::new(reason);
        env.set("ID", t.grant_id.to_string())
            .set("VHOST", "default")
            .set("USERNAME", t.username.clone())
            .set("GROUPNAME", t.group.clone())
            .set("HOSTNAME", t.hostname.clone().unwrap_or_default())
            .set("REMOTE_HOSTNAME", t.hostname.clone().unwrap_or_default())
            .set("DEVICE", t.device.clone())
            .set("USER_AGENT", t.user_agent.clone())
            .set("DEVICE_PLATFORM", t.device_platform.clone())
            .set("DEVICE_TYPE", t.device_type.clone())
            .set("IP_REAL", t.real_ip.to_string())
            .set("IP_REAL_LOCAL", t.real_local_ip.to_string())
            .set("IP_LOCAL", t.local.to_string())
            .set("IP_REMOTE", t.remote.to_string());
        let route_items = |routes: &[rocserv_config::RouteSpec]| -> Vec<(bool, String)> {
            routes
                .iter()
                .map(|r| (r.net.addr().is_ipv4(), script_route(&r.net)))
                .collect()
        };
        set_family_lists(&mut env, "OCSERV_ROUTES", &route_items(&cfg.routes));
        set_family_lists(&mut env, "OCSERV_NO_ROUTES", &route_items(&cfg.no_routes));
        let dns: Vec<(bool, String)> = cfg
            .dns
            .iter()
            .map(|d| (d.is_ipv4(), d.to_string()))
            .collect();
        set_family_lists(&mut env, "OCSERV_DNS", &dns);
        env
    }

    fn is_mobile(req: &ConnectRequest) -> bool {
        req.device_platform
            .as_deref()
            .is_some_and(|p| p.starts_with("android") || p.starts_with("apple-ios"))
    }

    fn tunnel_params(
        &self,
        req: &ConnectRequest,
        grant: &TunnelGrant,
        link: u16,
        data: u16,
    ) -> TunnelParams {
        let cfg = &self.cfg;
        let dpd = if Self::is_mobile(req) && cfg.mobile_dpd > 0 {
            cfg.mobile_dpd
        } else {
            cfg.dpd
        };
        let idle = if Self::is_mobile(req) {
            cfg.mobile_idle_timeout.or(cfg.idle_timeout)
        } else {
            cfg.idle_timeout
        };
        let now = StdInstant::now();
        let remaining = grant
            .session_deadline
            .map(|d| d.saturating_duration_since(now).as_secs() as u32);
        TunnelParams {
            server_name: format!("rocserv {}", env!("CARGO_PKG_VERSION")),
            hostname: req.hostname.clone(),
            ipv4: Some((grant.lease.remote, grant.netmask)),
            ipv6: None,
            full_ipv6: req.full_ipv6,
            dns: cfg.dns.clone(),
            nbns: cfg.nbns.clone(),
            default_domain: cfg.default_domain.clone(),
            split_dns: cfg.split_dns.clone(),
            split_include: if cfg.default_route {
                Vec::new()
            } else {
                cfg.routes.iter().map(|r| r.net).collect()
            },
            split_exclude: cfg.no_routes.iter().map(|r| r.net).collect(),
            tunnel_all_dns: cfg.tunnel_all_dns,
            keepalive: cfg.keepalive,
            dpd,
            idle_timeout: idle,
            session_timeout: cfg.session_timeout,
            session_timeout_remaining: remaining,
            rekey_time: cfg.rekey_time,
            // rustls has no renegotiation: the client reconnects with its cookie to rekey.
            rekey_method: if cfg.rekey_time == 0 {
                RekeyMethod::None
            } else {
                RekeyMethod::NewTunnel
            },
            base_mtu: link,
            mtu: data,
            banner: cfg.banner.clone(),
            dtls: None,
        }
    }

    async fn refuse(conn: HttpConn, status: u16, reason: &str, x_reason: Option<&str>) {
        let mut out = Vec::with_capacity(128);
        connect::render_connect_refusal(status, reason, x_reason, &mut out);
        let mut conn = conn;
        let _ = conn.send_raw(&out).await;
        conn.close_with(None).await;
    }

    /// Handles `CONNECT /CSCOSSLC/tunnel`; owns the connection from here on.
    pub async fn handle_connect(self: &Arc<Self>, conn: HttpConn, head: RequestHead) {
        let peer = conn.peer.ip();
        if !connect::is_tunnel_path(&head.path) {
            tracing::info!(ip = %peer, path = %head.path, "CONNECT to an unknown path refused");
            return Self::refuse(conn, 404, "Not Found", None).await;
        }
        let Some(cookie) = head.cookie("webvpn").and_then(SessionCookie::parse) else {
            tracing::info!(ip = %peer, "CONNECT without a valid session cookie refused");
            return Self::refuse(conn, 401, "Cookie is not acceptable", None).await;
        };
        let hash = cookie.hash();
        let grant = loop {
            match self
                .sessions
                .claim(&hash, StdInstant::now(), rand::random())
            {
                Claim::Granted(g) => break g,
                Claim::Takeover(old) => {
                    tracing::info!(ip = %peer, session = %hash.short_id(), "cookie reused: replacing its previous tunnel");
                    old.finish(TAKEOVER_WAIT).await;
                }
                Claim::Refused(r) => {
                    let (status, reason, x_reason, log) = match r {
                        Refusal::BadCookie => (
                            401,
                            "Cookie is not acceptable",
                            None,
                            "unknown or expired cookie".to_string(),
                        ),
                        Refusal::SessionExpired => (
                            401,
                            "Cookie is not acceptable",
                            None,
                            "session-timeout reached".to_string(),
                        ),
                        Refusal::TooManySessions { max } => (
                            401,
                            "Cookie is not acceptable",
                            None,
                            format!("user already has max-same-clients = {max} sessions"),
                        ),
                        Refusal::PoolExhausted => (
                            503,
                            "Service Unavailable",
                            Some("No free IP address in the pool"),
                            "no free IPv4 address left in ipv4-network".to_string(),
                        ),
                        Refusal::NoPool => (
                            503,
                            "Service Unavailable",
                            Some("Server configuration error"),
                            "no IPv4 pool configured".to_string(),
                        ),
                    };
                    tracing::warn!(ip = %peer, session = %hash.short_id(), "tunnel refused: {log}");
                    return Self::refuse(conn, status, reason, x_reason).await;
                }
            }
        };
        let done = grant.done.clone();
        self.run_tunnel(conn, head, hash, grant).await;
        // The device is gone: a takeover waiting for this tunnel may proceed.
        let _ = done.send(true);
    }

    async fn run_tunnel(
        self: &Arc<Self>,
        conn: HttpConn,
        head: RequestHead,
        hash: CookieHash,
        grant: TunnelGrant,
    ) {
        let req = ConnectRequest::from_head(&head);
        let peer = conn.peer.ip();
        let link = mtu::link_mtu(
            self.cfg.mtu,
            DEVICE_DEFAULT_MTU,
            req.base_mtu,
            req.mtu,
            false,
        );
        let data = mtu::data_mtu(link, peer.is_ipv6(), mtu::AES_GCM_DTLS_OVERHEAD);
        let tun_cfg = TunConfig {
            base_name: &self.cfg.device,
            local: grant.lease.local,
            peer: grant.lease.remote,
            mtu: data,
        };
        let tun = match Tun::create(&tun_cfg, &self.netlink).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(user = %grant.username, error = %e, "cannot create the TUN device");
                self.sessions
                    .end_tunnel(&hash, grant.tunnel_id, false, StdInstant::now());
                return Self::refuse(
                    conn,
                    503,
                    "Service Unavailable",
                    Some("Server could not create a tunnel device"),
                )
                .await;
            }
        };
        let info = TunnelInfo {
            grant_id: grant.tunnel_id,
            username: grant.username.clone(),
            group: grant.group.clone(),
            device: tun.name().to_owned(),
            hostname: req.hostname.clone(),
            real_ip: peer,
            real_local_ip: conn.local.ip(),
            local: grant.lease.local,
            remote: grant.lease.remote,
            user_agent: req.user_agent.clone().unwrap_or_default(),
            device_platform: req.device_platform.clone().unwrap_or_default(),
            device_type: req.device_type.clone().unwrap_or_default(),
        };
        if let Some(script) = self.cfg.connect_script.clone() {
            let env = self.script_env(ScriptReason::Connect, &info);
            let timeout = Duration::from_secs(u64::from(self.cfg.script_timeout));
            match run_script(&script, &env, timeout).await {
                ScriptOutcome::Success => {}
                other => {
                    let why = match other {
                        ScriptOutcome::Failed { status } => format!("exited with {status}"),
                        ScriptOutcome::TimedOut => {
                            format!(
                                "timed out after {} s and was killed",
                                self.cfg.script_timeout
                            )
                        }
                        ScriptOutcome::SpawnFailed(e) => format!("could not be started: {e}"),
                        ScriptOutcome::Success => String::new(),
                    };
                    tracing::warn!(
                        user = %info.username, ip = %peer, script = %script.display(),
                        "connect-script {why}; client refused"
                    );
                    drop(tun);
                    self.sessions
                        .end_tunnel(&hash, grant.tunnel_id, false, StdInstant::now());
                    return Self::refuse(conn, 401, "Cookie is not acceptable", None).await;
                }
            }
        }
        let params = self.tunnel_params(&req, &grant, link, data);
        let mut reply = Vec::with_capacity(1024);
        connect::render_connect_response(&params, &mut reply);
        let mut conn = conn;
        if let Err(e) = conn.send_raw(&reply).await {
            tracing::info!(user = %info.username, error = %e, "client went away before the tunnel started");
            drop(tun);
            self.sessions
                .end_tunnel(&hash, grant.tunnel_id, false, StdInstant::now());
            return;
        }
        tracing::info!(
            user = %info.username, group = %info.group, ip = %peer, vpn_ip = %info.remote, device = %info.device,
            mtu = data, session = %grant.session_short_id, "tunnel up"
        );
        if let (Some(script), Some(_)) =
            (self.cfg.host_update_script.clone(), info.hostname.as_ref())
        {
            let env = self.script_env(ScriptReason::HostUpdate, &info);
            let timeout = Duration::from_secs(u64::from(self.cfg.script_timeout));
            tokio::spawn(async move {
                let outcome = run_script(&script, &env, timeout).await;
                if !matches!(outcome, ScriptOutcome::Success) {
                    tracing::warn!(script = %script.display(), "host-update-script: {outcome:?}");
                }
            });
        }

        let started = StdInstant::now();
        let idle = params
            .idle_timeout
            .map(|s| Duration::from_secs(u64::from(s)));
        let dpd = Duration::from_secs(u64::from(params.dpd.max(1)));
        let mut driver = Driver {
            stats: Stats::default(),
            timers: TunnelTimers::new(started, dpd, idle, grant.session_deadline),
        };
        let mut stop = grant.stop;
        let reason = driver.run(conn.tls, &tun, &mut stop).await;
        drop(tun);
        let invalidate = reason.invalidates_session();
        self.sessions
            .end_tunnel(&hash, grant.tunnel_id, invalidate, StdInstant::now());
        let duration = started.elapsed().as_secs();
        tracing::info!(
            user = %info.username, ip = %peer, vpn_ip = %info.remote, device = %info.device,
            bytes_in = driver.stats.bytes_in, bytes_out = driver.stats.bytes_out, duration_s = duration,
            session_ended = invalidate, "tunnel down: {reason}"
        );
        if let Some(script) = self.cfg.disconnect_script.clone() {
            let mut env = self.script_env(ScriptReason::Disconnect, &info);
            env.set("STATS_BYTES_IN", driver.stats.bytes_in.to_string())
                .set("STATS_BYTES_OUT", driver.stats.bytes_out.to_string())
                .set("STATS_DURATION", duration.to_string());
            let timeout = Duration::from_secs(u64::from(self.cfg.script_timeout));
            let outcome = run_script(&script, &env, timeout).await;
            if !matches!(outcome, ScriptOutcome::Success) {
                tracing::warn!(script = %script.display(), user = %info.username, "disconnect-script: {outcome:?}");
            }
        }
    }
}

#[derive(Default, Debug)]
struct Stats {
    /// Bytes of IP packets received from the client.
    bytes_in: u64,
    /// Bytes of IP packets sent to the client.
    bytes_out: u64,
}

struct Driver {
    stats: Stats,
    timers: TunnelTimers,
}

/// Capacity of the receive buffer: one maximal frame plus slack so reads are not tiny.
const RX_BUFFER: usize = 2 * (cstp::HEADER_LEN + cstp::MAX_PAYLOAD);

impl Driver {
    async fn run(
        &mut self,
        tls: Tls,
        tun: &Tun,
        stop: &mut tokio::sync::watch::Receiver<Option<StopReason>>,
    ) -> EndReason {
        let (mut rd, mut wr) = tokio::io::split(tls);
        let mut reader = FrameReader::new(RX_BUFFER);
        let mut tx = vec![0u8; cstp::HEADER_LEN + cstp::MAX_PAYLOAD];
        let mut ctl = Vec::with_capacity(64);
        let reason = loop {
            let deadline = tokio::time::Instant::from_std(self.timers.next_deadline());
            tokio::select! {
                r = rd.read(reader.spare()) => {
                    let n = match r {
                        Ok(0) => break EndReason::ConnectionClosed,
                        Ok(n) => n,
                        Err(e) => break EndReason::Io(e),
                    };
                    reader.filled(n);
                    let now = StdInstant::now();
                    self.timers.on_receive(now);
                    if let Some(end) = self.drain_frames(&mut reader, tun, &mut wr, &mut ctl, now).await {
                        break end;
                    }
                }
                r = tun.recv(tx.get_mut(cstp::HEADER_LEN..).unwrap_or_default()) => {
                    let n = match r {
                        Ok(n) => n,
                        Err(e) => break EndReason::Io(e),
                    };
                    let Ok(header) = cstp::encode_header(PacketType::Data, n) else { continue };
                    if let Some(h) = tx.get_mut(..cstp::HEADER_LEN) {
                        h.copy_from_slice(&header);
                    }
                    let frame = tx.get(..cstp::HEADER_LEN + n).unwrap_or_default();
                    if timers::counts_as_activity(frame.get(cstp::HEADER_LEN..).unwrap_or_default()) {
                        self.timers.on_data_activity(StdInstant::now());
                    }
                    // One frame per TLS record: a single write of the whole frame, then flush.
                    if let Err(e) = write_frame(&mut wr, frame).await {
                        break EndReason::Io(e);
                    }
                    self.stats.bytes_out += n as u64;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    match self.timers.poll(StdInstant::now()) {
                        TimerAction::None => {}
                        TimerAction::SendDpd => {
                            ctl.clear();
                            let _ = cstp::write_frame(&mut ctl, PacketType::DpdReq, &[]);
                            if let Err(e) = write_frame(&mut wr, &ctl).await {
                                break EndReason::Io(e);
                            }
                        }
                        TimerAction::DeadPeer => break EndReason::DeadPeer,
                        TimerAction::IdleTimeout => {
                            send_disconnect(&mut wr, &mut ctl, "Idle timeout").await;
                            break EndReason::IdleTimeout;
                        }
                        TimerAction::SessionTimeout => {
                            send_disconnect(&mut wr, &mut ctl, "Session timeout").await;
                            break EndReason::SessionTimeout;
                        }
                    }
                }
                r = stop.changed() => {
                    let why = if r.is_ok() { *stop.borrow() } else { Some(StopReason::Shutdown) };
                    if let Some(why) = why {
                        if why == StopReason::Replaced {
                            // Tell a still-living client why, so that it does not reconnect and
                            // steal the session back (endless flapping between two clients).
                            send_disconnect(&mut wr, &mut ctl, "Session taken over by a new connection").await;
                        }
                        break EndReason::Stopped(why);
                    }
                }
            }
        };
        let _ = wr.shutdown().await;
        reason
    }

    /// Handles every complete frame in the buffer. Returns Some when the tunnel must end.
    async fn drain_frames(
        &mut self,
        reader: &mut FrameReader,
        tun: &Tun,
        wr: &mut tokio::io::WriteHalf<Tls>,
        ctl: &mut Vec<u8>,
        now: StdInstant,
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
                    if timers::counts_as_activity(pkt) {
                        self.timers.on_data_activity(now);
                    }
                    self.stats.bytes_in += pkt.len() as u64;
                    if let Err(e) = tun.send(pkt).await {
                        tracing::debug!(error = %e, "TUN write failed; packet dropped");
                    }
                }
                PacketType::DpdReq => {
                    // Answer with the same payload (openconnect's MTU probing depends on it).
                    ctl.clear();
                    let _ = cstp::write_frame(ctl, PacketType::DpdResp, frame.payload);
                    if let Err(e) = write_frame(wr, ctl).await {
                        return Some(EndReason::Io(e));
                    }
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

async fn write_frame(wr: &mut tokio::io::WriteHalf<Tls>, frame: &[u8]) -> std::io::Result<()> {
    wr.write_all(frame).await?;
    wr.flush().await
}

async fn send_disconnect(wr: &mut tokio::io::WriteHalf<Tls>, ctl: &mut Vec<u8>, text: &str) {
    ctl.clear();
    // An empty-reason DISCONNECT tells openconnect the server ended the session (it does not reconnect).
    let mut payload = Vec::with_capacity(1 + text.len());
    payload.push(0u8);
    payload.extend_from_slice(text.as_bytes());
    if cstp::write_frame(ctl, PacketType::Disconnect, &payload).is_ok() {
        let _ = write_frame(wr, ctl).await;
    }
}
