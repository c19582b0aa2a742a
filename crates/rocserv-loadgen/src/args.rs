//! Command line (openconnect's option names where they exist) and its validation.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::setup::Target;
use crate::tls::{client_config, ServerAuth, TlsSetupError};

/// rocserv-loadgen: many OpenConnect sessions from one process (no TUN devices).
#[derive(clap::Parser)]
#[command(version, about)]
pub struct Args {
    /// Server URL, https://IP[:PORT]/[PATH] (an IP address: no name resolution).
    #[arg(long)]
    url: String,
    /// Server key pin, pin-sha256:BASE64 (as openconnect --servercert).
    #[arg(long, conflicts_with = "cafile")]
    servercert: Option<String>,
    /// PEM file of CA certificates that verify the server.
    #[arg(long)]
    cafile: Option<String>,
    /// User name.
    #[arg(long)]
    user: String,
    /// Password (visible in the process list: use a test account).
    #[arg(long)]
    password: String,
    /// Sessions to establish.
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// Sessions being set up at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Bring up DTLS (PSK-NEGOTIATE) on every session (default).
    #[arg(long, overrides_with = "no_dtls")]
    dtls: bool,
    /// CSTP (TLS) only.
    #[arg(long)]
    no_dtls: bool,
    /// Seconds to hold every session after all were set up.
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// Client DPD interval in seconds instead of the server's X-CSTP-DPD.
    #[arg(long)]
    force_dpd: Option<u32>,
    /// ICMP echo requests per second per session (needs --target).
    #[arg(long, default_value_t = 0)]
    traffic_pps: u32,
    /// IPv4 address to ping through the tunnel.
    #[arg(long)]
    target: Option<Ipv4Addr>,
    /// Overall time limit in seconds (default: 120 + hold + probe spread + sessions/20).
    #[arg(long)]
    timeout: Option<u64>,
    /// Window in seconds over which the final DPD probes are spread after the hold.
    #[arg(long, default_value_t = 5)]
    probe_spread: u64,
    /// Per-step limit (auth, CONNECT, DTLS handshake) in seconds.
    #[arg(long, default_value_t = 30)]
    step_timeout: u64,
    /// Machine-readable summary (one JSON object on stdout).
    #[arg(long)]
    json: bool,
}

/// Invalid arguments.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// Usage error.
    #[error("{0}")]
    Usage(String),
    /// TLS setup error.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// Validated settings.
#[derive(Debug)]
pub struct Checked {
    /// Session target.
    pub target: Target,
    /// Sessions.
    pub sessions: usize,
    /// Concurrency.
    pub concurrency: usize,
    /// Hold time.
    pub hold: Duration,
    /// Client DPD override.
    pub force_dpd: Option<u32>,
    /// Pings per second per session.
    pub pps: u32,
    /// Ping target.
    pub ping_target: Option<Ipv4Addr>,
    /// Overall limit.
    pub timeout: Duration,
    /// Final probe spread.
    pub probe_spread: Duration,
    /// JSON output.
    pub json: bool,
}

/// `https://IP[:PORT][/PATH]` -> (address, Host value, path).
pub fn parse_url(url: &str) -> Result<(SocketAddr, String, String), ArgsError> {
    let bad = || ArgsError::Usage(format!("--url {url}: expected https://IP[:PORT]/[PATH]"));
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (
            rest.get(..i).unwrap_or_default(),
            rest.get(i..).unwrap_or("/"),
        ),
        None => (rest, "/"),
    };
    let (ip, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (ip, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if after.is_empty() => 443,
            None => return Err(bad()),
        };
        (ip.parse::<IpAddr>().map_err(|_| bad())?, port)
    } else {
        let (ip, port) = match authority.split_once(':') {
            Some((ip, p)) => (ip, p.parse::<u16>().map_err(|_| bad())?),
            None => (authority, 443),
        };
        (ip.parse::<IpAddr>().map_err(|_| bad())?, port)
    };
    if port == 0 {
        return Err(bad());
    }
    Ok((
        SocketAddr::new(ip, port),
        authority.to_owned(),
        path.to_owned(),
    ))
}

impl Args {
    /// Validates and builds the settings (including the TLS configuration).
    pub fn check(self) -> Result<Checked, ArgsError> {
        let (server, host, path) = parse_url(&self.url)?;
        let auth = match (&self.servercert, &self.cafile) {
            (Some(pin), None) => ServerAuth::pin(pin)?,
            (None, Some(ca)) => ServerAuth::CaFile(ca.clone()),
            _ => {
                return Err(ArgsError::Usage(
                    "give exactly one of --servercert pin-sha256:... and --cafile FILE".into(),
                ))
            }
        };
        if self.sessions == 0 || self.sessions > 1_000_000 {
            return Err(ArgsError::Usage("--sessions must be 1..=1000000".into()));
        }
        if self.concurrency == 0 {
            return Err(ArgsError::Usage("--concurrency must be at least 1".into()));
        }
        if self.traffic_pps > 1000 {
            return Err(ArgsError::Usage(
                "--traffic-pps must be at most 1000".into(),
            ));
        }
        if self.traffic_pps > 0 && self.target.is_none() {
            return Err(ArgsError::Usage("--traffic-pps needs --target IP".into()));
        }
        if self.step_timeout == 0 {
            return Err(ArgsError::Usage("--step-timeout must be at least 1".into()));
        }
        let timeout = self
            .timeout
            .unwrap_or(120 + self.hold + self.probe_spread + (self.sessions as u64) / 20);
        Ok(Checked {
            target: Target {
                server,
                host,
                url: self.url.clone(),
                path,
                tls: client_config(&auth)?,
                user: self.user,
                password: Zeroizing::new(self.password),
                dtls: !self.no_dtls,
                step_timeout: Duration::from_secs(self.step_timeout),
            },
            sessions: self.sessions,
            concurrency: self.concurrency,
            hold: Duration::from_secs(self.hold),
            force_dpd: self.force_dpd.filter(|d| *d > 0),
            pps: self.traffic_pps,
            ping_target: self.target,
            timeout: Duration::from_secs(timeout),
            probe_spread: Duration::from_secs(self.probe_spread),
            json: self.json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = |u: &str| match parse_url(u) {
            Ok(v) => v,
            Err(e) => panic!("{u}: {e}"),
        };
        let (a, h, p) = ok("https://10.251.0.1:443/");
        assert_eq!(
            (a.to_string(), h.as_str(), p.as_str()),
            ("10.251.0.1:443".into(), "10.251.0.1:443", "/")
        );
        let (a, h, p) = ok("https://10.0.0.1");
        assert_eq!((a.port(), h.as_str(), p.as_str()), (443, "10.0.0.1", "/"));
        let (a, _, p) = ok("https://[fd00::1]:8443/group");
        assert_eq!(
            (a.to_string(), p.as_str()),
            ("[fd00::1]:8443".into(), "/group")
        );
        for bad in [
            "http://10.0.0.1/",
            "https://vpn.example.com/",
            "https://10.0.0.1:0/",
            "https://10.0.0.1:x/",
            "https://[fd00::1/",
            "https://",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
