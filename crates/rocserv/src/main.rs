//! rocserv: an OpenConnect VPN server, drop-in replacement for ocserv.

mod auth_flow;
mod auth_plan;
mod bans;
mod certauth;
mod cli;
mod daemon;
mod driver;
mod dtls;
mod http_conn;
mod listen;
mod logging;
mod pool;
mod quickstart;
mod script;
mod server;
mod sessions;
mod shared_tun;
mod tls;
mod tun;
mod tun_port;
mod tunnel;
mod udp;
mod udp_pool;
mod udp_socket;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rocserv_config::Config;

use crate::cli::Cli;
use crate::server::Server;
use crate::tls::{CertPair, CertResolver};

/// How often expired sessions and unfinished logins are swept, and certificate files checked.
const MAINTENANCE_PERIOD: Duration = Duration::from_secs(5);
const CERT_CHECK_PERIOD: Duration = Duration::from_secs(10);

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rocserv: {msg}");
    ExitCode::FAILURE
}

/// The server's TLS material: its certificates and, with certificate authentication, the
/// client-certificate verifier (CA and CRL). Both are re-read when their files change.
struct TlsMaterial {
    certs: Arc<CertResolver>,
    clients: Option<Arc<tls::ClientVerifier>>,
}

impl TlsMaterial {
    fn reload(&self, force: bool) {
        match self.certs.reload(force) {
            Ok(true) => tracing::info!("server certificate re-read"),
            Ok(false) => {}
            Err(e) => tracing::error!("keeping the current certificate: {e}"),
        }
        if let Some(v) = &self.clients {
            match v.reload(force) {
                Ok(true) => tracing::info!("client CA / CRL re-read"),
                Ok(false) => {}
                Err(e) => tracing::error!("keeping the current CRL: {e}"),
            }
        }
    }
}

/// Options the configuration crate understands but this daemon does not act on yet: each one the admin
/// set gets a warning, so that nothing is silently ignored.
fn unhonoured_options(cfg: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if cfg.ipv6_network.is_some() {
        out.push("ipv6-network: IPv6 addresses for clients are not implemented yet");
    }

    if cfg.compression {
        out.push("compression: not implemented; tunnels stay uncompressed");
    }
    if cfg.isolate_workers {
        out.push("isolate-workers: worker isolation is not implemented yet");
    }
    if cfg.use_occtl {
        out.push("use-occtl: the control socket (rocctl) is not implemented yet");
    }
    if cfg.run_as_user.is_some() || cfg.run_as_group.is_some() {
        out.push(
            "run-as-user/run-as-group: not applied yet; rocserv keeps root to create TUN devices \
             (privilege separation comes later)",
        );
    }
    out
}

