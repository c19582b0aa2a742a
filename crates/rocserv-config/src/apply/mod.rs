//! Raw entries -> typed [`Config`]: one match over option names, then cross-option checks.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::auth::{self, AcctValue, AuthMethod};
use crate::config::{Config, RekeyMethod};
use crate::error::{show, ConfigError, ConfigWarning};
use crate::ini::Entry;
use crate::keys::{self, Scope, Status};
use crate::pool::PoolParts;
use crate::value::{self as val, Ctx, Route};

mod checks;
#[cfg(test)]
mod tests;

/// Where the entries come from; decides which scopes are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Top level of the main file (the default virtual host).
    Main,
    /// Inside `[vhost:NAME]`: global options are errors; lists replace the inherited ones.
    Vhost,
}

/// Options that may be repeated to build a list.
const LIST_KEYS: &[&str] = &[
    "auth",
    "enable-auth",
    "server-cert",
    "server-key",
    "route",
    "no-route",
    "dns",
    "nbns",
    "split-dns",
    "select-group",
];

/// Most authentication methods ocserv accepts in total.
const MAX_AUTH_METHODS: usize = 4;

/// Accumulates entries into a [`Config`].
pub(crate) struct Builder<'a> {
    file: &'a Path,
    mode: Mode,
    cfg: Config,
    warnings: Vec<ConfigWarning>,
    warned: HashSet<String>,
    first_line: HashMap<&'static str, usize>,
    lists_started: HashSet<&'static str>,
    /// (line, key, method) for every auth/enable-auth entry of this scope.
    auth_lines: Vec<(usize, &'static str, AuthMethod)>,
    pool: PoolParts,
    ignored_routes: usize,
}

