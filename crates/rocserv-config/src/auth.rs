//! `auth` / `enable-auth` values: `plain[passwd=F,otp=G]`, `pam[service=S,gid-min=N]`,
//! `certificate`, `radius[...]`, `gssapi[...]`, `oidc[...]`; and `acct` values: `pam`,
//! `pam[service=NAME]`, `radius[...]`.

use std::path::PathBuf;

use crate::error::ConfigError;
use crate::value::Ctx;

/// An authentication method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// ocpasswd-format password file, optional OATH (HOTP/TOTP) users file.
    Plain {
        /// The password file.
        passwd: PathBuf,
        /// The OTP users file.
        otp: Option<PathBuf>,
    },
    /// A PAM stack.
    Pam {
        /// PAM service name (default `ocserv`, so existing PAM stacks keep working).
        service: String,
        /// Lowest gid whose groups count (for `auto-select-group`).
        gid_min: Option<u32>,
    },
    /// TLS client certificate.
    Certificate,
    /// RADIUS; `raw` is the text between the brackets.
    Radius {
        /// Sub-options as written, e.g. `config=/etc/radcli/radiusclient.conf,groupconfig=true`.
        raw: String,
    },
    /// Kerberos / SPNEGO; `raw` is the text between the brackets.
    Gssapi {
        /// Sub-options as written.
        raw: String,
    },
    /// OpenID Connect bearer tokens; `raw` is the text between the brackets.
    Oidc {
        /// Sub-options as written.
        raw: String,
    },
}

impl AuthMethod {
    /// The method's name as written in the configuration (`plain`, `pam`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Plain { .. } => "plain",
            Self::Pam { .. } => "pam",
            Self::Certificate => "certificate",
            Self::Radius { .. } => "radius",
            Self::Gssapi { .. } => "gssapi",
            Self::Oidc { .. } => "oidc",
        }
    }

    /// True for methods that ask for a username and password (plain, pam, radius);
    /// at most one of them may be configured.
    pub fn is_password(&self) -> bool {
        matches!(
            self,
            Self::Plain { .. } | Self::Pam { .. } | Self::Radius { .. }
        )
    }
}

/// An accounting method (`acct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcctMethod {
    /// A PAM account-management check (`pam_acct_mgmt`) of the user when the session opens,
    /// whatever method authenticated them.
    Pam {
        /// PAM service name (default `ocserv`).
        service: String,
    },
}

/// What an `acct` value asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcctValue {
    /// A method rocserv implements.
    Method(AcctMethod),
    /// `radius[...]`: accepted, not implemented.
    Radius,
}

const ACCT_EXPECTED: &str = "an accounting method: pam, pam[service=NAME] or radius[...]";

/// Parses an `acct` value.
pub(crate) fn parse_acct(c: &Ctx<'_>) -> Result<AcctValue, ConfigError> {
    let v = c.value;
    let (name, inner) = match v.split_once('[') {
        None => (v, ""),
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix(']')
                .ok_or_else(|| c.expected(ACCT_EXPECTED))?;
            (name, inner.trim())
        }
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "pam" => {
            let mut service = "ocserv".to_owned();
            for (k, v) in sub_options(c, inner)? {
                match k {
                    "service" if !v.is_empty() && !v.contains('/') && v != "." && v != ".." => {
                        service = v.to_owned()
                    }
                    _ => {
                        return Err(c.error(format!(
                            "acct pam: unknown or unusable sub-option '{}' (expected service=NAME, \
                             a file name in /etc/pam.d)",
                            crate::error::show(k)
                        )))
                    }
                }
            }
            Ok(AcctValue::Method(AcctMethod::Pam { service }))
        }
        "radius" => Ok(AcctValue::Radius),
        _ => Err(c.expected(ACCT_EXPECTED)),
    }
}

const EXPECTED: &str =
    "an authentication method: plain[passwd=FILE], plain[passwd=FILE,otp=FILE], \
                        pam, pam[service=NAME,gid-min=N], certificate, radius[...], gssapi[...] \
                        or oidc[...]";

