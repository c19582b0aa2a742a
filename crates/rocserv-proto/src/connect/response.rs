//! The `HTTP/1.1 200 CONNECTED` reply and its refusals.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::fmt::Write as _;

use ipnet::IpNet;

use crate::http::{strip_crlf, Response};

/// openconnect accepts at most this many DNS servers (IPv4 and IPv6 share the slots).
pub const MAX_DNS_SERVERS: usize = 3;
/// At most this many NBNS (WINS) servers are sent.
pub const MAX_NBNS_SERVERS: usize = 3;

/// How the client should rekey the CSTP channel (`X-CSTP-Rekey-Method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyMethod {
    /// `new-tunnel`: reconnect with the cookie.
    NewTunnel,
    /// `ssl`: TLS renegotiation / key update on the live connection.
    Ssl,
    /// `none`.
    None,
}

impl RekeyMethod {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            RekeyMethod::NewTunnel => "new-tunnel",
            RekeyMethod::Ssl => "ssl",
            RekeyMethod::None => "none",
        }
    }
}

/// Everything the `200 CONNECTED` reply announces (protocol.md §3.3–3.4).
///
/// With `dtls` set, the `X-DTLS-*` headers follow `X-CSTP-License` (before `X-CSTP-Base-MTU`),
/// as ocserv sends them; without it no `X-DTLS-*` header is sent and the client stays on CSTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelParams {
    /// `X-CSTP-Server-Name`.
    pub server_name: String,
    /// `X-CSTP-Hostname`: the client host name the server accepted.
    pub hostname: Option<String>,
    /// `X-CSTP-Address` + `X-CSTP-Netmask`.
    pub ipv4: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The client's IPv6 address and prefix length.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    /// Client sent `X-CSTP-Full-IPv6-Capability: true`: use `X-CSTP-Address-IP6` and the
    /// `-IP6` route headers; otherwise the legacy `X-CSTP-Address` / `X-CSTP-Netmask` pair.
    pub full_ipv6: bool,
    /// `X-CSTP-DNS`, at most 3 sent (only for families with an address).
    pub dns: Vec<IpAddr>,
    /// `X-CSTP-NBNS` (IPv4 only, at most 3).
    pub nbns: Vec<IpAddr>,
    /// `X-CSTP-Default-Domain`.
    pub default_domain: Option<String>,
    /// `X-CSTP-Split-DNS`, one header per domain.
    pub split_dns: Vec<String>,
    /// `X-CSTP-Split-Include[-IP6]`; empty means "tunnel everything".
    pub split_include: Vec<IpNet>,
    /// `X-CSTP-Split-Exclude[-IP6]`.
    pub split_exclude: Vec<IpNet>,
    /// `X-CSTP-Tunnel-All-DNS` (forced true when no include route is sent).
    pub tunnel_all_dns: bool,
    /// `X-CSTP-Keepalive`, seconds.
    pub keepalive: u32,
    /// `X-CSTP-DPD`, seconds.
    pub dpd: u32,
    /// `X-CSTP-Idle-Timeout` (`none` when absent).
    pub idle_timeout: Option<u32>,
    /// `X-CSTP-Session-Timeout` (`none` when absent).
    pub session_timeout: Option<u32>,
    /// `X-CSTP-Session-Timeout-Remaining` (omitted when absent).
    pub session_timeout_remaining: Option<u32>,
    /// `X-CSTP-Rekey-Time`, seconds.
    pub rekey_time: u32,
    /// `X-CSTP-Rekey-Method`.
    pub rekey_method: RekeyMethod,
    /// `X-CSTP-Base-MTU`: the link MTU.
    pub base_mtu: u16,
    /// `X-CSTP-MTU`: the data (tunnel) MTU.
    pub mtu: u16,
    /// `X-CSTP-Banner` (sent on one line).
    pub banner: Option<String>,
    /// The DTLS channel offered, if any.
    pub dtls: Option<crate::dtls::DtlsParams>,
}

fn header(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let value = value.to_string();
    let _ = write!(out, "{name}: {}\r\n", strip_crlf(&value));
}

/// Formats an IPv4 route as ocserv does: `network/dotted-mask`, host bits zeroed.
fn ipv4_route(net: &ipnet::Ipv4Net) -> String {
    let net = net.trunc();
    format!("{}/{}", net.network(), net.netmask())
}

fn ipv6_route(net: &ipnet::Ipv6Net) -> String {
    let net = net.trunc();
    format!("{}/{}", net.network(), net.prefix_len())
}

/// Writes route headers (`base` = `X-CSTP-Split-Include` or `X-CSTP-Split-Exclude`) for the
/// address families the client has. Returns how many were written.
fn routes(out: &mut String, base: &str, nets: &[IpNet], p: &TunnelParams) -> usize {
    let mut n = 0;
    for net in nets {
        match net {
            IpNet::V4(v4) if p.ipv4.is_some() => header(out, base, ipv4_route(v4)),
            IpNet::V6(v6) if p.ipv6.is_some() => {
                let name = if p.full_ipv6 {
                    format!("{base}-IP6")
                } else {
                    base.to_owned()
                };
                header(out, &name, ipv6_route(v6));
            }
            _ => continue,
        }
        n += 1;
    }
    n
}

fn timeout(v: Option<u32>) -> String {
    v.map_or_else(|| "none".to_owned(), |n| n.to_string())
}

fn family_offered(p: &TunnelParams, addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(_) => p.ipv4.is_some(),
        IpAddr::V6(_) => p.ipv6.is_some(),
    }
}

