//! The values a session uses: a [`UserConfig`] laid over the global [`Config`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};

use super::UserConfig;
use crate::config::Config;
use crate::error::ConfigError;
use crate::value::{NetPriority, RouteSpec};

/// Everything a session needs from the configuration, after its per-group and per-user
/// files. Built by [`Effective::global`] (no per-user files) or [`UserConfig::effective`].
///
/// Options that the main file does not type yet (`rx-data-per-sec`, `deny-roaming`,
/// `restrict-user-to-routes`, ... are "not implemented" there) only come from the per-user
/// files; their global default is "off"/"unset".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// IPv4 pool to lease from.
    pub ipv4_network: Option<Ipv4Net>,
    /// IPv6 pool to lease from.
    pub ipv6_network: Option<Ipv6Net>,
    /// Prefix length handed to the client from the IPv6 pool.
    pub ipv6_subnet_prefix: Option<u8>,
    /// Fixed IPv4 address (inside `ipv4_network`, neither its network nor broadcast address).
    pub explicit_ipv4: Option<Ipv4Addr>,
    /// Fixed IPv6 address (inside `ipv6_network`).
    pub explicit_ipv6: Option<Ipv6Addr>,
    /// Split-include routes; empty with `default_route` or when none are configured (both
    /// mean a full tunnel).
    pub routes: Vec<RouteSpec>,
    /// Full tunnel requested explicitly (`route = default`).
    pub default_route: bool,
    /// Split-exclude routes.
    pub no_routes: Vec<RouteSpec>,
    /// Networks behind the client, to route to its tunnel on the server.
    pub iroutes: Vec<RouteSpec>,
    /// DNS servers.
    pub dns: Vec<IpAddr>,
    /// NBNS (WINS) servers.
    pub nbns: Vec<IpAddr>,
    /// Split-DNS domains.
    pub split_dns: Vec<String>,
    /// `tunnel-all-dns` as configured (ocserv also forces it on for a full tunnel; that is
    /// the daemon's decision, from `default_route`/`routes`).
    pub tunnel_all_dns: bool,
    /// Upper bound of the tunnel MTU.
    pub mtu: Option<u16>,
    /// Seconds.
    pub keepalive: u32,
    /// Seconds.
    pub dpd: u32,
    /// Seconds.
    pub mobile_dpd: u32,
    /// Seconds; `None` = disabled.
    pub idle_timeout: Option<u32>,
    /// Seconds; `None` = use `idle_timeout`; `Some(0)` = disabled for mobile clients.
    pub mobile_idle_timeout: Option<u32>,
    /// Seconds; `None` = disabled.
    pub session_timeout: Option<u32>,
    /// Concurrent sessions of this user; 0 = unlimited.
    pub max_same_clients: u32,
    /// Never offer DTLS.
    pub no_udp: bool,
    /// Host name that replaces the client's proposal.
    pub hostname: Option<String>,
    /// Bytes per second from the client; `None` = unlimited.
    pub rx_data_per_sec: Option<u32>,
    /// Bytes per second to the client; `None` = unlimited.
    pub tx_data_per_sec: Option<u32>,
    /// Seconds between statistics reports; `None` = not configured.
    pub stats_report_time: Option<u32>,
    /// Socket priority / type of service.
    pub net_priority: Option<NetPriority>,
    /// XML profile file.
    pub user_profile: Option<PathBuf>,
    /// Confine the user to its routes.
    pub restrict_user_to_routes: bool,
    /// Port allow/deny list, as written.
    pub restrict_user_to_ports: Option<String>,
    /// The session cookie is bound to the address that authenticated.
    pub deny_roaming: bool,
    /// Send `X-CSTP-Client-Bypass-Protocol: true`.
    pub client_bypass_protocol: bool,
}

