//! The server: shared state, the TLS listener, and the HTTP phase of each connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::auth_plan::AuthPlan;
use crate::certauth::CertIdentity;
use rocserv_config::Config;
use rocserv_proto::auth_xml;
use rocserv_proto::http::{Method, Response};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::auth_flow::{AuthOutcome, ConnAuthState, LoginStart, Transactions, CONTEXT_COOKIE};
use crate::http_conn::HttpConn;
use crate::sessions::{SessionStore, StopReason};
use crate::tun::Netlink;

/// TLS handshakes that take longer than this are dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    pub cfg: Arc<Config>,
    pub sessions: SessionStore,
    pub plan: AuthPlan,
    pub bans: crate::bans::Bans,
    pub auth_txns: Transactions,
    pub netlink: Netlink,
    pub acceptor: TlsAcceptor,
    /// The DTLS endpoint, when `udp-port` is set.
    pub udp: Option<Arc<crate::udp::UdpEndpoint>>,
    pub dtls_ctx: Option<Arc<crate::dtls::DtlsContexts>>,
    /// The shared TUN device, with `shared-tun`; None: one device per client.
    pub shared_tun: Option<Arc<crate::shared_tun::SharedTun>>,
}

/// URLs that serve the login form on GET (ocserv-reference.md §5.1).
fn is_form_path(path: &str) -> bool {
    matches!(path, "/" | "/auth" | "/VPN")
}

impl Server {
    /// Binds the TCP listeners for `listen-host` (all addresses when unset) and `tcp-port`. Runs before
    /// daemonising so that a port already in use is reported on the terminal.
    pub fn bind(cfg: &Config) -> std::io::Result<Vec<std::net::TcpListener>> {
        let socks = crate::listen::bind(
            cfg.listen_host.as_deref(),
            cfg.tcp_port,
            socket2::Type::STREAM,
            "tcp-port/listen-host",
            |s| s.set_reuse_address(true),
        )?;
        socks
            .into_iter()
            .map(|s| {
                s.listen(1024)?;
                Ok(s.into())
            })
            .collect()
    }

