//! Cross-option checks run when a scope is complete: authentication combinations, address
//! pools, mandatory options.

use std::net::Ipv6Addr;

use ipnet::{Ipv4Net, Ipv6Net};

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
        let (line, addr, cidr) = match (self.ipv4, self.ipv4_mask) {
            (None, None) => return Ok(()),
            (None, Some((mline, _))) => {
                return Err(ConfigError::at(
                    self.file,
                    mline,
                    "ipv4-netmask",
                    "ipv4-netmask is set but ipv4-network is not",
                ))
            }
            (Some(net), _) => net,
        };
        let len = match (cidr, self.ipv4_mask) {
            (Some(a), Some((mline, b))) if a != b => {
                return Err(ConfigError::at(
                    self.file,
                    mline,
                    "ipv4-netmask",
                    format!("ipv4-netmask (/{b}) contradicts the prefix /{a} given in ipv4-network at line {line}"),
                ))
            }
            (Some(a), _) => a,
            (None, Some((_, b))) => b,
            (None, None) => {
                return Err(ConfigError::at(
                    self.file,
                    line,
                    "ipv4-network",
                    format!("expected a prefix: write {addr}/N or add 'ipv4-netmask'"),
                ))
            }
        };
        if len > 30 {
            return Err(ConfigError::at(
                self.file,
                line,
                "ipv4-network",
                format!(
                    "expected a pool of at least 4 addresses (prefix /30 or shorter), got /{len}"
                ),
            ));
        }
        let net = Ipv4Net::new(addr, len).map_err(|_| {
            ConfigError::at(
                self.file,
                line,
                "ipv4-network",
                format!("invalid prefix /{len}"),
            )
        })?;
        let trunc = net.trunc();
        if trunc != net {
            self.warn(
                line,
                "ipv4-network",
                format!("ipv4-network {net} has host bits set; using {trunc}"),
            );
        }
        self.cfg.ipv4_network = Some(trunc);
        Ok(())
    }

    pub(super) fn build_ipv6(&mut self) -> Result<(), ConfigError> {
        let (line, addr, cidr) = match (self.ipv6, self.ipv6_prefix) {
            (None, None) => (0, Ipv6Addr::UNSPECIFIED, None),
            (None, Some((pline, _))) => {
                return Err(ConfigError::at(
                    self.file,
                    pline,
                    "ipv6-prefix",
                    "ipv6-prefix is set but ipv6-network is not",
                ))
            }
            (Some((l, a, p)), _) => (l, a, Some(p)),
        };
        if let Some(cidr) = cidr {
            let len = match (cidr, self.ipv6_prefix) {
                (Some(a), Some((pline, b))) if a != b => {
                    return Err(ConfigError::at(
                        self.file,
                        pline,
                        "ipv6-prefix",
                        format!("ipv6-prefix ({b}) contradicts the prefix /{a} given in ipv6-network at line {line}"),
                    ))
                }
                (Some(a), _) => a,
                (None, Some((_, b))) => b,
                (None, None) => {
                    return Err(ConfigError::at(
                        self.file,
                        line,
                        "ipv6-network",
                        format!("expected a prefix length: write {addr}/N"),
                    ))
                }
            };
            let net = Ipv6Net::new(addr, len).map_err(|_| {
                ConfigError::at(
                    self.file,
                    line,
                    "ipv6-network",
                    format!("invalid prefix /{len}"),
                )
            })?;
            let trunc = net.trunc();
            if trunc != net {
                self.warn(
                    line,
                    "ipv6-network",
                    format!("ipv6-network {net} has host bits set; using {trunc}"),
                );
            }
            self.cfg.ipv6_network = Some(trunc);
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
        Ok(())
    }
}