impl Effective {
    /// The values of a session without per-user/per-group files.
    pub fn global(cfg: &Config) -> Self {
        Self {
            ipv4_network: cfg.ipv4_network,
            ipv6_network: cfg.ipv6_network,
            ipv6_subnet_prefix: cfg.ipv6_subnet_prefix,
            explicit_ipv4: None,
            explicit_ipv6: None,
            routes: cfg.routes.clone(),
            default_route: cfg.default_route,
            no_routes: cfg.no_routes.clone(),
            iroutes: Vec::new(),
            dns: cfg.dns.clone(),
            nbns: cfg.nbns.clone(),
            split_dns: cfg.split_dns.clone(),
            tunnel_all_dns: cfg.tunnel_all_dns,
            mtu: cfg.mtu,
            keepalive: cfg.keepalive,
            dpd: cfg.dpd,
            mobile_dpd: cfg.mobile_dpd,
            idle_timeout: cfg.idle_timeout,
            mobile_idle_timeout: cfg.mobile_idle_timeout,
            session_timeout: cfg.session_timeout,
            max_same_clients: cfg.max_same_clients,
            no_udp: cfg.no_udp,
            hostname: None,
            rx_data_per_sec: None,
            tx_data_per_sec: None,
            stats_report_time: None,
            net_priority: None,
            user_profile: None,
            restrict_user_to_routes: false,
            restrict_user_to_ports: None,
            deny_roaming: false,
            client_bypass_protocol: false,
        }
    }
}

/// `0` disables a timeout.
fn timeout(user: Option<u32>, global: Option<u32>) -> Option<u32> {
    match user {
        Some(0) => None,
        Some(v) => Some(v),
        None => global,
    }
}

/// `0` means unlimited.
fn limit(user: Option<u32>) -> Option<u32> {
    user.filter(|v| *v != 0)
}

fn append_unique(list: &mut Vec<RouteSpec>, more: &[RouteSpec]) {
    for r in more {
        if !list.contains(r) {
            list.push(r.clone());
        }
    }
}

impl UserConfig {
    /// An error about `key`, located where the per-user/per-group files set it.
    fn error_at(&self, cfg: &Config, key: &str, message: String) -> ConfigError {
        match self.origins.get(key) {
            Some(o) => ConfigError::at(&o.file, o.line, key, message),
            None => ConfigError::file(&cfg.source, Some(key), message),
        }
    }

