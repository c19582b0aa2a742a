//! Entries of one per-user/per-group file -> [`UserConfig`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{Origin, UserConfig};
use crate::error::{show, ConfigError, ConfigWarning};
use crate::ini::{Entry, Vhost};
use crate::keys::{self, Scope, Status};
use crate::pool::PoolParts;
use crate::value::{self as val, Ctx, Route};

/// Repeatable options (each line adds to a list).
const LIST_KEYS: &[&str] = &["route", "no-route", "iroute", "dns", "nbns", "split-dns"];

/// Accumulates the entries of one file.
pub(super) struct UserBuilder<'a> {
    file: &'a Path,
    user: UserConfig,
    pool: PoolParts,
    warnings: Vec<ConfigWarning>,
    warned: HashSet<String>,
    first_line: HashMap<&'static str, usize>,
}

impl<'a> UserBuilder<'a> {
    pub fn new(file: &'a Path) -> Self {
        Self {
            file,
            user: UserConfig {
                files: vec![file.to_path_buf()],
                ..UserConfig::default()
            },
            pool: PoolParts::default(),
            warnings: Vec::new(),
            warned: HashSet::new(),
            first_line: HashMap::new(),
        }
    }

    fn warn(&mut self, line: usize, key: &str, message: String) {
        self.warnings.push(ConfigWarning {
            file: self.file.to_path_buf(),
            line,
            key: key.to_owned(),
            message,
        });
    }

    /// Entries of a `[vhost:NAME]` section: sections mean nothing in these files.
    pub fn ignored_section(&mut self, vhost: &Vhost) {
        self.warn(
            vhost.line,
            &format!("[vhost:{}]", vhost.name),
            format!(
                "sections are not used in per-user/per-group files; the {} option(s) of \
                 '[vhost:{}]' are ignored",
                vhost.entries.len(),
                show(&vhost.name)
            ),
        );
    }

    /// Interprets one entry.
    pub fn apply(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let c = Ctx::new(self.file, e);
        let Some(info) = keys::lookup(&e.key) else {
            if self.warned.insert(e.key.clone()) {
                self.warn(
                    e.line,
                    &e.key,
                    format!("unknown option '{}'; ignored", show(&e.key)),
                );
            }
            return Ok(());
        };
        let place = match info.scope {
            Scope::VhostUser | Scope::UserOnly => None,
            Scope::Global | Scope::GlobalLenient => Some("it applies to the whole server"),
            Scope::Vhost => Some("it applies to a virtual host"),
        };
        if let Some(place) = place {
            return Err(c.error(format!(
                "option '{}' cannot be set in a per-user/per-group file ({place}; set it in \
                 the main configuration file)",
                info.name
            )));
        }
        let name = match info.status {
            Status::Alias(target) => keys::lookup(target).map_or(info.name, |t| t.name),
            _ => info.name,
        };
        self.option(name, &c)
    }

    /// Records where the option was set; warns when a single-valued option is set twice.
    fn note(&mut self, name: &'static str, line: usize) {
        let is_list = LIST_KEYS.contains(&name);
        match self.first_line.get(name).copied() {
            Some(first) if !is_list => self.warn(
                line,
                name,
                format!(
                    "option '{name}' is set again (first at line {first}); the last value wins"
                ),
            ),
            Some(_) => {}
            None => {
                self.first_line.insert(name, line);
            }
        }
        self.user.origins.insert(
            name,
            Origin {
                file: self.file.to_path_buf(),
                line,
            },
        );
    }