/// Appends the `HTTP/1.1 200 CONNECTED` head (through the blank line) to `out`. Header names
/// and order follow ocserv exactly; values are stripped of CR/LF. Routes, DNS and NBNS are
/// only sent for address families the client was given an address in. No `Content-Length`:
/// CSTP frames follow the blank line.
pub fn render_connect_response(p: &TunnelParams, out: &mut Vec<u8>) {
    let mut h = String::with_capacity(1024);
    h.push_str("HTTP/1.1 200 CONNECTED\r\n");
    header(&mut h, "X-CSTP-Version", 1);
    header(&mut h, "X-CSTP-Server-Name", &p.server_name);
    if let Some(hostname) = &p.hostname {
        header(&mut h, "X-CSTP-Hostname", hostname);
    }
    header(&mut h, "X-CSTP-DPD", p.dpd);
    if let Some(domain) = &p.default_domain {
        header(&mut h, "X-CSTP-Default-Domain", domain);
    }
    if let Some((addr, mask)) = p.ipv4 {
        header(&mut h, "X-CSTP-Address", addr);
        header(&mut h, "X-CSTP-Netmask", mask);
    }
    if let Some((addr, prefix)) = p.ipv6 {
        let prefix = prefix.min(128);
        if p.full_ipv6 {
            header(&mut h, "X-CSTP-Address-IP6", format!("{addr}/{prefix}"));
        } else {
            let network = ipnet::Ipv6Net::new(addr, prefix)
                .map(|n| n.network())
                .unwrap_or(addr);
            header(&mut h, "X-CSTP-Address", addr);
            header(&mut h, "X-CSTP-Netmask", format!("{network}/{prefix}"));
        }
    }
    for dns in p
        .dns
        .iter()
        .filter(|a| family_offered(p, a))
        .take(MAX_DNS_SERVERS)
    {
        header(&mut h, "X-CSTP-DNS", dns);
    }
    for nbns in p
        .nbns
        .iter()
        .filter(|a| a.is_ipv4() && family_offered(p, a))
        .take(MAX_NBNS_SERVERS)
    {
        header(&mut h, "X-CSTP-NBNS", nbns);
    }
    for domain in &p.split_dns {
        header(&mut h, "X-CSTP-Split-DNS", domain);
    }
    let includes = routes(&mut h, "X-CSTP-Split-Include", &p.split_include, p);
    let all_dns = includes == 0 || p.tunnel_all_dns;
    header(&mut h, "X-CSTP-Tunnel-All-DNS", all_dns);
    header(&mut h, "X-CSTP-Client-Bypass-Protocol", false);
    routes(&mut h, "X-CSTP-Split-Exclude", &p.split_exclude, p);
    header(&mut h, "X-CSTP-Keepalive", p.keepalive);
    header(&mut h, "X-CSTP-Idle-Timeout", timeout(p.idle_timeout));
    header(&mut h, "X-CSTP-Smartcard-Removal-Disconnect", true);
    header(&mut h, "X-CSTP-Rekey-Time", p.rekey_time);
    header(&mut h, "X-CSTP-Rekey-Method", p.rekey_method.as_str());
    header(&mut h, "X-CSTP-Session-Timeout", timeout(p.session_timeout));
    if let Some(remaining) = p.session_timeout_remaining {
        header(&mut h, "X-CSTP-Session-Timeout-Remaining", remaining);
    }
    header(&mut h, "X-CSTP-Disconnected-Timeout", "none");
    header(&mut h, "X-CSTP-Keep", true);
    header(&mut h, "X-CSTP-TCP-Keepalive", true);
    header(&mut h, "X-CSTP-License", "accept");
    if let Some(d) = &p.dtls {
        dtls_headers(&mut h, d);
    }
    header(&mut h, "X-CSTP-Base-MTU", p.base_mtu);
    header(&mut h, "X-CSTP-MTU", p.mtu);
    if let Some(banner) = &p.banner {
        let one_line: String = banner
            .replace("\r\n", " ")
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        header(&mut h, "X-CSTP-Banner", one_line.trim_end());
    }
    h.push_str("\r\n");
    out.extend_from_slice(h.as_bytes());
}

/// The `X-DTLS-*` block (protocol.md §3.3–3.4, §5.1). No `X-DTLS-Rekey-Method`: DTLS keys change
/// when the CSTP side reconnects.
fn dtls_headers(h: &mut String, d: &crate::dtls::DtlsParams) {
    use crate::dtls::{hex_id, DtlsMode, HeaderFamily};
    header(h, "X-DTLS-DPD", d.dpd);
    header(h, "X-DTLS-Port", d.port);
    header(h, "X-DTLS-Keepalive", d.keepalive);
    match &d.mode {
        DtlsMode::Psk => {
            header(h, "X-DTLS-App-ID", hex_id(&d.id));
            header(h, "X-DTLS-CipherSuite", "PSK-NEGOTIATE");
        }
        DtlsMode::Legacy12 { name, family, .. } => {
            header(h, "X-DTLS-Session-ID", hex_id(&d.id));
            header(h, family.header_name(), name);
            header(h, "X-DTLS-MTU", d.mtu);
        }
        DtlsMode::Dtls09 { name, .. } => {
            header(h, "X-DTLS-Session-ID", hex_id(&d.id));
            header(h, HeaderFamily::DtlsCipherSuite.header_name(), name);
            header(h, "X-DTLS-MTU", d.mtu);
        }
    }
}

/// Appends a refusal of the `CONNECT` (`401 Cookie is not acceptable`,
/// `503 Service Unavailable` + `X-Reason`, `404 Not Found`), always with
/// `Content-Length: 0`. The caller closes the connection afterwards.
pub fn render_connect_refusal(
    status: u16,
    reason: &str,
    x_reason: Option<&str>,
    out: &mut Vec<u8>,
) {
    let mut response = Response::new(status, reason);
    if let Some(x_reason) = x_reason {
        response = response.header("X-Reason", x_reason);
    }
    response.write_to(out);
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