    /// Accepts connections forever (until the task is dropped).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let limit = if self.cfg.max_clients == 0 {
            Semaphore::MAX_PERMITS
        } else {
            self.cfg.max_clients as usize
        };
        let permits = Arc::new(Semaphore::new(limit));
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = match listener.accept().await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let ip = peer.ip();
            let now = std::time::Instant::now();
            if self.bans.is_banned(ip, now) {
                tracing::debug!(ip = %ip, "connection from a banned address closed");
                continue;
            }
            if self.bans.connection(ip, now) {
                tracing::warn!(ip = %ip, "address banned after too many connections");
            }
            let _ = tcp.set_nodelay(true);
            let server = self.clone();
            tokio::spawn(async move {
                server.connection(tcp, normalise(peer), permit).await;
            });
        }
    }

    /// One TCP connection; `permit` (`max-clients`) is held until it ends, or handed on to its
    /// tunnel.
    async fn connection(
        self: Arc<Self>,
        tcp: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let local = match tcp.local_addr() {
            Ok(a) => normalise(a),
            Err(_) => return,
        };
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(ip = %peer.ip(), error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(ip = %peer.ip(), "TLS handshake timed out");
                return;
            }
        };
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(u64::from(self.cfg.auth_timeout.max(1)));
        let mut conn = HttpConn::new(tls, peer, local, deadline);
        let mut auth = ConnAuthState::default();
        let cert = self.peer_cert(&conn);
        loop {
            let req = match conn.next_request().await {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    if e.is_disconnect() {
                        tracing::debug!(ip = %peer.ip(), "client closed the connection: {e}");
                    } else {
                        tracing::info!(ip = %peer.ip(), "closing connection: {e}");
                    }
                    let resp = e.response();
                    conn.close_with(resp.as_ref()).await;
                    return;
                }
            };
            let head = req.head;
            // `Connection: close` (or HTTP/1.0 without keep-alive): close after answering (RFC 9112 §9.6).
            let close_after = head.wants_close();
            tracing::debug!(ip = %peer.ip(), method = ?head.method, path = %head.path, "request");
            match head.method {
                Method::Connect => return self.handle_connect(conn, head, permit).await,
                Method::Get if is_form_path(&head.path) || self.url_group(&head.path).is_some() => {
                    let start = self.login_start(&conn, &head, cert.as_ref());
                    let outcome = self.auth_start(&mut auth, start);
                    if !self.reply(&mut conn, outcome).await {
                        return;
                    }
                }
                Method::Post => {
                    let msg = match auth_xml::parse_client_auth(
                        head.header("Content-Type"),
                        &req.body,
                    ) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::info!(ip = %peer.ip(), "unparsable authentication request: {e}");
                            return conn
                                .close_with(Some(&Response::error(400, "Bad Request")))
                                .await;
                        }
                    };
                    let context = head.cookie(CONTEXT_COOKIE);
                    let session = head.cookie("webvpn");
                    let start = self.login_start(&conn, &head, cert.as_ref());
                    let outcome = self
                        .auth_post(&mut auth, context, session, msg, start)
                        .await;
                    if !self.reply(&mut conn, outcome).await {
                        return;
                    }
                }
                _ => {
                    tracing::debug!(ip = %peer.ip(), path = %head.path, "unknown URL");
                    return conn.close_with(Some(&Response::not_found())).await;
                }
            }
            if close_after {
                return conn.close_with(None).await;
            }
        }
    }

    /// With `select-group-by-url`, `/GROUP` (a `select-group` name) selects that group.
    fn url_group(&self, path: &str) -> Option<String> {
        if !self.cfg.select_group_by_url {
            return None;
        }
        let name = path.strip_prefix('/')?;
        self.cfg
            .select_groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.name.clone())
    }

    fn login_start<'a>(
        &self,
        conn: &HttpConn,
        head: &rocserv_proto::http::RequestHead,
        cert: Option<&'a CertIdentity>,
    ) -> LoginStart<'a> {
        let url = self.url_group(&head.path);
        LoginStart {
            real_ip: conn.peer.ip(),
            cert,
            url_group: url.is_some(),
            group: url,
        }
    }

    /// Sends the answer of a login step; false when the connection is over.
    async fn reply(&self, conn: &mut HttpConn, outcome: AuthOutcome) -> bool {
        match outcome {
            AuthOutcome::Continue(r) => conn.send(&r).await.is_ok(),
            AuthOutcome::Authenticated(r) => {
                // The client usually sends CONNECT on this connection next.
                conn.deadline = tokio::time::Instant::now()
                    + Duration::from_secs(u64::from(self.cfg.auth_timeout.max(1)));
                conn.send(&r).await.is_ok()
            }
            AuthOutcome::Close(r) => {
                conn.close_with(Some(&r)).await;
                false
            }
        }
    }

    /// The identity in the client certificate of this connection, if one was presented and
    /// verified by the TLS layer; a certificate whose names are unusable is logged and ignored.
    pub fn peer_cert(&self, conn: &HttpConn) -> Option<CertIdentity> {
        if !self.plan.uses_certificates() {
            return None;
        }
        let leaf = conn.tls.get_ref().1.peer_certificates()?.first()?;
        let user_oid = self.cfg.cert_user_oid.as_deref()?;
        match crate::certauth::identity(leaf.as_ref(), user_oid, self.cfg.cert_group_oid.as_deref())
        {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(ip = %conn.peer.ip(), "client certificate not usable: {e}");
                None
            }
        }
    }

    /// Ends every tunnel (server shutdown) and waits a bounded time for them to go away.
    pub async fn shutdown(&self, limit: Duration) {
        let waits = self.sessions.stop_all(StopReason::Shutdown);
        let all = async {
            for mut w in waits {
                let _ = w.wait_for(|d| *d).await;
            }
        };
        let _ = tokio::time::timeout(limit, all).await;
    }
}

/// Turns `::ffff:a.b.c.d` into `a.b.c.d` so that logs and scripts see plain IPv4 addresses.
fn normalise(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}