/// Parses one `auth`/`enable-auth` value.
pub(crate) fn parse(c: &Ctx<'_>) -> Result<AuthMethod, ConfigError> {
    let v = c.value;
    let (name, inner) = match v.split_once('[') {
        None => (v, None),
        Some((name, rest)) => {
            let inner = rest.strip_suffix(']').ok_or_else(|| c.expected(EXPECTED))?;
            (name, Some(inner.trim()))
        }
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "plain" => plain(c, inner.unwrap_or_default()),
        "pam" => pam(c, inner.unwrap_or_default()),
        "certificate" => match inner {
            None | Some("") => Ok(AuthMethod::Certificate),
            Some(_) => Err(c.error(format!(
                "the 'certificate' method takes no options, got '{}'",
                crate::error::show(v)
            ))),
        },
        "radius" => Ok(AuthMethod::Radius {
            raw: inner.unwrap_or_default().to_owned(),
        }),
        "gssapi" => Ok(AuthMethod::Gssapi {
            raw: inner.unwrap_or_default().to_owned(),
        }),
        "oidc" => Ok(AuthMethod::Oidc {
            raw: inner.unwrap_or_default().to_owned(),
        }),
        _ => Err(c.expected(EXPECTED)),
    }
}

/// Splits `a=1,b=2` into pairs; an item without `=` is an error.
fn sub_options<'v>(c: &Ctx<'_>, inner: &'v str) -> Result<Vec<(&'v str, &'v str)>, ConfigError> {
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| {
                    c.error(format!(
                        "expected sub-options as name=value separated by commas, got '{}'",
                        crate::error::show(item)
                    ))
                })
        })
        .collect()
}

fn plain(c: &Ctx<'_>, inner: &str) -> Result<AuthMethod, ConfigError> {
    if inner.is_empty() {
        return Err(c.error(
            "the 'plain' method needs a password file: plain[passwd=/etc/rocserv/ocpasswd]",
        ));
    }
    if !inner.contains('=') {
        // Legacy form: plain[/path/to/ocpasswd]
        return Ok(AuthMethod::Plain {
            passwd: PathBuf::from(inner),
            otp: None,
        });
    }
    let mut passwd = None;
    let mut otp = None;
    for (k, v) in sub_options(c, inner)? {
        if v.is_empty() {
            return Err(c.error(format!("plain: sub-option '{k}' needs a file path")));
        }
        match k {
            "passwd" => passwd = Some(PathBuf::from(v)),
            "otp" => otp = Some(PathBuf::from(v)),
            _ => {
                return Err(c.error(format!(
                    "plain: unknown sub-option '{}' (expected passwd= or otp=)",
                    crate::error::show(k)
                )))
            }
        }
    }
    let passwd = passwd.ok_or_else(|| {
        c.error("the 'plain' method needs a password file: plain[passwd=FILE,otp=FILE]")
    })?;
    Ok(AuthMethod::Plain { passwd, otp })
}

