//! Per-user and per-group configuration files (`config-per-user`, `config-per-group`,
//! `default-user-config`, `default-group-config`).
//!
//! * [`load_user_config`] / [`parse_user_str`] type one file into a [`UserConfig`] where every
//!   option is an `Option` (or a list that may be absent), so "not set" stays distinguishable
//!   from "set to the default".
//! * [`resolve`] / [`PerUserFiles::resolve`] find and read the group file and then the user
//!   file of a session (at each connection) and combine them.
//! * [`UserConfig::effective`] lays the result over the global [`Config`](crate::Config) and
//!   gives the values a session uses ([`Effective`]).
//!
//! The file syntax is the main file's ([`crate::ini`]), values go through the same parsers;
//! only options of scope `VhostUser`/`UserOnly` ([`crate::keys::per_user_keys`]) are
//! accepted. See the crate README ("Per-user and per-group files") for every rule.

mod build;
mod effective;
mod files;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::{ConfigError, ConfigWarning};
use crate::value::{NetPriority, RouteSpec};

pub use effective::Effective;
pub use files::{check_name, resolve, NameKind, PerUserFiles};

/// Largest per-user/per-group file read (they are read at every connection).
pub const MAX_USER_FILE: u64 = 1024 * 1024;

/// Where an option of a [`UserConfig`] was set (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The per-user or per-group file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

/// The options of one per-user/per-group file, or of a group file and a user file combined.
///
/// `None` (or an absent list) means "not set here": the global value applies (see
/// [`UserConfig::effective`]). Values are as written; the meaning of `0` follows the main
/// file (`idle-timeout = 0` / `session-timeout = 0` disable the timeout for this session,
/// `mobile-idle-timeout = 0` disables it for mobile clients).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    /// `route` lines (split-include). `Some(empty)` together with `default_route` for
    /// `route = default` / `0.0.0.0/0`.
    pub routes: Option<Vec<RouteSpec>>,
    /// `route = default` (or `0.0.0.0/0`) was given: full tunnel for this session.
    pub default_route: bool,
    /// `no-route` lines (split-exclude).
    pub no_routes: Option<Vec<RouteSpec>>,
    /// `iroute` lines: networks behind this client, routed to its tunnel on the server.
    pub iroutes: Vec<RouteSpec>,
    /// `dns` / `ipv4-dns` / `ipv6-dns` lines.
    pub dns: Option<Vec<IpAddr>>,
    /// `nbns` / `ipv4-nbns` / `ipv6-nbns` lines.
    pub nbns: Option<Vec<IpAddr>>,
    /// `split-dns` lines.
    pub split_dns: Option<Vec<String>>,
    /// `ipv4-network` (+ `ipv4-netmask` in the same file); host bits cleared.
    pub ipv4_network: Option<Ipv4Net>,
    /// `ipv6-network` (+ `ipv6-prefix` in the same file); host bits cleared.
    pub ipv6_network: Option<Ipv6Net>,
    /// `ipv6-subnet-prefix` (1..128).
    pub ipv6_subnet_prefix: Option<u8>,
    /// `explicit-ipv4`: fixed address; must lie inside the effective IPv4 pool.
    pub explicit_ipv4: Option<Ipv4Addr>,
    /// `explicit-ipv6`: fixed address; must lie inside the effective IPv6 pool.
    pub explicit_ipv6: Option<Ipv6Addr>,
    /// `hostname`: replaces the host name the client proposes (1..63 of `[A-Za-z0-9._-]`).
    pub hostname: Option<String>,
    /// `rx-data-per-sec`: bytes per second from the client (0 = unlimited), as written.
    pub rx_data_per_sec: Option<u32>,
    /// `tx-data-per-sec`: bytes per second to the client (0 = unlimited), as written.
    pub tx_data_per_sec: Option<u32>,
    /// `stats-report-time` (seconds).
    pub stats_report_time: Option<u32>,
    /// `session-timeout` (seconds; 0 disables it for this session).
    pub session_timeout: Option<u32>,
    /// `mtu` (576..9000).
    pub mtu: Option<u16>,
    /// `dpd` (seconds).
    pub dpd: Option<u32>,
    /// `mobile-dpd` (seconds).
    pub mobile_dpd: Option<u32>,
    /// `idle-timeout` (seconds; 0 disables it for this session).
    pub idle_timeout: Option<u32>,
    /// `mobile-idle-timeout` (seconds; 0 disables it for mobile clients).
    pub mobile_idle_timeout: Option<u32>,
    /// `keepalive` (seconds).
    pub keepalive: Option<u32>,
    /// `max-same-clients` (0 = unlimited).
    pub max_same_clients: Option<u32>,
    /// `net-priority`.
    pub net_priority: Option<NetPriority>,
    /// `user-profile`: XML profile file offered to the client.
    pub user_profile: Option<PathBuf>,
    /// `no-udp`.
    pub no_udp: Option<bool>,
    /// `restrict-user-to-routes`.
    pub restrict_user_to_routes: Option<bool>,
    /// `restrict-user-to-ports`, as written (e.g. `tcp(443), udp(53)` or `!(tcp(22))`).
    pub restrict_user_to_ports: Option<String>,
    /// `tunnel-all-dns`.
    pub tunnel_all_dns: Option<bool>,
    /// `deny-roaming`.
    pub deny_roaming: Option<bool>,
    /// `client-bypass-protocol`.
    pub client_bypass_protocol: Option<bool>,
    /// The files read, in order (group file first).
    pub files: Vec<PathBuf>,
    /// Where each option was last set, by option name (`route`, `explicit-ipv4`, ...).
    pub origins: BTreeMap<&'static str, Origin>,
}

