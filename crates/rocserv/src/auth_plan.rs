//! Which authentication a login needs, from `auth` (all must pass) and `enable-auth` (any one
//! suffices) (ocserv-reference.md §1.5, §2.2). rocserv-config already guarantees at most one
//! password method (plain or PAM) and at most four methods.

use std::sync::Arc;

use rocserv_auth::{AuthBackend, PamBackend, PamOptions, PlainBackend};
use rocserv_config::{AcctMethod, AuthMethod, Config};

pub struct AuthPlan {
    /// The password method (plain, plain with OTP, or PAM), if any.
    pub password: Option<Arc<dyn AuthBackend>>,
    /// A verified client certificate alone logs the user in.
    pub cert_sufficient: bool,
    /// `certificate` together with a password method in `auth`: both are required, and the user
    /// name typed must be the certificate's.
    pub cert_and_password: bool,
    /// The password method alone logs the user in.
    pub password_sufficient: bool,
    /// `acct = "pam[service=NAME]"`: the PAM service whose account stack must accept every
    /// logged-in user before the session opens.
    pub account_service: Option<String>,
}

impl AuthPlan {
    /// Whether client certificates are requested in the TLS handshake.
    pub fn uses_certificates(&self) -> bool {
        self.cert_sufficient || self.cert_and_password
    }
}

fn password_backend(m: &AuthMethod) -> Result<Option<Arc<dyn AuthBackend>>, String> {
    Ok(match m {
        AuthMethod::Plain { passwd, otp: None } => {
            Some(PlainBackend::open(passwd).map_err(|e| e.to_string())?)
        }
        AuthMethod::Plain {
            passwd,
            otp: Some(otp),
        } => Some(PlainBackend::open_with_otp(passwd, otp).map_err(|e| e.to_string())?),
        AuthMethod::Pam { service, gid_min } => {
            let options = PamOptions {
                gid_min: *gid_min,
                ..PamOptions::service(service.clone())
            };
            Some(PamBackend::new(options).map_err(|e| e.to_string())?)
        }
        AuthMethod::Certificate => None,
        other => {
            return Err(format!(
                "auth method '{}' is not implemented by rocserv yet",
                other.name()
            ))
        }
    })
}

/// Builds the plan, opening the password backend (errors name the file or the PAM service).
pub fn build(cfg: &Config) -> Result<AuthPlan, String> {
    let mut password = None;
    let mut primary_has_cert = false;
    let mut primary_has_password = false;
    for m in &cfg.auth {
        if matches!(m, AuthMethod::Certificate) {
            primary_has_cert = true;
        } else {
            primary_has_password = true;
            password = password_backend(m)?;
        }
    }
    let mut cert_sufficient = primary_has_cert && !primary_has_password;
    let mut password_sufficient = primary_has_password && !primary_has_cert;
    for m in &cfg.enable_auth {
        if matches!(m, AuthMethod::Certificate) {
            cert_sufficient = true;
        } else {
            password = password_backend(m)?;
            password_sufficient = true;
        }
    }
    let cert_and_password = primary_has_cert && primary_has_password;
    if (cert_sufficient || cert_and_password) && cfg.ca_cert.is_none() {
        return Err("certificate authentication needs 'ca-cert'".into());
    }
    let account_service = cfg.acct.as_ref().map(|acct| match acct {
        AcctMethod::Pam { service } => service.clone(),
    });
    Ok(AuthPlan {
        password,
        cert_sufficient,
        cert_and_password,
        password_sufficient,
        account_service,
    })
}
