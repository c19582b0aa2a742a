//! Typed value parsers. Each one names what it expected in its error.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{show, ConfigError};
use crate::ini::Entry;

/// An entry being interpreted: where it is and how to complain about it.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub line: usize,
    pub key: &'a str,
    pub value: &'a str,
    pub continuation: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, entry: &'a Entry) -> Self {
        Self {
            file,
            line: entry.line,
            key: &entry.key,
            value: &entry.value,
            continuation: entry.continuation,
        }
    }

    /// `expected <what>, got '<value>'` (plus a hint for continuation lines).
    pub fn expected(&self, what: &str) -> ConfigError {
        let mut msg = format!("expected {what}, got '{}'", show(self.value));
        if self.continuation {
            msg.push_str(&format!(
                " (this indented line is read as a continuation of '{}'; \
                 remove the indentation)",
                self.key
            ));
        }
        ConfigError::at(self.file, self.line, self.key, msg)
    }

    /// Any other message about this entry.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.line, self.key, message)
    }
}

/// A secure-by-default boolean: `true`/`yes` or `false`/`no`, case-insensitive.
pub(crate) fn boolean(c: &Ctx<'_>) -> Result<bool, ConfigError> {
    let v = c.value;
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err(c.expected("a boolean (true/yes or false/no)"))
    }
}

/// A plain decimal number in `lo..=hi`.
pub(crate) fn number(c: &Ctx<'_>, lo: u64, hi: u64) -> Result<u64, ConfigError> {
    let what = if hi == u64::from(u32::MAX) && lo == 0 {
        "a whole number of 0..4294967295".to_owned()
    } else {
        format!("a whole number of {lo}..{hi}")
    };
    let v = c.value;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(c.expected(&what));
    }
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(c.expected(&what)),
    }
}

/// A `u32` (seconds, counts).
pub(crate) fn u32_value(c: &Ctx<'_>) -> Result<u32, ConfigError> {
    let n = number(c, 0, u64::from(u32::MAX))?;
    u32::try_from(n).map_err(|_| c.expected("a whole number of 0..4294967295"))
}

/// A `u32` in a range.
pub(crate) fn u32_in(c: &Ctx<'_>, lo: u32, hi: u32) -> Result<u32, ConfigError> {
    let n = number(c, u64::from(lo), u64::from(hi))?;
    u32::try_from(n).map_err(|_| c.expected("a number"))
}

/// A TCP/UDP port; `allow_zero` for `udp-port` (0 = DTLS off).
pub(crate) fn port(c: &Ctx<'_>, allow_zero: bool) -> Result<u16, ConfigError> {
    let lo = u64::from(!allow_zero);
    let n = number(c, lo, 65535).map_err(|_| {
        c.expected(if allow_zero {
            "a port number 0..65535 (0 disables DTLS)"
        } else {
            "a port number 1..65535"
        })
    })?;
    u16::try_from(n).map_err(|_| c.expected("a port number"))
}

/// A non-empty string.
pub(crate) fn text(c: &Ctx<'_>, what: &str) -> Result<String, ConfigError> {
    if c.value.is_empty() {
        return Err(c.expected(what));
    }
    Ok(c.value.to_owned())
}

/// A non-empty path, kept as written (relative paths are relative to the working directory).
pub(crate) fn path(c: &Ctx<'_>) -> Result<PathBuf, ConfigError> {
    if c.value.is_empty() {
        return Err(c.expected("a file path"));
    }
    Ok(PathBuf::from(c.value))
}

/// An IPv4 or IPv6 address.
pub(crate) fn ip(c: &Ctx<'_>) -> Result<IpAddr, ConfigError> {
    c.value
        .parse::<IpAddr>()
        .map_err(|_| c.expected("an IPv4 or IPv6 address"))
}

/// A dotted IPv4 netmask with contiguous ones -> prefix length.
pub(crate) fn netmask_len(mask: &str) -> Option<u8> {
    let m = u32::from(mask.parse::<Ipv4Addr>().ok()?);
    let len = m.leading_ones();
    if m.checked_shl(len).unwrap_or(0) != 0 {
        return None;
    }
    u8::try_from(len).ok()
}

/// An IPv4 prefix written as a length (`24`) or a dotted mask (`255.255.255.0`).
pub(crate) fn ipv4_prefix(s: &str) -> Option<u8> {
    if s.contains('.') {
        netmask_len(s)
    } else if !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u8>().ok().filter(|n| *n <= 32)
    } else {
        None
    }
}

