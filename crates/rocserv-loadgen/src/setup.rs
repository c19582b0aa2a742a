//! Establishing one session: TCP, TLS, the XML authentication, CONNECT and (optionally) the
//! DTLS handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore as _;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

use crate::dtls::{psk_context, DtlsChannel};
use crate::form::{fill, parse_auth_doc, AuthDoc};
use crate::http::{
    auth_reply_request, connect_request, head_end, init_request, parse_response_head,
    ConnectParams, ResponseHead, MAX_HEAD,
};
use crate::tunnel::{parse_connect_reply, TunnelParams};
use rocserv_proto::cstp::{write_frame, FrameReader, PacketType, HEADER_LEN, MAX_PAYLOAD};

/// Payload of the DPD request that ends the setup.
pub const READY_PROBE: &[u8] = b"rocserv-loadgen-ready";

/// Most auth round trips before we give up (ocserv: username, password).
const MAX_ROUNDS: usize = 6;

/// Why a session could not be established; `as_str` is the report key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// TCP connect failed.
    TcpConnect,
    /// TLS handshake failed.
    TlsHandshake,
    /// Broken HTTP (bad response, connection closed).
    Http,
    /// Credentials refused (401/403 or the password form asked again).
    AuthRejected,
    /// Authentication completed without a `webvpn` cookie.
    NoCookie,
    /// CONNECT answered with this status.
    ConnectRefused(u16),
    /// A `200` CONNECT reply we cannot use.
    BadConnectReply,
    /// The overall or per-step time limit.
    Timeout,
    /// The tunnel closed or broke before its first DPD was answered.
    TunnelClosed,
}

impl Failure {
    /// Stable name for reports.
    pub fn as_str(&self) -> String {
        match self {
            Failure::TcpConnect => "tcp_connect".into(),
            Failure::TlsHandshake => "tls_handshake".into(),
            Failure::Http => "http".into(),
            Failure::AuthRejected => "auth_rejected".into(),
            Failure::NoCookie => "no_cookie".into(),
            Failure::ConnectRefused(s) => format!("connect_refused_{s}"),
            Failure::BadConnectReply => "bad_connect_reply".into(),
            Failure::Timeout => "timeout".into(),
            Failure::TunnelClosed => "tunnel_closed".into(),
        }
    }
}

/// Settings shared by every session.
pub struct Target {
    /// TCP address of the server.
    pub server: SocketAddr,
    /// `Host:` header value.
    pub host: String,
    /// URL path of the first POST.
    pub path: String,
    /// The URL as typed (`<group-access>`).
    pub url: String,
    /// TLS configuration.
    pub tls: Arc<ClientConfig>,
    /// User name.
    pub user: String,
    /// Password (secret).
    pub password: Zeroizing<String>,
    /// Request DTLS.
    pub dtls: bool,
    /// Per-step time limit.
    pub step_timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("dtls", &self.dtls)
            .finish_non_exhaustive()
    }
}

/// DTLS state of one session after setup.
#[derive(Debug)]
pub enum DtlsState {
    /// `--no-dtls`.
    NotRequested,
    /// The server offered no PSK DTLS (carries the other cipher, if any).
    NotOffered(Option<String>),
    /// Handshake failed.
    Failed(String),
    /// Up.
    Up(DtlsChannel),
}

/// A session with its tunnel up.
pub struct Established {
    /// The TLS stream, now carrying CSTP.
    pub tls: TlsStream<TcpStream>,
    /// The CSTP receive buffer (may hold frames that arrived during setup).
    pub reader: FrameReader,
    /// The parsed reply.
    pub params: TunnelParams,
    /// DTLS channel state.
    pub dtls: DtlsState,
    /// Time from TCP connect to the CONNECT reply.
    pub cstp_setup: Duration,
    /// Time from TCP connect to the end of setup: DTLS up (or failed) and the first CSTP DPD
    /// answered, i.e. the server's tunnel loop runs.
    pub setup: Duration,
}