    /// The values of a session: these options over the global (or virtual host) `cfg`.
    ///
    /// * Single values set here replace the global ones.
    /// * `route`: the per-user list replaces the global list (and the global full tunnel);
    ///   with `append-routes` the global routes are added after it. `route = default` here
    ///   makes a full tunnel. `no-route` follows the same rule.
    /// * `dns`, `nbns`, `split-dns`: a list given here replaces the global one.
    /// * `iroute` only exists per user.
    ///
    /// # Errors
    /// `explicit-ipv4`/`explicit-ipv6` outside the session's pool (or without a pool, or the
    /// pool's network/broadcast address); `ipv6-subnet-prefix` not longer than the IPv6
    /// pool's prefix.
    pub fn effective(&self, cfg: &Config) -> Result<Effective, ConfigError> {
        let mut e = Effective::global(cfg);
        if self.default_route {
            e.routes.clear();
            e.default_route = true;
        } else if let Some(routes) = &self.routes {
            let global = std::mem::replace(&mut e.routes, routes.clone());
            e.default_route = false;
            if cfg.append_routes {
                append_unique(&mut e.routes, &global);
            }
        }
        if let Some(no_routes) = &self.no_routes {
            let global = std::mem::replace(&mut e.no_routes, no_routes.clone());
            if cfg.append_routes {
                append_unique(&mut e.no_routes, &global);
            }
        }
        e.iroutes = self.iroutes.clone();
        if let Some(dns) = &self.dns {
            e.dns = dns.clone();
        }
        if let Some(nbns) = &self.nbns {
            e.nbns = nbns.clone();
        }
        if let Some(split) = &self.split_dns {
            e.split_dns = split.clone();
        }
        e.ipv4_network = self.ipv4_network.or(e.ipv4_network);
        e.ipv6_network = self.ipv6_network.or(e.ipv6_network);
        e.ipv6_subnet_prefix = self.ipv6_subnet_prefix.or(e.ipv6_subnet_prefix);
        e.tunnel_all_dns = self.tunnel_all_dns.unwrap_or(e.tunnel_all_dns);
        e.mtu = self.mtu.or(e.mtu);
        e.keepalive = self.keepalive.unwrap_or(e.keepalive);
        e.dpd = self.dpd.unwrap_or(e.dpd);
        e.mobile_dpd = self.mobile_dpd.unwrap_or(e.mobile_dpd);
        e.idle_timeout = timeout(self.idle_timeout, e.idle_timeout);
        e.mobile_idle_timeout = self.mobile_idle_timeout.or(e.mobile_idle_timeout);
        e.session_timeout = timeout(self.session_timeout, e.session_timeout);
        e.max_same_clients = self.max_same_clients.unwrap_or(e.max_same_clients);
        e.no_udp = self.no_udp.unwrap_or(e.no_udp);
        e.hostname = self.hostname.clone();
        e.rx_data_per_sec = limit(self.rx_data_per_sec);
        e.tx_data_per_sec = limit(self.tx_data_per_sec);
        e.stats_report_time = self.stats_report_time;
        e.net_priority = self.net_priority;
        e.user_profile = self.user_profile.clone();
        e.restrict_user_to_routes = self.restrict_user_to_routes.unwrap_or(false);
        e.restrict_user_to_ports = self.restrict_user_to_ports.clone();
        e.deny_roaming = self.deny_roaming.unwrap_or(false);
        e.client_bypass_protocol = self.client_bypass_protocol.unwrap_or(false);
        self.check_addresses(cfg, &mut e)?;
        Ok(e)
    }

    fn check_addresses(&self, cfg: &Config, e: &mut Effective) -> Result<(), ConfigError> {
        if let (Some(sub), Some(net)) = (e.ipv6_subnet_prefix, e.ipv6_network) {
            if sub <= net.prefix_len() {
                let key = if self.ipv6_subnet_prefix.is_some() {
                    "ipv6-subnet-prefix"
                } else {
                    "ipv6-network"
                };
                return Err(self.error_at(
                    cfg,
                    key,
                    format!(
                        "ipv6-subnet-prefix /{sub} must be longer than the IPv6 pool's /{} ({net})",
                        net.prefix_len()
                    ),
                ));
            }
        }
        if let Some(addr) = self.explicit_ipv4 {
            let Some(pool) = e.ipv4_network else {
                return Err(self.error_at(
                    cfg,
                    "explicit-ipv4",
                    format!(
                        "explicit-ipv4 {addr} needs an IPv4 pool (ipv4-network), and there is none"
                    ),
                ));
            };
            if !pool.contains(&addr) || addr == pool.network() || addr == pool.broadcast() {
                return Err(self.error_at(
                    cfg,
                    "explicit-ipv4",
                    format!(
                        "explicit-ipv4 {addr} must be a host address inside the IPv4 pool {pool}"
                    ),
                ));
            }
            e.explicit_ipv4 = Some(addr);
        }
        if let Some(addr) = self.explicit_ipv6 {
            let Some(pool) = e.ipv6_network else {
                return Err(self.error_at(
                    cfg,
                    "explicit-ipv6",
                    format!(
                        "explicit-ipv6 {addr} needs an IPv6 pool (ipv6-network), and there is none"
                    ),
                ));
            };
            if !pool.contains(&addr) {
                return Err(self.error_at(
                    cfg,
                    "explicit-ipv6",
                    format!("explicit-ipv6 {addr} must lie inside the IPv6 pool {pool}"),
                ));
            }
            e.explicit_ipv6 = Some(addr);
        }
        Ok(())
    }
}