fn ipv6_prefix(s: &str) -> Option<u8> {
    if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u8>().ok().filter(|n| *n <= 128)
    } else {
        None
    }
}

/// A route as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The network (host bits cleared).
    pub net: IpNet,
    /// Exactly as configured, e.g. `10.1.0.0/255.255.0.0`.
    pub text: String,
}

/// Result of parsing a `route`/`no-route` value.
pub(crate) enum Route {
    /// `default` or `0.0.0.0/0`.
    Default,
    /// A network; `true` when host bits had to be cleared.
    Net(RouteSpec, bool),
}

const ROUTE_EXPECTED: &str =
    "a network as ADDR/MASK (10.0.0.0/255.0.0.0), ADDR/LEN (10.0.0.0/8, fd00::/48) or 'default'";

/// Parses `a.b.c.d/m.m.m.m`, `a.b.c.d/N`, `ipv6/N` or `default`.
pub(crate) fn route(c: &Ctx<'_>) -> Result<Route, ConfigError> {
    let v = c.value;
    if v.eq_ignore_ascii_case("default") {
        return Ok(Route::Default);
    }
    let (addr, prefix) = v
        .split_once('/')
        .ok_or_else(|| c.expected(ROUTE_EXPECTED))?;
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| c.expected(ROUTE_EXPECTED))?;
    let prefix = prefix.trim();
    let net = match addr {
        IpAddr::V4(a) => {
            let len = ipv4_prefix(prefix).ok_or_else(|| c.expected(ROUTE_EXPECTED))?;
            IpNet::V4(Ipv4Net::new(a, len).map_err(|_| c.expected(ROUTE_EXPECTED))?)
        }
        IpAddr::V6(a) => {
            let len = ipv6_prefix(prefix).ok_or_else(|| c.expected(ROUTE_EXPECTED))?;
            IpNet::V6(Ipv6Net::new(a, len).map_err(|_| c.expected(ROUTE_EXPECTED))?)
        }
    };
    if net == IpNet::V4(Ipv4Net::default()) {
        return Ok(Route::Default);
    }
    let trunc = net.trunc();
    Ok(Route::Net(
        RouteSpec {
            net: trunc,
            text: v.to_owned(),
        },
        trunc != net,
    ))
}

/// An IPv4 pool: `a.b.c.d` (mask given separately) or `a.b.c.d/N` or `a.b.c.d/m.m.m.m`.
/// Returns the address and the prefix length if one was written.
pub(crate) fn ipv4_network(c: &Ctx<'_>) -> Result<(Ipv4Addr, Option<u8>), ConfigError> {
    const WHAT: &str = "an IPv4 network as a.b.c.d (with ipv4-netmask), a.b.c.d/N or \
                        a.b.c.d/m.m.m.m";
    let (addr, prefix) = match c.value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (c.value, None),
    };
    let addr: Ipv4Addr = addr.trim().parse().map_err(|_| c.expected(WHAT))?;
    let prefix = match prefix {
        Some(p) => Some(ipv4_prefix(p.trim()).ok_or_else(|| c.expected(WHAT))?),
        None => None,
    };
    Ok((addr, prefix))
}

/// An IPv6 pool: `addr/N`, or `addr` with `ipv6-prefix`.
pub(crate) fn ipv6_network(c: &Ctx<'_>) -> Result<(std::net::Ipv6Addr, Option<u8>), ConfigError> {
    const WHAT: &str = "an IPv6 network as ADDR/LEN (e.g. fda9:4efe:7e3b:03ea::/48)";
    let (addr, prefix) = match c.value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (c.value, None),
    };
    let addr: std::net::Ipv6Addr = addr.trim().parse().map_err(|_| c.expected(WHAT))?;
    let prefix = match prefix {
        Some(p) => Some(ipv6_prefix(p.trim()).ok_or_else(|| c.expected(WHAT))?),
        None => None,
    };
    Ok((addr, prefix))
}

/// `ipv4-netmask`: a dotted netmask with contiguous ones -> prefix length.
pub(crate) fn ipv4_netmask(c: &Ctx<'_>) -> Result<u8, ConfigError> {
    netmask_len(c.value).ok_or_else(|| c.expected("a dotted netmask such as 255.255.255.0"))
}