/// Appends `later` to `earlier`, skipping exact duplicates.
fn merge_list<T: PartialEq>(earlier: &mut Option<Vec<T>>, later: Option<Vec<T>>) {
    let Some(later) = later else { return };
    let list = earlier.get_or_insert_with(Vec::new);
    for item in later {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

fn merge_scalar<T>(earlier: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *earlier = later;
    }
}

impl UserConfig {
    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        let unset = UserConfig {
            files: self.files.clone(),
            ..UserConfig::default()
        };
        *self == unset
    }

    /// Combines a file read later (the user file after the group file): options set in
    /// `later` win; lists (`route`, `no-route`, `iroute`, `dns`, `nbns`, `split-dns`) are
    /// concatenated, earlier entries first, exact duplicates dropped; `route = default` in
    /// either makes a full tunnel.
    pub fn overlay(&mut self, later: UserConfig) {
        merge_list(&mut self.routes, later.routes);
        self.default_route |= later.default_route;
        if self.default_route {
            self.routes = Some(Vec::new());
        }
        merge_list(&mut self.no_routes, later.no_routes);
        let mut iroutes = Some(std::mem::take(&mut self.iroutes));
        merge_list(&mut iroutes, Some(later.iroutes));
        self.iroutes = iroutes.unwrap_or_default();
        merge_list(&mut self.dns, later.dns);
        merge_list(&mut self.nbns, later.nbns);
        merge_list(&mut self.split_dns, later.split_dns);
        merge_scalar(&mut self.ipv4_network, later.ipv4_network);
        merge_scalar(&mut self.ipv6_network, later.ipv6_network);
        merge_scalar(&mut self.ipv6_subnet_prefix, later.ipv6_subnet_prefix);
        merge_scalar(&mut self.explicit_ipv4, later.explicit_ipv4);
        merge_scalar(&mut self.explicit_ipv6, later.explicit_ipv6);
        merge_scalar(&mut self.hostname, later.hostname);
        merge_scalar(&mut self.rx_data_per_sec, later.rx_data_per_sec);
        merge_scalar(&mut self.tx_data_per_sec, later.tx_data_per_sec);
        merge_scalar(&mut self.stats_report_time, later.stats_report_time);
        merge_scalar(&mut self.session_timeout, later.session_timeout);
        merge_scalar(&mut self.mtu, later.mtu);
        merge_scalar(&mut self.dpd, later.dpd);
        merge_scalar(&mut self.mobile_dpd, later.mobile_dpd);
        merge_scalar(&mut self.idle_timeout, later.idle_timeout);
        merge_scalar(&mut self.mobile_idle_timeout, later.mobile_idle_timeout);
        merge_scalar(&mut self.keepalive, later.keepalive);
        merge_scalar(&mut self.max_same_clients, later.max_same_clients);
        merge_scalar(&mut self.net_priority, later.net_priority);
        merge_scalar(&mut self.user_profile, later.user_profile);
        merge_scalar(&mut self.no_udp, later.no_udp);
        merge_scalar(
            &mut self.restrict_user_to_routes,
            later.restrict_user_to_routes,
        );
        merge_scalar(
            &mut self.restrict_user_to_ports,
            later.restrict_user_to_ports,
        );
        merge_scalar(&mut self.tunnel_all_dns, later.tunnel_all_dns);
        merge_scalar(&mut self.deny_roaming, later.deny_roaming);
        merge_scalar(
            &mut self.client_bypass_protocol,
            later.client_bypass_protocol,
        );
        self.files.extend(later.files);
        self.origins.extend(later.origins);
    }
}

/// Reads and types one per-user or per-group file.
///
/// # Errors
/// The file cannot be read, is larger than [`MAX_USER_FILE`] or not UTF-8, or the first
/// problem in it (see [`parse_user_str`]).
pub fn load_user_config(path: &Path) -> Result<(UserConfig, Vec<ConfigWarning>), ConfigError> {
    let text = read_text(path)?;
    parse_user_str(&text, path)
}

/// Types the text of a per-user or per-group file; `file` is used in messages and recorded
/// in [`UserConfig::files`] and [`UserConfig::origins`].
///
/// # Errors
/// A syntax error; an option that cannot be set per user (`tcp-port`, `auth`,
/// `cookie-timeout`, ...), naming file, line and option; an invalid value; an incomplete
/// or too small address pool.
pub fn parse_user_str(
    text: &str,
    file: &Path,
) -> Result<(UserConfig, Vec<ConfigWarning>), ConfigError> {
    let doc = crate::ini::parse_document(text, file)?;
    let mut builder = build::UserBuilder::new(file);
    for entry in &doc.entries {
        builder.apply(entry)?;
    }
    for vhost in &doc.vhosts {
        builder.ignored_section(vhost);
    }
    let (config, mut warnings) = builder.finish()?;
    warnings.extend(doc.warnings);
    warnings.sort_by_key(|w| w.line);
    Ok((config, warnings))
}

/// Reads a whole file as UTF-8 text, at most [`MAX_USER_FILE`] bytes.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let cannot =
        |e: std::io::Error| ConfigError::file(path, None, format!("cannot read the file: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_USER_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_USER_FILE {
        return Err(ConfigError::file(
            path,
            None,
            format!("the file is larger than {MAX_USER_FILE} bytes"),
        ));
    }
    crate::utf8_text(path, bytes)
}
