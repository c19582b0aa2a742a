//! Address pools from their parts (`ipv4-network` + `ipv4-netmask`, `ipv6-network` +
//! `ipv6-prefix`): the one place that turns them into networks, for the main file, the
//! `[vhost:NAME]` sections and the per-user/per-group files alike.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::{ConfigError, ConfigWarning};
use crate::value::{self as val, Ctx};

/// The pool options seen in one scope, each with its line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolParts {
    /// `ipv4-network`: line, address, prefix length if written.
    pub ipv4: Option<(usize, Ipv4Addr, Option<u8>)>,
    /// `ipv4-netmask`: line, prefix length.
    pub ipv4_mask: Option<(usize, u8)>,
    /// `ipv6-network`: line, address, prefix length if written.
    pub ipv6: Option<(usize, Ipv6Addr, Option<u8>)>,
    /// `ipv6-prefix`: line, prefix length.
    pub ipv6_prefix: Option<(usize, u8)>,
}

impl PoolParts {
    /// Records `name` (with its value in `c`) when it is one of the four pool options; other
    /// names are left alone. The main file, vhosts and per-user files all collect them here.
    pub fn record(&mut self, name: &str, c: &Ctx<'_>) -> Result<(), ConfigError> {
        match name {
            "ipv4-network" => {
                let (addr, prefix) = val::ipv4_network(c)?;
                self.ipv4 = Some((c.line, addr, prefix));
            }
            "ipv4-netmask" => self.ipv4_mask = Some((c.line, val::ipv4_netmask(c)?)),
            "ipv6-network" => {
                let (addr, prefix) = val::ipv6_network(c)?;
                self.ipv6 = Some((c.line, addr, prefix));
            }
            "ipv6-prefix" => self.ipv6_prefix = Some((c.line, val::ipv6_prefix_len(c)?)),
            _ => {}
        }
        Ok(())
    }
}

fn host_bits_warning(file: &Path, line: usize, key: &str, message: String) -> ConfigWarning {
    ConfigWarning {
        file: file.to_path_buf(),
        line,
        key: key.to_owned(),
        message,
    }
}

/// The option names of one address family, and how its length option is quoted in errors.
struct Keys {
    net: &'static str,
    len: &'static str,
    len_text: fn(u8) -> String,
}

/// Network address and prefix length from `NET = a/N` and/or the separate length option
/// (`ipv4-netmask`, `ipv6-prefix`): a length without a network, two lengths that disagree, or no
/// length at all are errors naming the line and the option. `None` when neither is set.
fn resolve<A: Copy + std::fmt::Display>(
    file: &Path,
    keys: Keys,
    net: Option<(usize, A, Option<u8>)>,
    len_opt: Option<(usize, u8)>,
    no_prefix: impl Fn(A) -> String,
) -> Result<Option<(usize, A, u8)>, ConfigError> {
    let (line, addr, cidr) = match (net, len_opt) {
        (None, None) => return Ok(None),
        (None, Some((lline, _))) => {
            return Err(ConfigError::at(
                file,
                lline,
                keys.len,
                format!("{} is set but {} is not", keys.len, keys.net),
            ))
        }
        (Some(net), _) => net,
    };
    let len = match (cidr, len_opt) {
        (Some(a), Some((lline, b))) if a != b => {
            return Err(ConfigError::at(
                file,
                lline,
                keys.len,
                format!(
                    "{} ({}) contradicts the prefix /{a} given in {} at line {line}",
                    keys.len,
                    (keys.len_text)(b),
                    keys.net
                ),
            ))
        }
        (Some(a), _) => a,
        (None, Some((_, b))) => b,
        (None, None) => return Err(ConfigError::at(file, line, keys.net, no_prefix(addr))),
    };
    Ok(Some((line, addr, len)))
}

impl PoolParts {
    /// True when no pool option was seen.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.ipv4.is_none()
            && self.ipv4_mask.is_none()
            && self.ipv6.is_none()
            && self.ipv6_prefix.is_none()
    }

    /// The IPv4 pool (host bits cleared, with a warning), `None` when not configured here.
    ///
    /// # Errors
    /// A netmask without a network, a contradicting netmask, no prefix at all, or a pool
    /// smaller than 4 addresses.
    pub fn ipv4_pool(
        &self,
        file: &Path,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Option<(usize, Ipv4Net)>, ConfigError> {
        let Some((line, addr, len)) = resolve(
            file,
            Keys {
                net: "ipv4-network",
                len: "ipv4-netmask",
                len_text: |b| format!("/{b}"),
            },
            self.ipv4,
            self.ipv4_mask,
            |addr| format!("expected a prefix: write {addr}/N or add 'ipv4-netmask'"),
        )?
        else {
            return Ok(None);
        };
        if len > 30 {
            return Err(ConfigError::at(
                file,
                line,
                "ipv4-network",
                format!(
                    "expected a pool of at least 4 addresses (prefix /30 or shorter), got /{len}"
                ),
            ));
        }
        let net = Ipv4Net::new(addr, len).map_err(|_| {
            ConfigError::at(file, line, "ipv4-network", format!("invalid prefix /{len}"))
        })?;
        let trunc = net.trunc();
        if trunc != net {
            warnings.push(host_bits_warning(
                file,
                line,
                "ipv4-network",
                format!("ipv4-network {net} has host bits set; using {trunc}"),
            ));
        }
        Ok(Some((line, trunc)))
    }

    /// The IPv6 pool (host bits cleared, with a warning), `None` when not configured here.
    ///
    /// # Errors
    /// A prefix without a network, a contradicting prefix, or no prefix at all.
    pub fn ipv6_pool(
        &self,
        file: &Path,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Option<(usize, Ipv6Net)>, ConfigError> {
        let Some((line, addr, len)) = resolve(
            file,
            Keys {
                net: "ipv6-network",
                len: "ipv6-prefix",
                len_text: |b| b.to_string(),
            },
            self.ipv6,
            self.ipv6_prefix,
            |addr| format!("expected a prefix length: write {addr}/N"),
        )?
        else {
            return Ok(None);
        };
        let net = Ipv6Net::new(addr, len).map_err(|_| {
            ConfigError::at(file, line, "ipv6-network", format!("invalid prefix /{len}"))
        })?;
        let trunc = net.trunc();
        if trunc != net {
            warnings.push(host_bits_warning(
                file,
                line,
                "ipv6-network",
                format!("ipv6-network {net} has host bits set; using {trunc}"),
            ));
        }
        Ok(Some((line, trunc)))
    }
}