/// `ipv6-prefix`, `ipv6-subnet-prefix`: a prefix length 1..128.
pub(crate) fn ipv6_prefix_len(c: &Ctx<'_>) -> Result<u8, ConfigError> {
    let len = u32_in(c, 1, 128)?;
    u8::try_from(len).map_err(|_| c.expected("a prefix length of 1..128"))
}

/// `mtu`: 576..9000.
pub(crate) fn mtu(c: &Ctx<'_>) -> Result<u16, ConfigError> {
    let mtu = u32_in(c, 576, 9000)?;
    u16::try_from(mtu).map_err(|_| c.expected("a whole number of 576..9000"))
}

/// `dns`: a server address (the old keyword `local` is an error, as in ocserv).
pub(crate) fn dns(c: &Ctx<'_>) -> Result<IpAddr, ConfigError> {
    if c.value.eq_ignore_ascii_case("local") {
        return Err(c.error(
            "the value 'local' was removed from ocserv; give the DNS server's IP address instead",
        ));
    }
    ip(c)
}

/// An IPv4 address (`explicit-ipv4`).
pub(crate) fn ipv4_addr(c: &Ctx<'_>) -> Result<Ipv4Addr, ConfigError> {
    c.value
        .parse::<Ipv4Addr>()
        .map_err(|_| c.expected("an IPv4 address such as 10.10.0.5"))
}

/// An IPv6 address (`explicit-ipv6`).
pub(crate) fn ipv6_addr(c: &Ctx<'_>) -> Result<std::net::Ipv6Addr, ConfigError> {
    c.value
        .parse::<std::net::Ipv6Addr>()
        .map_err(|_| c.expected("an IPv6 address such as fd00::5"))
}

/// Longest host name ocserv accepts (`hostname`, `X-CSTP-Hostname`).
pub const MAX_HOSTNAME: usize = 63;

/// `hostname`: 1..63 characters of letters, digits, `-`, `_`, `.` (it reaches script
/// environments and HTTP headers, so nothing else is allowed).
pub(crate) fn hostname(c: &Ctx<'_>) -> Result<String, ConfigError> {
    let v = c.value;
    let ok = !v.is_empty()
        && v.len() <= MAX_HOSTNAME
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(c.expected("a host name of 1..63 characters (letters, digits, '-', '_', '.')"));
    }
    Ok(v.to_owned())
}

/// `net-priority`: what is set on the client's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetPriority {
    /// A decimal value 0..6: the socket priority (`SO_PRIORITY`).
    Priority(u8),
    /// A hexadecimal value `0x00`..`0xff`: the IP type-of-service byte (`IP_TOS`).
    Tos(u8),
}

/// Parses `net-priority`: `0`..`6` or `0xNN`.
pub(crate) fn net_priority(c: &Ctx<'_>) -> Result<NetPriority, ConfigError> {
    const WHAT: &str = "a socket priority 0..6, or a type-of-service byte in hex (0x00..0xff)";
    let v = c.value;
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        let ok = !hex.is_empty() && hex.len() <= 2 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(c.expected(WHAT));
        }
        return u8::from_str_radix(hex, 16)
            .map(NetPriority::Tos)
            .map_err(|_| c.expected(WHAT));
    }
    let n = number(c, 0, 6).map_err(|_| c.expected(WHAT))?;
    u8::try_from(n)
        .map(NetPriority::Priority)
        .map_err(|_| c.expected(WHAT))
}

/// A `no-route`/`iroute` value: a network, never `default`. Returns the route and whether
/// host bits were cleared.
pub(crate) fn network_route(c: &Ctx<'_>) -> Result<(RouteSpec, bool), ConfigError> {
    match route(c)? {
        Route::Default => Err(c.expected(&format!(
            "a network as ADDR/MASK or ADDR/LEN ('default' cannot be used with '{}')",
            c.key
        ))),
        Route::Net(spec, host_bits) => Ok((spec, host_bits)),
    }
}

/// The warning for a route whose host bits were cleared.
pub(crate) fn host_bits_message(c: &Ctx<'_>, net: &IpNet) -> String {
    format!(
        "{} '{}' has host bits set; using {net}",
        c.key,
        show(c.value)
    )
}

/// A group offered at login: `name` or `name[Label]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectGroup {
    /// The group name matched against the user's groups.
    pub name: String,
    /// What the login form shows (the name when no label was given).
    pub label: String,
}