    fn option(&mut self, name: &'static str, c: &Ctx<'_>) -> Result<(), ConfigError> {
        self.note(name, c.line);
        let u = &mut self.user;
        match name {
            "route" => match val::route(c)? {
                Route::Default => u.default_route = true,
                Route::Net(spec, host_bits) => {
                    if host_bits {
                        let msg = val::host_bits_message(c, &spec.net);
                        self.warn(c.line, name, msg);
                    }
                    self.user.routes.get_or_insert_with(Vec::new).push(spec);
                }
            },
            "no-route" | "iroute" => {
                let (spec, host_bits) = val::network_route(c)?;
                if host_bits {
                    let msg = val::host_bits_message(c, &spec.net);
                    self.warn(c.line, name, msg);
                }
                if name == "iroute" {
                    self.user.iroutes.push(spec);
                } else {
                    self.user.no_routes.get_or_insert_with(Vec::new).push(spec);
                }
            }
            "dns" => u.dns.get_or_insert_with(Vec::new).push(val::dns(c)?),
            "nbns" => u.nbns.get_or_insert_with(Vec::new).push(val::ip(c)?),
            "split-dns" => u
                .split_dns
                .get_or_insert_with(Vec::new)
                .push(val::text(c, "a domain name")?),
            "ipv4-network" | "ipv4-netmask" | "ipv6-network" | "ipv6-prefix" => {
                self.pool.record(name, c)?;
            }
            "ipv6-subnet-prefix" => u.ipv6_subnet_prefix = Some(val::ipv6_prefix_len(c)?),
            "explicit-ipv4" => u.explicit_ipv4 = Some(val::ipv4_addr(c)?),
            "explicit-ipv6" => u.explicit_ipv6 = Some(val::ipv6_addr(c)?),
            "hostname" => u.hostname = Some(val::hostname(c)?),
            "rx-data-per-sec" => u.rx_data_per_sec = Some(val::u32_value(c)?),
            "tx-data-per-sec" => u.tx_data_per_sec = Some(val::u32_value(c)?),
            "stats-report-time" => u.stats_report_time = Some(val::u32_value(c)?),
            "session-timeout" => u.session_timeout = Some(val::u32_value(c)?),
            "mtu" => u.mtu = Some(val::mtu(c)?),
            "dpd" => u.dpd = Some(val::u32_value(c)?),
            "mobile-dpd" => u.mobile_dpd = Some(val::u32_value(c)?),
            "idle-timeout" => u.idle_timeout = Some(val::u32_value(c)?),
            "mobile-idle-timeout" => u.mobile_idle_timeout = Some(val::u32_value(c)?),
            "keepalive" => u.keepalive = Some(val::u32_value(c)?),
            "max-same-clients" => u.max_same_clients = Some(val::u32_value(c)?),
            "net-priority" => u.net_priority = Some(val::net_priority(c)?),
            "user-profile" => u.user_profile = Some(val::path(c)?),
            "no-udp" => u.no_udp = Some(val::boolean(c)?),
            "restrict-user-to-routes" => u.restrict_user_to_routes = Some(val::boolean(c)?),
            "restrict-user-to-ports" => {
                u.restrict_user_to_ports = Some(val::text(c, "a port list such as tcp(443)")?)
            }
            "tunnel-all-dns" => u.tunnel_all_dns = Some(val::boolean(c)?),
            "deny-roaming" => u.deny_roaming = Some(val::boolean(c)?),
            "client-bypass-protocol" => u.client_bypass_protocol = Some(val::boolean(c)?),
            // A per-user row of keys.rs without an arm here (a test guards against it).
            _ => {
                return Err(c.error(format!(
                    "option '{name}' is not supported in per-user/per-group files by rocserv"
                )))
            }
        }
        Ok(())
    }

    /// Builds the pools and settles `route = default`.
    pub fn finish(mut self) -> Result<(UserConfig, Vec<ConfigWarning>), ConfigError> {
        if let Some((_, net)) = self.pool.ipv4_pool(self.file, &mut self.warnings)? {
            self.user.ipv4_network = Some(net);
        }
        if let Some((_, net)) = self.pool.ipv6_pool(self.file, &mut self.warnings)? {
            self.user.ipv6_network = Some(net);
        }
        if self.user.default_route {
            let dropped = self.user.routes.replace(Vec::new()).unwrap_or_default();
            if !dropped.is_empty() {
                let line = self.first_line.get("route").copied().unwrap_or(0);
                let n = dropped.len();
                self.warn(
                    line,
                    "route",
                    format!(
                        "'route = default' makes this a full tunnel; the other {n} route(s) \
                         are ignored"
                    ),
                );
            }
        }
        Ok((self.user, self.warnings))
    }
}