fn cert_pairs(cfg: &Config) -> Vec<CertPair> {
    cfg.server_cert
        .iter()
        .zip(cfg.server_key.iter())
        .map(|(c, k)| CertPair {
            cert: c.clone(),
            key: k.clone(),
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = if cli.quickstart {
        match quickstart::prepare(&cli.quickstart_dir) {
            Ok(p) => p,
            Err(e) => return fail(e),
        }
    } else {
        cli.config_path()
    };
    let loaded = match rocserv_config::load(&config_path) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    for w in &loaded.warnings {
        eprintln!("rocserv: warning: {w}");
    }
    let cfg = Arc::new(loaded.config);
    for w in unhonoured_options(&cfg) {
        eprintln!("rocserv: warning: {}: {w}", config_path.display());
    }

    // Everything that can be checked without the network is checked before daemonising.
    let certs = match CertResolver::new(cert_pairs(&cfg)) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let clients = match tls::ClientAuth::from_config(&cfg)
        .and_then(|c| c.map(tls::ClientVerifier::new).transpose())
    {
        Ok(c) => c,
        Err(e) => return fail(format!("{}: {e}", config_path.display())),
    };
    let tls_material = TlsMaterial { certs, clients };
    let plan = match auth_plan::build(&cfg) {
        Ok(a) => a,
        Err(e) => return fail(format!("{}: {e}", config_path.display())),
    };
    if plan.uses_certificates() {
        let user_oid = cfg.cert_user_oid.as_deref().unwrap_or_default();
        if let Err(e) = certauth::check_oids(user_oid, cfg.cert_group_oid.as_deref()) {
            return fail(format!("{}: {e}", config_path.display()));
        }
    }
    let pool = match cfg.ipv4_network {
        Some(net) => match pool::Ipv4Pool::new(net, cfg.predictable_ips) {
            Ok(p) => Some(p),
            Err(e) => {
                return fail(format!(
                    "{}: ipv4-network {net}: {e:?}",
                    config_path.display()
                ))
            }
        },
        None => None,
    };
    if pool.is_none() {
        return fail(format!(
            "{}: rocserv needs an IPv4 pool (ipv4-network); IPv6-only pools are not implemented yet",
            config_path.display()
        ));
    }
    if cli.test_config {
        println!("rocserv: configuration {} is valid", config_path.display());
        return ExitCode::SUCCESS;
    }

    let listeners = match Server::bind(&cfg) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let udp_sockets = match cfg.udp_port {
        Some(port) => {
            let host = cfg
                .udp_listen_host
                .as_deref()
                .or(cfg.listen_host.as_deref());
            match udp::UdpEndpoint::bind(host, port) {
                Ok(s) => s,
                Err(e) => return fail(e),
            }
        }
        None => Vec::new(),
    };
    if cli.quickstart {
        if let Some(pin) = tls_material
            .certs
            .first_leaf()
            .and_then(|c| tls::spki_pin(&c))
        {
            println!(
                "rocserv: quickstart server on port {}; connect with:",
                cfg.tcp_port
            );
            println!(
                "  {}",
                quickstart::client_command(&pin, cfg.tcp_port, &cli.quickstart_dir)
            );
        }
    }
    if !cli.foreground {
        if let Err(e) = daemon::daemonize() {
            return fail(format!("cannot daemonise: {e}"));
        }
    }
    let to_stderr = cli.log_stderr || (cli.foreground && !cli.syslog);
    logging::init(cli.debug.unwrap_or(cfg.log_level), to_stderr);
    let _pid = match cli.pid_file.clone().or_else(|| cfg.pid_file.clone()) {
        Some(p) => match daemon::PidFile::create(&p) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!("cannot write pid-file {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    for w in unhonoured_options(&cfg) {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let code = runtime.block_on(run(cfg, tls_material, plan, pool, listeners, udp_sockets));
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

async fn run(
    cfg: Arc<Config>,
    tls_material: TlsMaterial,
    plan: auth_plan::AuthPlan,
    pool: Option<pool::Ipv4Pool>,
    listeners: Vec<std::net::TcpListener>,
    udp_sockets: Vec<std::net::UdpSocket>,
) -> ExitCode {
    let allow_tls13 =
        !cfg.cisco_client_compat && tls::priorities_allow_tls13(cfg.tls_priorities.as_deref());
    let tls_config = match tls::server_config_with_client_auth(
        tls_material.certs.clone(),
        allow_tls13,
        tls_material.clients.clone(),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let netlink = match tun::Netlink::new() {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("cannot open netlink: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shared_tun = match (cfg.shared_tun, &pool) {
        (false, _) => None,
        (true, None) => {
            tracing::error!("shared-tun needs an IPv4 pool (ipv4-network)");
            return ExitCode::FAILURE;
        }
        (true, Some(pool)) => {
            let shared_cfg = shared_tun::SharedTunConfig {
                name: &cfg.device,
                local: pool.local_address(),
                prefix_len: pool.network().prefix_len(),
                mtu: tunnel::max_data_mtu(&cfg),
                queues: tokio::runtime::Handle::current().metrics().num_workers(),
            };
            match shared_tun::SharedTun::create(&shared_cfg, &netlink).await {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    tracing::error!("shared-tun: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let sessions = sessions::SessionStore::new(
        pool,
        Duration::from_secs(u64::from(cfg.cookie_timeout)),
        cfg.session_timeout
            .map(|s| Duration::from_secs(u64::from(s))),
    );
    if udp_sockets.len() > 1 {
        tracing::warn!("udp listen host resolves to several addresses; DTLS uses only the first");
    }
    let (udp, dtls_ctx) = match udp_sockets.into_iter().next() {
        Some(sock) => {
            let local = sock.local_addr().ok();
            let sock = match udp_socket::DatagramSocket::from_std(sock) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("cannot use the UDP socket: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let ctx = match dtls::DtlsContexts::new() {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    tracing::error!("cannot set up DTLS: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tracing::info!(
                "listening on {} (udp, DTLS)",
                local.map_or("?".into(), |a| a.to_string())
            );
            (Some(udp::UdpEndpoint::new(sock)), Some(ctx))
        }
        None => (None, None),
    };
    let server = Arc::new(Server {
        auth_txns: auth_flow::Transactions::new(Duration::from_secs(u64::from(
            cfg.auth_timeout.max(1),
        ))),
        cfg: cfg.clone(),
        sessions,
        plan,
        bans: bans::Bans::new(bans::BanPolicy::from_config(&cfg)),
        netlink,
        acceptor: tokio_rustls::TlsAcceptor::from(tls_config),
        udp: udp.clone(),
        dtls_ctx,
        shared_tun: shared_tun.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let addr = l.local_addr().ok();
        match tokio::net::TcpListener::from_std(l) {
            Ok(l) => {
                tracing::info!(
                    "listening on {} (tcp)",
                    addr.map_or("?".into(), |a| a.to_string())
                );
                tasks.spawn(server.clone().serve(l));
            }
            Err(e) => {
                tracing::error!("cannot use listener: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(ep) = udp {
        tasks.spawn(ep.run());
    }
    if let Some(shared) = shared_tun {
        for queue in 0..shared.queue_count() {
            tasks.spawn(shared.clone().run_reader(queue));
        }
    }
    let maint = server.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(MAINTENANCE_PERIOD);
        loop {
            tick.tick().await;
            let now = std::time::Instant::now();
            let n = maint.sessions.sweep(now);
            if n > 0 {
                tracing::debug!("{n} expired session(s) removed");
            }
            maint.auth_txns.sweep(now);
            maint.bans.sweep(now);
        }
    });
    let tls_material = Arc::new(tls_material);
    let watched = tls_material.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(CERT_CHECK_PERIOD);
        loop {
            tick.tick().await;
            watched.reload(false);
        }
    });
    tracing::info!("rocserv {} started", env!("CARGO_PKG_VERSION"));

    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: re-reading certificates and CRL (full configuration reload is not implemented yet)");
                tls_material.reload(true);
            }
            Some(r) = tasks.join_next() => {
                if let Err(e) = r {
                    tracing::error!("internal task ended: {e}");
                }
            }
        }
    }
    tracing::info!("terminating: closing tunnels");
    tasks.abort_all();
    server.shutdown(Duration::from_secs(5)).await;
    tracing::info!("rocserv stopped");
    ExitCode::SUCCESS
}
