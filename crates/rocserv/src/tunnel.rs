//! The tunnel: CONNECT handling (protocol.md §3.2) and the per-session driver that moves packets
//! between the TLS stream (CSTP, §4) and the client's TUN device (DESIGN.md §4), or its port on
//! the shared device with `shared-tun`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use rocserv_proto::connect::{self, ConnectRequest, RekeyMethod, TunnelParams};
use rocserv_proto::cookie::{CookieHash, SessionCookie};
use rocserv_proto::dtls::{
    self as dtls_proto, DtlsMode, DtlsParams, DtlsPolicy, MASTER_SECRET_LEN,
};
use rocserv_proto::http::RequestHead;
use rocserv_proto::mtu;
use rocserv_proto::timers::TunnelTimers;

use crate::driver::{AssociationFactory, Driver, DtlsChannel};
use crate::dtls::{Association, UdpTx};
use crate::http_conn::HttpConn;
use crate::http_conn::Tls;
use crate::script::{run_script, ScriptEnv, ScriptOutcome, ScriptReason};
use crate::server::Server;
use crate::sessions::{Claim, ClaimPolicy, Refusal, SessionIdentity, TunnelGrant};
use crate::tun::{Tun, TunConfig};
use crate::tun_port::TunPort;
use rocserv_config::Effective;
use tokio::sync::OwnedSemaphorePermit;

/// Default MTU of a fresh TUN/ethernet link when `mtu` is not configured.
const DEVICE_DEFAULT_MTU: u16 = 1500;
/// Datagram size limit given to DTLS associations: records are sized by the tunnel MTU, and the
/// IP layer fragments anything the path cannot carry.
const DTLS_DATAGRAM_MTU: u16 = 16384;
/// Label of the TLS exporter that keys PSK-NEGOTIATE (protocol.md §5.2).
const PSK_EXPORTER_LABEL: &[u8] = b"EXPORTER-openconnect-psk";
/// How long a takeover waits for the previous tunnel of the session to go away.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

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
    /// The user's effective settings (global, per-group and per-user files).
    eff: Arc<Effective>,
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

/// The OpenSSL PSK cipher with the same AEAD as a TLS suite (`match-tls-dtls-ciphers`), from the
/// rustls suite name (e.g. `TLS13_AES_256_GCM_SHA384`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
fn psk_cipher_for(tls_suite: &str) -> Option<&'static str> {
    if tls_suite.contains("AES_256_GCM") {
        Some("PSK-AES256-GCM-SHA384")
    } else if tls_suite.contains("AES_128_GCM") {
        Some("PSK-AES128-GCM-SHA256")
    } else if tls_suite.contains("CHACHA20_POLY1305") {
        Some("PSK-CHACHA20-POLY1305")
    } else {
        None
    }
}

/// The largest tunnel (data) MTU a session can get, as [`Server::run_tunnel`] computes it: the
/// configured `mtu` (or the device default) not lowered by the client, over IPv4, with the
/// smallest record overhead it uses (AES-GCM; also assumed without DTLS). The shared device's
/// MTU.
pub fn max_data_mtu(cfg: &rocserv_config::Config) -> u16 {
    let link = mtu::link_mtu(cfg.mtu, DEVICE_DEFAULT_MTU, None, None, false);
    mtu::data_mtu(link, false, mtu::AES_GCM_DTLS_OVERHEAD)
}

fn master_secret(req: &ConnectRequest) -> Result<[u8; MASTER_SECRET_LEN], String> {
    let ms = req
        .dtls_master_secret
        .as_ref()
        .ok_or("no X-DTLS-Master-Secret")?;
    <[u8; MASTER_SECRET_LEN]>::try_from(ms.expose())
        .map_err(|_| "X-DTLS-Master-Secret is not 48 bytes".to_string())
}