/// Reads one response (head + Content-Length body) from `tls`, keeping extra bytes in `buf`.
async fn read_response(
    tls: &mut TlsStream<TcpStream>,
    buf: &mut Vec<u8>,
    with_body: bool,
) -> Result<(ResponseHead, String), Failure> {
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(e) = head_end(buf) {
            break e;
        }
        if buf.len() > MAX_HEAD {
            return Err(Failure::Http);
        }
        let n = tls.read(&mut chunk).await.map_err(|_| Failure::Http)?;
        if n == 0 {
            return Err(Failure::Http);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head =
        parse_response_head(buf.get(..end).unwrap_or_default()).map_err(|_| Failure::Http)?;
    buf.drain(..end);
    if !with_body {
        return Ok((head, String::new()));
    }
    let len = head.content_length().map_err(|_| Failure::Http)?;
    while buf.len() < len {
        let n = tls.read(&mut chunk).await.map_err(|_| Failure::Http)?;
        if n == 0 {
            return Err(Failure::Http);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let body = String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned();
    buf.drain(..len);
    Ok((head, body))
}

/// Records every `Set-Cookie` of `head` (an empty value deletes).
fn store_cookies(jar: &mut Vec<(String, String)>, head: &ResponseHead) {
    for (name, value) in head.set_cookies() {
        jar.retain(|(n, _)| n != name);
        if !value.is_empty() {
            jar.push((name.to_owned(), value.to_owned()));
        }
    }
}

/// TLS + the XML authentication; returns the stream and the `webvpn` cookie.
async fn authenticate(
    t: &Target,
    buf: &mut Vec<u8>,
) -> Result<(TlsStream<TcpStream>, Zeroizing<String>), Failure> {
    let tcp = TcpStream::connect(t.server)
        .await
        .map_err(|_| Failure::TcpConnect)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::IpAddress(t.server.ip().into());
    let mut tls = TlsConnector::from(Arc::clone(&t.tls))
        .connect(name, tcp)
        .await
        .map_err(|_| Failure::TlsHandshake)?;
    let mut jar: Vec<(String, String)> = Vec::new();
    let mut req = init_request(&t.host, &t.path, &t.url);
    let mut passwords_sent = 0;
    for _ in 0..MAX_ROUNDS {
        tls.write_all(&req).await.map_err(|_| Failure::Http)?;
        tls.flush().await.map_err(|_| Failure::Http)?;
        let (head, body) = read_response(&mut tls, buf, true).await?;
        match head.status {
            200 => {}
            401 | 403 => return Err(Failure::AuthRejected),
            _ => return Err(Failure::Http),
        }
        store_cookies(&mut jar, &head);
        match parse_auth_doc(&body).map_err(|_| Failure::Http)? {
            AuthDoc::Complete { session_token } => {
                let cookie = jar
                    .iter()
                    .find(|(n, _)| n == "webvpn")
                    .map(|(_, v)| v.clone())
                    .or(session_token)
                    .ok_or(Failure::NoCookie)?;
                return Ok((tls, Zeroizing::new(cookie)));
            }
            AuthDoc::Form {
                action,
                inputs,
                opaque,
                ..
            } => {
                if inputs.iter().any(|i| i.kind == "password") {
                    if passwords_sent > 0 {
                        return Err(Failure::AuthRejected);
                    }
                    passwords_sent += 1;
                }
                let fields = fill(&inputs, &t.user, &t.password).ok_or(Failure::Http)?;
                req = auth_reply_request(&t.host, &action, &jar, &fields, opaque.as_deref());
            }
        }
    }
    Err(Failure::AuthRejected)
}

/// Sends a CSTP DPD request and waits for its answer: the server's tunnel loop runs. Other
/// frames arriving meanwhile are dropped (a server DPD request is answered).
async fn first_dpd(
    tls: &mut TlsStream<TcpStream>,
    reader: &mut FrameReader,
) -> Result<(), Failure> {
    let mut out = Vec::with_capacity(HEADER_LEN + READY_PROBE.len());
    write_frame(&mut out, PacketType::DpdReq, READY_PROBE).map_err(|_| Failure::Http)?;
    tls.write_all(&out)
        .await
        .map_err(|_| Failure::TunnelClosed)?;
    tls.flush().await.map_err(|_| Failure::TunnelClosed)?;
    loop {
        let mut answer = None;
        loop {
            match reader.next_frame() {
                Ok(Some(f)) if f.ty == PacketType::DpdResp && f.payload == READY_PROBE => {
                    return Ok(())
                }
                Ok(Some(f)) if f.ty == PacketType::DpdReq => answer = Some(f.payload.to_vec()),
                Ok(Some(f)) if matches!(f.ty, PacketType::Disconnect | PacketType::Terminate) => {
                    return Err(Failure::TunnelClosed)
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return Err(Failure::TunnelClosed),
            }
        }
        if let Some(p) = answer {
            out.clear();
            write_frame(&mut out, PacketType::DpdResp, &p).map_err(|_| Failure::Http)?;
            tls.write_all(&out)
                .await
                .map_err(|_| Failure::TunnelClosed)?;
            tls.flush().await.map_err(|_| Failure::TunnelClosed)?;
        }
        let n = tls
            .read(reader.spare())
            .await
            .map_err(|_| Failure::TunnelClosed)?;
        if n == 0 {
            return Err(Failure::TunnelClosed);
        }
        reader.filled(n);
    }
}

/// Runs the whole setup of session `idx`.
pub async fn establish(t: &Target, idx: usize) -> Result<Established, Failure> {
    let t0 = Instant::now();
    let mut buf = Vec::with_capacity(4096);
    let (mut tls, cookie) = tokio::time::timeout(t.step_timeout, authenticate(t, &mut buf))
        .await
        .map_err(|_| Failure::Timeout)??;
    let mut master = Zeroizing::new([0u8; 48]);
    rand::thread_rng().fill_bytes(&mut master[..]);
    let hostname = format!("lg{idx}");
    let req = connect_request(&ConnectParams {
        host: &t.host,
        cookie: &cookie,
        hostname: &hostname,
        base_mtu: 1500,
        mtu: 1406,
        dtls_master: t.dtls.then_some(&*master),
    });
    let reply = async {
        tls.write_all(&req).await.map_err(|_| Failure::Http)?;
        tls.flush().await.map_err(|_| Failure::Http)?;
        read_response(&mut tls, &mut buf, false).await
    };
    let (head, _) = tokio::time::timeout(t.step_timeout, reply)
        .await
        .map_err(|_| Failure::Timeout)??;
    let params = parse_connect_reply(&head).map_err(|e| match e {
        crate::tunnel::ReplyError::Refused { status, .. } => Failure::ConnectRefused(status),
        _ => Failure::BadConnectReply,
    })?;
    let cstp_setup = t0.elapsed();
    let dtls = if !t.dtls {
        DtlsState::NotRequested
    } else if let Some(d) = &params.dtls {
        let mut key = Zeroizing::new([0u8; 32]);
        match tls.get_ref().1.export_keying_material(
            &mut key[..],
            b"EXPORTER-openconnect-psk",
            None,
        ) {
            Err(e) => DtlsState::Failed(format!("exporter: {e}")),
            Ok(_) => {
                let server = SocketAddr::new(t.server.ip(), d.port);
                let r = match psk_context(&key) {
                    Ok(ctx) => {
                        DtlsChannel::connect(&ctx, &d.app_id, server, 1500, t.step_timeout).await
                    }
                    Err(e) => Err(e),
                };
                match r {
                    Ok(ch) => DtlsState::Up(ch),
                    Err(e) => DtlsState::Failed(e.to_string()),
                }
            }
        }
    } else {
        DtlsState::NotOffered(params.other_dtls_cipher.clone())
    };
    let mut reader = FrameReader::new(HEADER_LEN + MAX_PAYLOAD);
    let pre = buf.len().min(reader.spare().len());
    if let (Some(dst), Some(src)) = (reader.spare().get_mut(..pre), buf.get(..pre)) {
        dst.copy_from_slice(src);
    }
    reader.filled(pre);
    tokio::time::timeout(t.step_timeout, first_dpd(&mut tls, &mut reader))
        .await
        .map_err(|_| Failure::Timeout)??;
    Ok(Established {
        tls,
        reader,
        params,
        dtls,
        cstp_setup,
        setup: t0.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_replaced_and_deleted_like_openconnect() {
        let head = |raw: &str| match parse_response_head(raw.as_bytes()) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        };
        let mut jar = Vec::new();
        store_cookies(
            &mut jar,
            &head("HTTP/1.1 200 OK\r\nSet-Cookie: webvpncontext=a; Secure\r\nSet-Cookie: webvpnc=; path=/\r\n\r\n"),
        );
        assert_eq!(jar, vec![("webvpncontext".to_owned(), "a".to_owned())]);
        store_cookies(
            &mut jar,
            &head("HTTP/1.1 200 OK\r\nSet-Cookie: webvpncontext=b\r\nSet-Cookie: webvpn=C\r\n\r\n"),
        );
        assert_eq!(
            jar,
            vec![
                ("webvpncontext".to_owned(), "b".to_owned()),
                ("webvpn".to_owned(), "C".to_owned())
            ]
        );
        store_cookies(
            &mut jar,
            &head("HTTP/1.1 200 OK\r\nSet-Cookie: webvpn=; expires=x\r\n\r\n"),
        );
        assert_eq!(jar, vec![("webvpncontext".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn failure_names_are_stable_report_keys() {
        assert_eq!(Failure::ConnectRefused(503).as_str(), "connect_refused_503");
        assert_eq!(Failure::AuthRejected.as_str(), "auth_rejected");
        let t = format!(
            "{:?}",
            Target {
                server: "10.0.0.1:443".parse().unwrap_or_else(|_| panic!("addr")),
                host: "h".into(),
                path: "/".into(),
                url: "https://10.0.0.1/".into(),
                tls: match crate::tls::client_config(&crate::tls::ServerAuth::Pin([0; 32])) {
                    Ok(c) => c,
                    Err(e) => panic!("{e}"),
                },
                user: "u".into(),
                password: Zeroizing::new("hunter2".into()),
                dtls: true,
                step_timeout: Duration::from_secs(1),
            }
        );
        assert!(!t.contains("hunter2"), "{t}");
    }
}