impl<'a> Builder<'a> {
    pub fn new(file: &'a Path, base: Config, mode: Mode) -> Self {
        Self {
            file,
            mode,
            cfg: base,
            warnings: Vec::new(),
            warned: HashSet::new(),
            first_line: HashMap::new(),
            lists_started: HashSet::new(),
            auth_lines: Vec::new(),
            pool: PoolParts::default(),
            ignored_routes: 0,
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

    /// Warns once per key and scope.
    fn warn_once(&mut self, line: usize, key: &str, message: String) {
        if self.warned.insert(key.to_owned()) {
            self.warn(line, key, message);
        }
    }

    /// Interprets one entry.
    pub fn apply(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let c = Ctx::new(self.file, e);
        let Some(info) = keys::lookup(&e.key) else {
            self.warn_once(
                e.line,
                &e.key,
                format!("unknown option '{}'; ignored", show(&e.key)),
            );
            return Ok(());
        };
        if self.mode == Mode::Vhost && info.scope == Scope::Global {
            return Err(c.error(format!(
                "option '{}' is global: it cannot be set inside a [vhost:NAME] section",
                info.name
            )));
        }
        if self.mode == Mode::Vhost && info.scope == Scope::GlobalLenient {
            self.warn_once(
                e.line,
                info.name,
                format!(
                    "option '{}' applies to the whole server; ignored inside a [vhost:NAME] section",
                    info.name
                ),
            );
            return Ok(());
        }
        if info.scope == Scope::UserOnly {
            self.warn_once(
                e.line,
                info.name,
                format!(
                    "option '{}' is only valid in per-user/per-group files; ignored",
                    info.name
                ),
            );
            return Ok(());
        }
        match info.status {
            Status::Implemented => self.implemented(info.name, &c),
            Status::NotImplemented => {
                self.not_implemented(e.line, info.name);
                Ok(())
            }
            Status::Deprecated => {
                self.warn_once(
                    e.line,
                    info.name,
                    format!(
                        "option '{}' is deprecated and has no effect; ignored",
                        info.name
                    ),
                );
                Ok(())
            }
            Status::Removed(why) => Err(c.error(why)),
            Status::Alias(target) => self.alias(info.name, target, &c),
        }
    }

    fn not_implemented(&mut self, line: usize, name: &str) {
        self.warn_once(
            line,
            name,
            format!("option '{name}' is not implemented by rocserv yet; ignored"),
        );
    }

    fn alias(
        &mut self,
        name: &'static str,
        target: &'static str,
        c: &Ctx<'_>,
    ) -> Result<(), ConfigError> {
        match name {
            // Plain alternative spellings, not deprecated.
            "ipv4-dns" | "ipv6-dns" | "ipv4-nbns" | "ipv6-nbns" => {
                return self.implemented(target, c)
            }
            "always-require-cert" => {
                // Old inverse of cisco-client-compat: only `false` has an effect.
                if !val::boolean(c)? {
                    self.cfg.cisco_client_compat = true;
                }
            }
            "use-dbus" => {
                if val::boolean(c)? {
                    self.cfg.use_occtl = true;
                }
            }
            _ => match keys::lookup(target).map(|t| t.status) {
                Some(Status::Implemented) => self.implemented(target, c)?,
                _ => {
                    self.not_implemented(c.line, name);
                    return Ok(());
                }
            },
        }
        self.warn_once(
            c.line,
            name,
            format!("option '{name}' is the old name of '{target}'; please rename it"),
        );
        Ok(())
    }

    /// Records the line, warns when a single-valued option is set twice, and in a vhost
    /// makes the first occurrence of a list replace the inherited list.
    fn note(&mut self, name: &'static str, line: usize) {
        let is_list = LIST_KEYS.contains(&name);
        match self.first_line.get(name) {
            Some(first) if !is_list => {
                let first = *first;
                self.warn(
                    line,
                    name,
                    format!(
                        "option '{name}' is set again (first at line {first}); the last value wins"
                    ),
                );
            }
            Some(_) => {}
            None => {
                self.first_line.insert(name, line);
            }
        }
        if is_list && self.mode == Mode::Vhost && self.lists_started.insert(name) {
            let cfg = &mut self.cfg;
            match name {
                "auth" => cfg.auth.clear(),
                "enable-auth" => cfg.enable_auth.clear(),
                "server-cert" => cfg.server_cert.clear(),
                "server-key" => cfg.server_key.clear(),
                "route" => {
                    cfg.routes.clear();
                    cfg.default_route = false;
                }
                "no-route" => cfg.no_routes.clear(),
                "dns" => cfg.dns.clear(),
                "nbns" => cfg.nbns.clear(),
                "split-dns" => cfg.split_dns.clear(),
                "select-group" => cfg.select_groups.clear(),
                _ => {}
            }
        }
    }

    fn implemented(&mut self, name: &'static str, c: &Ctx<'_>) -> Result<(), ConfigError> {
        self.note(name, c.line);
        let cfg = &mut self.cfg;
        match name {
            "auth" | "enable-auth" => {
                let method = auth::parse(c)?;
                self.auth_lines.push((c.line, name, method.clone()));
                if name == "auth" {
                    self.cfg.auth.push(method);
                } else {
                    self.cfg.enable_auth.push(method);
                }
            }
            "acct" => match auth::parse_acct(c)? {
                AcctValue::Method(method) => self.cfg.acct = Some(method),
                AcctValue::Radius => {
                    self.cfg.acct = None;
                    self.not_implemented(c.line, name);
                }
            },
            "tcp-port" => cfg.tcp_port = val::port(c, false)?,
            "udp-port" => cfg.udp_port = Some(val::port(c, true)?).filter(|p| *p != 0),
            "listen-host" => cfg.listen_host = Some(val::text(c, "an address or host name")?),
            "udp-listen-host" => {
                cfg.udp_listen_host = Some(val::text(c, "an address or host name")?)
            }
            "socket-file" => cfg.socket_file = Some(val::path(c)?),
            "run-as-user" => cfg.run_as_user = Some(val::text(c, "a user name or uid")?),
            "run-as-group" => cfg.run_as_group = Some(val::text(c, "a group name or gid")?),
            "pid-file" => cfg.pid_file = Some(val::path(c)?),
            "device" => cfg.device = device(c)?,
            "max-clients" => cfg.max_clients = val::u32_value(c)?,
            "log-level" => cfg.log_level = val::u32_value(c)?,
            "server-cert" => cfg.server_cert.push(val::path(c)?),
            "server-key" => cfg.server_key.push(val::path(c)?),
            "ca-cert" => cfg.ca_cert = Some(val::path(c)?),
            "crl" => cfg.crl = Some(val::path(c)?),
            "cert-user-oid" => cfg.cert_user_oid = Some(oid(c, true)?),
            "cert-group-oid" => cfg.cert_group_oid = Some(oid(c, false)?),
            "tls-priorities" => cfg.tls_priorities = Some(val::text(c, "a priority string")?),
            "ipv4-network" | "ipv4-netmask" | "ipv6-network" | "ipv6-prefix" => {
                self.pool.record(name, c)?;
            }
            "ipv6-subnet-prefix" => cfg.ipv6_subnet_prefix = Some(val::ipv6_prefix_len(c)?),
            "predictable-ips" => cfg.predictable_ips = val::boolean(c)?,
            "route" => match val::route(c)? {
                Route::Default => cfg.default_route = true,
                Route::Net(spec, host_bits) => {
                    if host_bits {
                        let msg = val::host_bits_message(c, &spec.net);
                        self.warn(c.line, name, msg);
                    }
                    self.cfg.routes.push(spec);
                }
            },
            "no-route" => {
                let (spec, host_bits) = val::network_route(c)?;
                if host_bits {
                    let msg = val::host_bits_message(c, &spec.net);
                    self.warn(c.line, name, msg);
                }
                self.cfg.no_routes.push(spec);
            }
            "dns" => cfg.dns.push(val::dns(c)?),
            "nbns" => cfg.nbns.push(val::ip(c)?),
            "default-domain" => cfg.default_domain = Some(val::text(c, "a domain name")?),
            "split-dns" => cfg.split_dns.push(val::text(c, "a domain name")?),
            "tunnel-all-dns" => cfg.tunnel_all_dns = val::boolean(c)?,
            "mtu" => cfg.mtu = Some(val::mtu(c)?),
            "dtls-psk" => cfg.dtls_psk = val::boolean(c)?,
            "select-group-by-url" => cfg.select_group_by_url = val::boolean(c)?,
            "max-ban-score" => cfg.max_ban_score = val::u32_value(c)?,
            "ban-time" => cfg.ban_time = val::u32_value(c)?,
            "ban-reset-time" => cfg.ban_reset_time = val::u32_value(c)?,
            "ban-points-wrong-password" => cfg.ban_points_wrong_password = val::u32_value(c)?,
            "ban-points-connection" => cfg.ban_points_connection = val::u32_value(c)?,
            "match-tls-dtls-ciphers" => cfg.match_tls_dtls_ciphers = val::boolean(c)?,
            "dtls-legacy" => cfg.dtls_legacy = val::boolean(c)?,
            "no-udp" => cfg.no_udp = val::boolean(c)?,
            "switch-to-tcp-timeout" => cfg.switch_to_tcp_timeout = val::u32_value(c)?,
            "cisco-client-compat" => cfg.cisco_client_compat = val::boolean(c)?,
            "auth-timeout" => cfg.auth_timeout = val::u32_value(c)?,
            "idle-timeout" => cfg.idle_timeout = Some(val::u32_value(c)?).filter(|v| *v != 0),
            "mobile-idle-timeout" => cfg.mobile_idle_timeout = Some(val::u32_value(c)?),
            "session-timeout" => cfg.session_timeout = Some(val::u32_value(c)?).filter(|v| *v != 0),
            "keepalive" => cfg.keepalive = val::u32_value(c)?,
            "dpd" => cfg.dpd = val::u32_value(c)?,
            "mobile-dpd" => cfg.mobile_dpd = val::u32_value(c)?,
            "rekey-time" => cfg.rekey_time = val::u32_value(c)?,
            "rekey-method" => {
                cfg.rekey_method = Some(match c.value {
                    "ssl" => RekeyMethod::Ssl,
                    "new-tunnel" => RekeyMethod::NewTunnel,
                    _ => return Err(c.expected("'ssl' or 'new-tunnel'")),
                })
            }
            "cookie-timeout" => cfg.cookie_timeout = val::u32_value(c)?,
            "persistent-cookies" => cfg.persistent_cookies = val::boolean(c)?,
            "max-same-clients" => cfg.max_same_clients = val::u32_value(c)?,
            "select-group" => cfg.select_groups.push(val::select_group(c)?),
            "default-select-group" => cfg.default_select_group = Some(val::text(c, "a label")?),
            "auto-select-group" => cfg.auto_select_group = val::boolean(c)?,
            "config-per-user" => cfg.config_per_user = Some(val::path(c)?),
            "config-per-group" => cfg.config_per_group = Some(val::path(c)?),
            "default-user-config" => cfg.default_user_config = Some(val::path(c)?),
            "default-group-config" => cfg.default_group_config = Some(val::path(c)?),
            "append-routes" => cfg.append_routes = val::boolean(c)?,
            "connect-script" => cfg.connect_script = Some(val::path(c)?),
            "disconnect-script" => cfg.disconnect_script = Some(val::path(c)?),
            "host-update-script" => cfg.host_update_script = Some(val::path(c)?),
            "script-timeout" => cfg.script_timeout = val::u32_in(c, 1, 86_400)?,
            "shared-tun" => cfg.shared_tun = val::boolean(c)?,
            "banner" => cfg.banner = Some(c.value.to_owned()),
            "pre-login-banner" => cfg.pre_login_banner = Some(c.value.to_owned()),
            "isolate-workers" => cfg.isolate_workers = val::boolean(c)?,
            "use-occtl" => cfg.use_occtl = val::boolean(c)?,
            "occtl-socket-file" => cfg.occtl_socket_file = val::path(c)?,
            "compression" => cfg.compression = val::boolean(c)?,
            // A row marked Implemented in keys.rs without a match arm here.
            _ => self.not_implemented(c.line, name),
        }
        Ok(())
    }

    /// Cross-option checks; returns the config and the warnings of this scope.
    pub fn finish(mut self) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        self.check_auth()?;
        self.build_ipv4()?;
        self.build_ipv6()?;
        if self.cfg.default_route && !self.cfg.routes.is_empty() {
            self.ignored_routes = self.cfg.routes.len();
            self.cfg.routes.clear();
        }
        if self.ignored_routes > 0 {
            let line = self.first_line.get("route").copied().unwrap_or(0);
            let n = self.ignored_routes;
            self.warn(
                line,
                "route",
                format!("'route = default' makes this a full tunnel; the other {n} route(s) are ignored"),
            );
        }
        self.warn_unused_defaults();
        self.check_mandatory()?;
        Ok((self.cfg, self.warnings))
    }
}

/// A TUN base name: the kernel allows 15 bytes, and a number is appended.
fn device(c: &Ctx<'_>) -> Result<String, ConfigError> {
    let v = c.value;
    let ok = !v.is_empty()
        && v.len() <= 12
        && v != "."
        && v != ".."
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(c.expected(
            "a network device base name of 1..12 characters (letters, digits, '-', '_', '.')",
        ));
    }
    Ok(v.to_owned())
}

/// A dotted OID, or (for the user OID) `SAN(rfc822name)`.
fn oid(c: &Ctx<'_>, allow_san: bool) -> Result<String, ConfigError> {
    let v = c.value;
    if allow_san && v.eq_ignore_ascii_case("SAN(rfc822name)") {
        return Ok(v.to_owned());
    }
    let dotted = v.contains('.')
        && v.split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if dotted {
        Ok(v.to_owned())
    } else if allow_san {
        Err(c.expected("a dotted OID such as 2.5.4.3, or SAN(rfc822name)"))
    } else {
        Err(c.expected("a dotted OID such as 2.5.4.11"))
    }
}
