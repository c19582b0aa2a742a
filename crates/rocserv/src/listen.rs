//! Listening sockets for TCP (HTTPS/CSTP) and UDP (DTLS): one place resolves the configured host,
//! makes the wildcard dual-stack and names the option in errors. Runs before daemonising so that
//! a port already in use is reported on the terminal.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs as _};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `host:port` (every address, dual-stack, when `host` is None). `options` names the
/// configuration options for error messages (e.g. "tcp-port/listen-host"); `prepare` sets
/// socket options before the bind.
pub fn bind(
    host: Option<&str>,
    port: u16,
    ty: Type,
    options: &str,
    prepare: impl Fn(&Socket) -> io::Result<()>,
) -> io::Result<Vec<Socket>> {
    let addrs: Vec<SocketAddr> = match host {
        Some(h) => (h, port)
            .to_socket_addrs()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{options}: '{h}' cannot be resolved: {e}"),
                )
            })?
            .collect(),
        None => vec![SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)],
    };
    let protocol = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let mut out = Vec::new();
    for addr in addrs {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, ty, Some(protocol))?;
        if addr.is_ipv6() {
            // The wildcard also accepts IPv4 (v4-mapped addresses are normalised per peer).
            sock.set_only_v6(!addr.ip().is_unspecified())?;
        }
        sock.set_nonblocking(true)?;
        prepare(&sock)?;
        sock.bind(&addr.into()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} ({options}): {e}"),
            )
        })?;
        out.push(sock);
    }
    Ok(out)
}