/// What a running tunnel owns (moved into its own task).
struct LiveTunnel {
    tls: Tls,
    tun: TunPort,
    driver: Driver,
    stop: tokio::sync::watch::Receiver<Option<crate::sessions::StopReason>>,
    done: tokio::sync::watch::Sender<bool>,
    tunnel_id: u64,
    hash: CookieHash,
    info: TunnelInfo,
    started: StdInstant,
    /// The connection's `max-clients` permit, held as long as the tunnel.
    permit: OwnedSemaphorePermit,
}

impl Server {
    fn script_env(&self, reason: ScriptReason, t: &TunnelInfo) -> ScriptEnv {
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
        set_family_lists(&mut env, "OCSERV_ROUTES", &route_items(&t.eff.routes));
        set_family_lists(&mut env, "OCSERV_NO_ROUTES", &route_items(&t.eff.no_routes));
        let dns: Vec<(bool, String)> = t
            .eff
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

    /// `dpd`, or `mobile-dpd` for mobile clients.
    fn dpd_for(req: &ConnectRequest, eff: &Effective) -> u32 {
        if Self::is_mobile(req) && eff.mobile_dpd > 0 {
            eff.mobile_dpd
        } else {
            eff.dpd
        }
    }

    fn tunnel_params(
        &self,
        req: &ConnectRequest,
        grant: &TunnelGrant,
        link: u16,
        data: u16,
        dtls: Option<DtlsParams>,
        eff: &Effective,
    ) -> TunnelParams {
        let cfg = &self.cfg;
        let dpd = Self::dpd_for(req, eff);
        let idle = if Self::is_mobile(req) {
            eff.mobile_idle_timeout.or(eff.idle_timeout)
        } else {
            eff.idle_timeout
        };
        let now = StdInstant::now();
        let remaining = grant
            .session_deadline
            .map(|d| d.saturating_duration_since(now).as_secs() as u32);
        TunnelParams {
            server_name: format!("rocserv {}", env!("CARGO_PKG_VERSION")),
            hostname: eff.hostname.clone().or_else(|| req.hostname.clone()),
            ipv4: Some((grant.lease.remote, grant.netmask)),
            ipv6: None,
            full_ipv6: req.full_ipv6,
            dns: eff.dns.clone(),
            nbns: eff.nbns.clone(),
            default_domain: cfg.default_domain.clone(),
            split_dns: eff.split_dns.clone(),
            split_include: if eff.default_route {
                Vec::new()
            } else {
                eff.routes.iter().map(|r| r.net).collect()
            },
            split_exclude: eff.no_routes.iter().map(|r| r.net).collect(),
            tunnel_all_dns: eff.tunnel_all_dns,
            keepalive: eff.keepalive,
            dpd,
            idle_timeout: idle,
            session_timeout: eff.session_timeout,
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
            dtls,
        }
    }

    /// The user's settings: the global configuration overlaid with the group's and the user's
    /// files (`config-per-group`, `config-per-user`, defaults), read now.
    fn effective_config(&self, username: &str, group: &str) -> Result<Effective, String> {
        let cfg = &self.cfg;
        if !rocserv_config::PerUserFiles::new(cfg).is_enabled() {
            return Ok(Effective::global(cfg));
        }
        let group = (!group.is_empty()).then_some(group);
        let (user_cfg, warnings) =
            rocserv_config::resolve(cfg, username, group).map_err(|e| e.to_string())?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        let eff = user_cfg.effective(cfg).map_err(|e| e.to_string())?;
        for (set, what) in [
            (
                eff.ipv4_network.is_some() && eff.ipv4_network != cfg.ipv4_network,
                "ipv4-network",
            ),
            (!eff.iroutes.is_empty(), "iroute"),
            (
                eff.rx_data_per_sec.is_some() || eff.tx_data_per_sec.is_some(),
                "rx/tx-data-per-sec",
            ),
            (
                eff.restrict_user_to_routes || eff.restrict_user_to_ports.is_some(),
                "restrict-user-to-routes/ports",
            ),
            (eff.deny_roaming, "deny-roaming"),
            (eff.net_priority.is_some(), "net-priority"),
            (
                eff.explicit_ipv6.is_some() || eff.ipv6_network.is_some(),
                "IPv6 settings",
            ),
        ] {
            if set {
                tracing::warn!(user = %username, "per-user/per-group option {what} is not implemented by rocserv yet; ignored");
            }
        }
        Ok(eff)
    }

    /// The DTLS mode for this CONNECT, if DTLS is configured and the client offered a usable one.
    fn dtls_mode(&self, req: &ConnectRequest, eff: &Effective) -> Option<DtlsMode> {
        if self.udp.is_none() || eff.no_udp {
            return None;
        }
        let cfg = &self.cfg;
        let policy = DtlsPolicy {
            psk: cfg.dtls_psk,
            // ocserv: cisco-client-compat turns legacy DTLS on; match-tls-dtls-ciphers turns it off.
            legacy: (cfg.dtls_legacy || cfg.cisco_client_compat) && !cfg.match_tls_dtls_ciphers,
        };
        dtls_proto::select_mode(req, policy)
    }

    /// Prepares the DTLS channel: a fresh 32-byte id, the key (exported from this TLS session for
    /// PSK, the client's master secret for the legacy modes) and the endpoint registration.
    fn dtls_offer(
        &self,
        mode: DtlsMode,
        req: &ConnectRequest,
        conn: &HttpConn,
        grant: &TunnelGrant,
        data_mtu: u16,
        eff: &Effective,
    ) -> Result<(DtlsParams, DtlsChannel), String> {
        let (Some(ep), Some(ctx)) = (self.udp.clone(), self.dtls_ctx.clone()) else {
            return Err("no UDP endpoint".into());
        };
        let port = ep.local_port().ok_or("UDP socket has no local port")?;
        let id: [u8; dtls_proto::APP_ID_LEN] = rand::random();
        let sock = ep.sock.clone();
        let factory: AssociationFactory = match &mode {
            DtlsMode::Psk => {
                let only =
                    if self.cfg.match_tls_dtls_ciphers {
                        let tls_suite = conn.tls.get_ref().1.negotiated_cipher_suite();
                        let psk_cipher =
                            tls_suite.and_then(|s| psk_cipher_for(&format!("{:?}", s.suite())));
                        Some(psk_cipher.ok_or(
                            "match-tls-dtls-ciphers: no PSK cipher matches the TLS cipher",
                        )?)
                    } else {
                        None
                    };
                let psk = conn
                    .tls
                    .get_ref()
                    .1
                    .export_keying_material([0u8; 32], PSK_EXPORTER_LABEL, None)
                    .map_err(|e| format!("TLS exporter failed: {e}"))?;
                Box::new(move |from| {
                    Association::psk(
                        &ctx,
                        psk,
                        only,
                        DTLS_DATAGRAM_MTU,
                        UdpTx {
                            sock: sock.clone(),
                            peer: from,
                        },
                    )
                    .map_err(|e| e.to_string())
                })
            }
            DtlsMode::Legacy12 { suite, .. } => {
                let master = master_secret(req)?;
                let suite = *suite;
                Box::new(move |from| {
                    Association::legacy12(
                        &ctx,
                        suite,
                        id,
                        master,
                        DTLS_DATAGRAM_MTU,
                        UdpTx {
                            sock: sock.clone(),
                            peer: from,
                        },
                    )
                    .map_err(|e| e.to_string())
                })
            }
            DtlsMode::Dtls09 { suite, .. } => {
                let master = master_secret(req)?;
                let suite = *suite;
                Box::new(move |from| {
                    Ok(Association::dtls09(
                        suite,
                        id,
                        master,
                        UdpTx {
                            sock: sock.clone(),
                            peer: from,
                        },
                    ))
                })
            }
        };
        let (registration, rx) = ep.register(grant.tunnel_id, id, conn.peer.ip());
        let switch = self.cfg.switch_to_tcp_timeout;
        let params = DtlsParams {
            port,
            id,
            mode,
            dpd: Self::dpd_for(req, eff),
            keepalive: eff.keepalive,
            mtu: data_mtu,
        };
        let channel = DtlsChannel {
            new_association: factory,
            registration,
            rx,
            switch_to_tcp: (switch > 0).then(|| Duration::from_secs(u64::from(switch))),
        };
        Ok((params, channel))
    }

    async fn refuse(conn: HttpConn, status: u16, reason: &str, x_reason: Option<&str>) {
        let mut out = Vec::with_capacity(128);
        connect::render_connect_refusal(status, reason, x_reason, &mut out);
        let mut conn = conn;
        let _ = conn.send_raw(&out).await;
        conn.close_with(None).await;
    }

    /// Handles `CONNECT /CSCOSSLC/tunnel`; owns the connection from here on.
    pub async fn handle_connect(
        self: &Arc<Self>,
        conn: HttpConn,
        head: RequestHead,
        permit: OwnedSemaphorePermit,
    ) {
        let peer = conn.peer.ip();
        if !connect::is_tunnel_path(&head.path) {
            tracing::info!(ip = %peer, path = %head.path, "CONNECT to an unknown path refused");
            return Box::pin(Self::refuse(conn, 404, "Not Found", None)).await;
        }
        let Some(cookie) = head.cookie("webvpn").and_then(SessionCookie::parse) else {
            tracing::info!(ip = %peer, "CONNECT without a valid session cookie refused");
            return Box::pin(Self::refuse(conn, 401, "Cookie is not acceptable", None)).await;
        };
        let hash = cookie.hash();
        let Some(SessionIdentity {
            username,
            group,
            cert_fingerprint,
        }) = self.sessions.identity(&hash)
        else {
            tracing::warn!(ip = %peer, session = %hash.short_id(), "tunnel refused: unknown or expired cookie");
            return Box::pin(Self::refuse(conn, 401, "Cookie is not acceptable", None)).await;
        };
        // A login made with a client certificate must present it again here, unless
        // `cisco-client-compat` (Cisco clients do not always resend it).
        if let Some(fp) = cert_fingerprint.filter(|_| !self.cfg.cisco_client_compat) {
            if self.peer_cert(&conn).map(|c| c.fingerprint) != Some(fp) {
                tracing::warn!(user = %username, ip = %peer, "tunnel refused: the client certificate of the login was not presented");
                return Box::pin(Self::refuse(conn, 401, "Cookie is not acceptable", None)).await;
            }
        }
        // Per-user and per-group files are read at every connection, as ocserv does.
        let eff = match self.effective_config(&username, &group) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                tracing::error!(user = %username, group = %group, ip = %peer, "tunnel refused: {e}");
                return Box::pin(Self::refuse(conn, 401, "Cookie is not acceptable", None)).await;
            }
        };
        let policy = ClaimPolicy {
            max_same_clients: eff.max_same_clients,
            explicit_ipv4: eff.explicit_ipv4,
            session_timeout: eff
                .session_timeout
                .map(|t| Duration::from_secs(u64::from(t))),
        };
        let grant = loop {
            match self
                .sessions
                .claim(&hash, StdInstant::now(), rand::random(), &policy)
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
                        Refusal::AddressInUse(a) => (
                            503,
                            "Service Unavailable",
                            Some("The user's fixed address is in use"),
                            format!("explicit-ipv4 {a} is leased to another session"),
                        ),
                        Refusal::NoPool => (
                            503,
                            "Service Unavailable",
                            Some("Server configuration error"),
                            "no IPv4 pool configured".to_string(),
                        ),
                    };
                    tracing::warn!(ip = %peer, session = %hash.short_id(), "tunnel refused: {log}");
                    return Box::pin(Self::refuse(conn, status, reason, x_reason)).await;
                }
            }
        };
        let done = grant.done.clone();
        if !self.run_tunnel(conn, head, hash, grant, eff, permit).await {
            // No tunnel (refused before it started): a takeover waiting for it may proceed.
            let _ = done.send(true);
        }
    }

    async fn run_tunnel(
        self: &Arc<Self>,
        conn: HttpConn,
        head: RequestHead,
        hash: CookieHash,
        grant: TunnelGrant,
        eff: Arc<Effective>,
        permit: OwnedSemaphorePermit,
    ) -> bool {
        let req = ConnectRequest::from_head(&head);
        let peer = conn.peer.ip();
        let link = mtu::link_mtu(eff.mtu, DEVICE_DEFAULT_MTU, req.base_mtu, req.mtu, false);
        let dtls_mode = self.dtls_mode(&req, &eff);
        let overhead = dtls_mode
            .as_ref()
            .map_or(mtu::AES_GCM_DTLS_OVERHEAD, dtls_proto::record_overhead);
        let data = mtu::data_mtu(link, peer.is_ipv6(), overhead);
        let created = match &self.shared_tun {
            Some(shared) => Ok(TunPort::Shared(shared.port(grant.lease.remote, data))),
            None => {
                let tun_cfg = TunConfig {
                    base_name: &self.cfg.device,
                    local: grant.lease.local,
                    peer: grant.lease.remote,
                    mtu: data,
                };
                Tun::create(&tun_cfg, &self.netlink)
                    .await
                    .map(|tun| TunPort::Own { tun, mtu: data })
            }
        };
        let tun = match created {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(user = %grant.username, error = %e, "cannot create the TUN device");
                self.sessions
                    .end_tunnel(&hash, grant.tunnel_id, false, StdInstant::now());
                {
                    Box::pin(Self::refuse(
                        conn,
                        503,
                        "Service Unavailable",
                        Some("Server could not create a tunnel device"),
                    ))
                    .await;
                    return false;
                }
            }
        };
        let info = TunnelInfo {
            grant_id: grant.tunnel_id,
            username: grant.username.clone(),
            group: grant.group.clone(),
            device: tun.name().to_owned(),
            hostname: eff.hostname.clone().or_else(|| req.hostname.clone()),
            real_ip: peer,
            real_local_ip: conn.local.ip(),
            local: grant.lease.local,
            remote: grant.lease.remote,
            user_agent: req.user_agent.clone().unwrap_or_default(),
            device_platform: req.device_platform.clone().unwrap_or_default(),
            device_type: req.device_type.clone().unwrap_or_default(),
            eff: eff.clone(),
        };
        if let Some(script) = self.cfg.connect_script.clone() {
            let env = self.script_env(ScriptReason::Connect, &info);
            let timeout = Duration::from_secs(u64::from(self.cfg.script_timeout));
            // Boxed: the script future is large, and every tunnel task would carry its size.
            match Box::pin(run_script(&script, &env, timeout)).await {
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
                    tun.close().await;
                    self.sessions
                        .end_tunnel(&hash, grant.tunnel_id, false, StdInstant::now());
                    {
                        Box::pin(Self::refuse(conn, 401, "Cookie is not acceptable", None)).await;
                        return false;
                    }
                }
            }
        }
        let (dtls_params, dtls_channel) =
            match dtls_mode.map(|m| self.dtls_offer(m, &req, &conn, &grant, data, &eff)) {
                Some(Ok((p, c))) => (Some(p), Some(c)),
                Some(Err(e)) => {
                    tracing::warn!(user = %info.username, "DTLS not offered: {e}");
                    (None, None)
                }
                None => (None, None),
            };
        let params = self.tunnel_params(&req, &grant, link, data, dtls_params, &eff);
        let mut reply = Vec::with_capacity(1024);
        connect::render_connect_response(&params, &mut reply);
        let mut conn = conn;
        if let Err(e) = conn.send_raw(&reply).await {
            tracing::info!(user = %info.username, error = %e, "client went away before the tunnel started");
            tun.close().await;
            self.sessions
                .end_tunnel(&hash, grant.tunnel_id, false, StdInstant::now());
            return false;
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
        let timers = TunnelTimers::new(started, dpd, idle, grant.session_deadline);
        let driver = Driver::new(timers, dtls_channel, started);
        // The tunnel runs as a task of its own holding only what it needs: the handshake and
        // CONNECT futures (and their copies of the connection) are freed, which keeps the
        // memory of every connected session small. The HTTP buffers go with them.
        let live = LiveTunnel {
            tls: conn.into_tls(),
            tun,
            driver,
            stop: grant.stop,
            done: grant.done,
            tunnel_id: grant.tunnel_id,
            hash,
            info,
            started,
            permit,
        };
        tokio::spawn(self.clone().live_tunnel(live));
        true
    }

    /// The tunnel's life after CONNECT: the driver, then teardown, accounting and the
    /// disconnect script; finally `done` (a takeover waiting for the device may proceed).
    async fn live_tunnel(self: Arc<Self>, live: LiveTunnel) {
        let LiveTunnel {
            tls,
            mut tun,
            mut driver,
            mut stop,
            done,
            tunnel_id,
            hash,
            info,
            started,
            permit,
        } = live;
        let reason = driver.run(tls, &mut tun, &self.netlink, &mut stop).await;
        tun.close().await;
        let invalidate = reason.invalidates_session();
        self.sessions
            .end_tunnel(&hash, tunnel_id, invalidate, StdInstant::now());
        let duration = started.elapsed().as_secs();
        tracing::info!(
            user = %info.username, ip = %info.real_ip, vpn_ip = %info.remote, device = %info.device,
            bytes_in = driver.stats.bytes_in, bytes_out = driver.stats.bytes_out, duration_s = duration,
            session_ended = invalidate, dtls = driver.dtls_description().as_deref().unwrap_or("none"),
            "tunnel down: {reason}"
        );
        if let Some(script) = self.cfg.disconnect_script.clone() {
            let mut env = self.script_env(ScriptReason::Disconnect, &info);
            env.set("STATS_BYTES_IN", driver.stats.bytes_in.to_string())
                .set("STATS_BYTES_OUT", driver.stats.bytes_out.to_string())
                .set("STATS_DURATION", duration.to_string());
            let timeout = Duration::from_secs(u64::from(self.cfg.script_timeout));
            let outcome = Box::pin(run_script(&script, &env, timeout)).await;
            if !matches!(outcome, ScriptOutcome::Success) {
                tracing::warn!(script = %script.display(), user = %info.username, "disconnect-script: {outcome:?}");
            }
        }
        let _ = done.send(true);
        drop(permit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared device's MTU is never below a tunnel MTU `run_tunnel` can hand out.
    #[test]
    fn max_data_mtu_bounds_every_tunnel_mtu() {
        // Without DTLS (AES-GCM assumed), PSK and legacy DTLS 1.2, DTLS 0.9.
        let overheads = [
            mtu::AES_GCM_DTLS_OVERHEAD,
            dtls_proto::record_overhead(&DtlsMode::Psk),
            mtu::AES_CBC_SHA1_DTLS_OVERHEAD,
        ];
        for configured in [None, Some(1400), Some(9000), Some(600)] {
            let cfg = rocserv_config::Config {
                mtu: configured,
                ..Default::default()
            };
            let max = max_data_mtu(&cfg);
            let mut reached = false;
            for &overhead in &overheads {
                for outer_v6 in [false, true] {
                    for (base, client) in [(None, None), (Some(1200), None), (None, Some(1300))] {
                        let link = mtu::link_mtu(cfg.mtu, DEVICE_DEFAULT_MTU, base, client, false);
                        let data = mtu::data_mtu(link, outer_v6, overhead);
                        assert!(data <= max, "{configured:?} {overhead}: {data} > {max}");
                        reached |= data == max;
                    }
                }
            }
            assert!(reached, "{configured:?}: no session gets {max}");
        }
        assert_eq!(max_data_mtu(&rocserv_config::Config::default()), 1434);
    }
}