/// Parses `name[Label]` or `name`.
pub(crate) fn select_group(c: &Ctx<'_>) -> Result<SelectGroup, ConfigError> {
    const WHAT: &str = "a group as NAME or NAME[Label]";
    let v = c.value;
    let (name, label) = match v.split_once('[') {
        None => (v, v),
        Some((name, rest)) => {
            let label = rest.strip_suffix(']').ok_or_else(|| c.expected(WHAT))?;
            (name.trim_end(), label.trim())
        }
    };
    if name.is_empty() || label.is_empty() || name.contains(']') {
        return Err(c.expected(WHAT));
    }
    Ok(SelectGroup {
        name: name.to_owned(),
        label: label.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(value: &str) -> Ctx<'_> {
        Ctx {
            file: Path::new("t.conf"),
            line: 1,
            key: "k",
            value,
            continuation: false,
        }
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "Yes", "yes"] {
            assert!(boolean(&ctx(t)).unwrap());
        }
        for f in ["false", "No", "NO"] {
            assert!(!boolean(&ctx(f)).unwrap());
        }
        for bad in ["1", "on", "", "maybe"] {
            let e = boolean(&ctx(bad)).unwrap_err();
            assert!(e.message.contains("expected a boolean"), "{e}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(u32_value(&ctx("4294967295")).unwrap(), u32::MAX);
        assert!(u32_value(&ctx("4294967296")).is_err());
        assert!(u32_value(&ctx("-1")).is_err());
        assert!(u32_value(&ctx("1e3")).is_err());
        assert!(u32_value(&ctx("")).is_err());
        assert_eq!(port(&ctx("443"), false).unwrap(), 443);
        assert!(port(&ctx("0"), false).is_err());
        assert_eq!(port(&ctx("0"), true).unwrap(), 0);
        assert!(port(&ctx("65536"), true).is_err());
        assert!(u32_in(&ctx("575"), 576, 9000).is_err());
        assert_eq!(u32_in(&ctx("1400"), 576, 9000).unwrap(), 1400);
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask_len("255.255.255.0"), Some(24));
        assert_eq!(netmask_len("0.0.0.0"), Some(0));
        assert_eq!(netmask_len("255.255.255.255"), Some(32));
        assert_eq!(netmask_len("255.0.255.0"), None);
        assert_eq!(ipv4_prefix("33"), None);
        assert_eq!(ipv4_prefix("8"), Some(8));
    }

    fn net(v: &str) -> (RouteSpec, bool) {
        match route(&ctx(v)) {
            Ok(Route::Net(r, host)) => (r, host),
            _ => (
                RouteSpec {
                    net: IpNet::default(),
                    text: "not a network".into(),
                },
                false,
            ),
        }
    }

    #[test]
    fn routes() {
        let (r, host) = net("10.1.0.0/255.255.0.0");
        assert_eq!(r.net, "10.1.0.0/16".parse::<IpNet>().unwrap());
        assert_eq!(r.text, "10.1.0.0/255.255.0.0");
        assert!(!host);
        let (r, host) = net("10.1.2.3/16");
        assert_eq!(r.net, "10.1.0.0/16".parse::<IpNet>().unwrap());
        assert_eq!(r.text, "10.1.2.3/16");
        assert!(host);
        let (r, _) = net("fd00::/48");
        assert_eq!(r.net, "fd00::/48".parse::<IpNet>().unwrap());
        assert!(matches!(route(&ctx("default")), Ok(Route::Default)));
        assert!(matches!(route(&ctx("0.0.0.0/0")), Ok(Route::Default)));
        assert!(matches!(route(&ctx("0.0.0.0/0.0.0.0")), Ok(Route::Default)));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "x/8",
            "10.0.0.0/255.0.255.0",
        ] {
            let e = route(&ctx(bad)).err().unwrap();
            assert!(e.message.starts_with("expected a network"), "{e}");
        }
    }

    #[test]
    fn select_groups() {
        let g = select_group(&ctx("admins[Administrators]")).unwrap();
        assert_eq!(
            (g.name.as_str(), g.label.as_str()),
            ("admins", "Administrators")
        );
        let g = select_group(&ctx("users")).unwrap();
        assert_eq!((g.name.as_str(), g.label.as_str()), ("users", "users"));
        assert!(select_group(&ctx("x[unterminated")).is_err());
        assert!(select_group(&ctx("[Label]")).is_err());
        assert!(select_group(&ctx("x[]")).is_err());
    }
}