fn pam(c: &Ctx<'_>, inner: &str) -> Result<AuthMethod, ConfigError> {
    let mut service = "ocserv".to_owned();
    let mut gid_min = None;
    for (k, v) in sub_options(c, inner)? {
        match k {
            "service" if !v.is_empty() => service = v.to_owned(),
            "gid-min" => {
                gid_min = Some(v.parse::<u32>().map_err(|_| {
                    c.error(format!(
                        "pam: expected gid-min to be a group id (0..4294967295), got '{}'",
                        crate::error::show(v)
                    ))
                })?);
            }
            _ => {
                return Err(c.error(format!(
                    "pam: unknown or empty sub-option '{}' (expected service=NAME or gid-min=N)",
                    crate::error::show(k)
                )))
            }
        }
    }
    Ok(AuthMethod::Pam { service, gid_min })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn p(v: &str) -> Result<AuthMethod, ConfigError> {
        parse(&Ctx {
            file: Path::new("t.conf"),
            line: 4,
            key: "auth",
            value: v,
            continuation: false,
        })
    }

    #[test]
    fn plain_forms() {
        assert_eq!(
            p("plain[passwd=/etc/ocserv/ocpasswd]").unwrap(),
            AuthMethod::Plain {
                passwd: "/etc/ocserv/ocpasswd".into(),
                otp: None
            }
        );
        assert_eq!(
            p("plain[/etc/ocserv/ocpasswd]").unwrap(),
            AuthMethod::Plain {
                passwd: "/etc/ocserv/ocpasswd".into(),
                otp: None
            }
        );
        assert_eq!(
            p("plain[passwd=F,otp=G]").unwrap(),
            AuthMethod::Plain {
                passwd: "F".into(),
                otp: Some("G".into())
            }
        );
        assert!(p("plain").is_err());
        assert!(p("plain[otp=G]").is_err());
        assert!(p("plain[passwd=F,colour=red]").is_err());
        assert!(p("plain[passwd=F").is_err());
    }

    #[test]
    fn pam_forms() {
        assert_eq!(
            p("pam").unwrap(),
            AuthMethod::Pam {
                service: "ocserv".into(),
                gid_min: None
            }
        );
        assert_eq!(
            p("pam[service=vpn,gid-min=1000]").unwrap(),
            AuthMethod::Pam {
                service: "vpn".into(),
                gid_min: Some(1000)
            }
        );
        assert!(p("pam[gid-min=x]").is_err());
    }

    fn acct(v: &str) -> Result<AcctValue, ConfigError> {
        parse_acct(&Ctx {
            file: Path::new("t.conf"),
            line: 9,
            key: "acct",
            value: v,
            continuation: false,
        })
    }

    #[test]
    fn acct_forms() {
        let pam = |s: &str| {
            AcctValue::Method(AcctMethod::Pam {
                service: s.to_owned(),
            })
        };
        assert_eq!(acct("pam").unwrap(), pam("ocserv"));
        assert_eq!(acct("PAM").unwrap(), pam("ocserv"));
        assert_eq!(acct("pam[]").unwrap(), pam("ocserv"));
        assert_eq!(acct("pam[service=vpn-acct]").unwrap(), pam("vpn-acct"));
        assert_eq!(
            acct("radius[config=/etc/radcli/radiusclient.conf,nas-identifier=x]").unwrap(),
            AcctValue::Radius
        );
        for bad in [
            "pam[service=]",
            "pam[service=a/b]",
            "pam[service=..]",
            "pam[gid-min=3]",
            "pam[service=x",
            "pam[service]",
            "ldap",
            "",
        ] {
            let e = acct(bad).unwrap_err();
            assert_eq!(e.line, Some(9), "{bad}");
        }
        assert!(acct("syslog")
            .unwrap_err()
            .to_string()
            .contains("expected an accounting method"));
    }

    #[test]
    fn other_methods() {
        assert_eq!(p("certificate").unwrap(), AuthMethod::Certificate);
        assert_eq!(p("Certificate").unwrap(), AuthMethod::Certificate);
        assert!(p("certificate[x=y]").is_err());
        assert_eq!(
            p("radius[config=/etc/radcli/radiusclient.conf,groupconfig=true]").unwrap(),
            AuthMethod::Radius {
                raw: "config=/etc/radcli/radiusclient.conf,groupconfig=true".into()
            }
        );
        assert!(matches!(
            p("gssapi[keytab=/k]").unwrap(),
            AuthMethod::Gssapi { .. }
        ));
        assert!(matches!(
            p("oidc[config=/o.json]").unwrap(),
            AuthMethod::Oidc { .. }
        ));
        let e = p("ldap").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e
            .to_string()
            .starts_with("t.conf:4: key 'auth': expected an authentication"));
        assert!(e.to_string().ends_with("got 'ldap'"));
    }
}
