//! Cross-option checks run when a scope is complete: authentication combinations, address
//! pools, mandatory options.

use super::{Builder, MAX_AUTH_METHODS};
use crate::auth::AuthMethod;
use crate::error::ConfigError;

impl Builder<'_> {
    pub(super) fn check_auth(&self) -> Result<(), ConfigError> {
        let err = |line: usize, key: &str, msg: String| ConfigError::at(self.file, line, key, msg);
        let mut password: Option<&AuthMethod> = None;
        let mut primary_module: Option<&AuthMethod> = None;
        for (n, (line, key, method)) in self.auth_lines.iter().enumerate() {
            if n >= MAX_AUTH_METHODS {
                return Err(err(
                    *line,
                    key,
                    format!("at most {MAX_AUTH_METHODS} authentication methods may be configured (auth and enable-auth together)"),
                ));
            }
            if method.is_password() {
                if let Some(first) = password {
                    return Err(err(
                        *line,
                        key,
                        format!(
                            "only one password method (plain, pam or radius) may be configured; '{}' conflicts with '{}'",
                            method.name(),
                            first.name()
                        ),
                    ));
                }
                password = Some(method);
            }
            if *key == "auth" && *method != AuthMethod::Certificate {
                if let Some(first) = primary_module {
                    return Err(err(
                        *line,
                        key,
                        format!(
                            "the 'auth' lines may combine 'certificate' with one other method only; '{}' conflicts with '{}' (use enable-auth for alternatives)",
                            method.name(),
                            first.name()
                        ),
                    ));
                }
                primary_module = Some(method);
            }
        }
        if self.cfg.wants_client_cert() && self.cfg.cert_user_oid.is_none() {
            let line = self
                .auth_lines
                .iter()
                .find(|(_, _, m)| *m == AuthMethod::Certificate);
            let msg = "certificate authentication needs 'cert-user-oid' (e.g. 2.5.4.3 for the CN, or SAN(rfc822name))";
            return Err(match line {
                Some((l, k, _)) => err(*l, k, msg.to_owned()),
                None => ConfigError::file(self.file, Some("cert-user-oid"), msg),
            });
        }
        Ok(())
    }

    pub(super) fn build_ipv4(&mut self) -> Result<(), ConfigError> {
        if let Some((_, net)) = self.pool.ipv4_pool(self.file, &mut self.warnings)? {
            self.cfg.ipv4_network = Some(net);
        }
        Ok(())
    }

    pub(super) fn build_ipv6(&mut self) -> Result<(), ConfigError> {
        let pool = self.pool.ipv6_pool(self.file, &mut self.warnings)?;
        let line = pool.map_or(0, |(line, _)| line);
        if let Some((_, net)) = pool {
            self.cfg.ipv6_network = Some(net);
        }
        if let (Some(sub), Some(net)) = (self.cfg.ipv6_subnet_prefix, self.cfg.ipv6_network) {
            if sub <= net.prefix_len() {
                let sline = self
                    .first_line
                    .get("ipv6-subnet-prefix")
                    .copied()
                    .unwrap_or(line);
                return Err(ConfigError::at(
                    self.file,
                    sline,
                    "ipv6-subnet-prefix",
                    format!(
                        "expected a prefix longer than the pool's /{}, got '{sub}'",
                        net.prefix_len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `default-user-config` / `default-group-config` only apply together with their
    /// directory (ocserv looks for the default only after looking in the directory).
    pub(super) fn warn_unused_defaults(&mut self) {
        let pairs = [
            (
                "default-user-config",
                self.cfg.default_user_config.is_some(),
                "config-per-user",
                self.cfg.config_per_user.is_some(),
            ),
            (
                "default-group-config",
                self.cfg.default_group_config.is_some(),
                "config-per-group",
                self.cfg.config_per_group.is_some(),
            ),
        ];
        for (key, set, dir, dir_set) in pairs {
            if set && !dir_set {
                if let Some(line) = self.first_line.get(key).copied() {
                    self.warn(
                        line,
                        key,
                        format!("option '{key}' has no effect without '{dir}' (as in ocserv); set '{dir}' too"),
                    );
                }
            }
        }
    }

    pub(super) fn check_mandatory(&self) -> Result<(), ConfigError> {
        let cfg = &self.cfg;
        let missing = |key: &str| ConfigError::missing(self.file, key);
        if cfg.auth.is_empty() {
            return Err(missing("auth"));
        }
        if cfg.tcp_port == 0 {
            return Err(missing("tcp-port"));
        }
        if cfg.server_cert.is_empty() {
            return Err(missing("server-cert"));
        }
        if cfg.server_key.is_empty() {
            return Err(missing("server-key"));
        }
        if cfg.server_cert.len() != cfg.server_key.len() {
            return Err(ConfigError::file(
                self.file,
                Some("server-key"),
                format!(
                    "'server-cert' is given {} time(s) but 'server-key' {} time(s); each certificate needs its key",
                    cfg.server_cert.len(),
                    cfg.server_key.len()
                ),
            ));
        }
        if cfg.device.is_empty() {
            return Err(missing("device"));
        }
        if cfg.ipv4_network.is_none() && cfg.ipv6_network.is_none() {
            return Err(ConfigError::file(
                self.file,
                Some("ipv4-network"),
                "missing mandatory option 'ipv4-network' (or 'ipv6-network'): an address pool is required",
            ));
        }
        if cfg.shared_tun && cfg.ipv4_network.is_none() {
            let line = self.first_line.get("shared-tun").copied().unwrap_or(0);
            return Err(ConfigError::at(
                self.file,
                line,
                "shared-tun",
                "the shared TUN device needs an IPv4 pool ('ipv4-network'): it routes that pool to the sessions (IPv6 pools are not implemented)",
            ));
        }
        Ok(())
    }
}
