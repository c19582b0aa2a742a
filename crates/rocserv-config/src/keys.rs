//! The table of every option ocserv knows, and what rocserv does with each.

use std::sync::OnceLock;

/// Where an option may appear (ocserv's scope annotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Top level only; inside `[vhost:NAME]` it is an error.
    Global,
    /// Top level only, but ocserv silently accepts it inside `[vhost:NAME]`: there rocserv
    /// ignores it with a warning.
    GlobalLenient,
    /// Top level (the default vhost) or inside `[vhost:NAME]`.
    Vhost,
    /// Like `Vhost`, and also in per-user / per-group files.
    VhostUser,
    /// Only in per-user / per-group files (ignored with a warning in the main file).
    UserOnly,
}

/// What rocserv does with an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed into [`crate::Config`].
    Implemented,
    /// Accepted, ignored, one warning per file.
    NotImplemented,
    /// Old name of another option; applied as that option, with a warning.
    Alias(&'static str),
    /// Deprecated in ocserv and without effect: one warning.
    Deprecated,
    /// Removed from ocserv: a hard error with this explanation.
    Removed(&'static str),
}

/// One row of the option table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Option name as written in ocserv.conf.
    pub name: &'static str,
    /// Where it may appear.
    pub scope: Scope,
    /// What rocserv does with it.
    pub status: Status,
}

const fn k(name: &'static str, scope: Scope, status: Status) -> KeyInfo {
    KeyInfo {
        name,
        scope,
        status,
    }
}

use Scope::{Global as G, GlobalLenient as GL, UserOnly as U, Vhost as V, VhostUser as VU};
use Status::{Implemented as I, NotImplemented as N};

/// Every option of ocserv (ocserv-reference §1.3–1.17) plus rocserv's own extensions.
pub const KEYS: &[KeyInfo] = &[
    // §1.3 listening, sockets, process-wide
    k("tcp-port", G, I),
    k("udp-port", G, I),
    k("listen-host", G, I),
    k("udp-listen-host", G, I),
    k("listen-netns", GL, N),
    k("listen-host-is-dyndns", V, N),
    k("listen-proxy-proto", G, N),
    k("socket-file", G, I),
    k("chroot-dir", G, N),
    k("run-as-user", G, I),
    k("run-as-group", G, I),
    k("pid-file", GL, I),
    k("device", G, I),
    k("max-clients", G, I),
    k("server-drain-ms", G, N),
    k("sec-mod-scale", G, N),
    k("use-utmp", G, N),
    k("log-level", GL, I),
    k("syslog-facility", GL, N),
    k("server-stats-reset-time", G, N),
    k("stats-report-time", VU, N),
    // §1.4 TLS
    k("server-cert", V, I),
    k("server-key", V, I),
    k("key-pin", V, N),
    k("pin-file", V, N),
    k("srk-pin", V, N),
    k("srk-pin-file", V, N),
    k("dh-params", V, N),
    k("ca-cert", V, I),
    k("crl", V, I),
    k("cert-user-oid", V, I),
    k("cert-group-oid", V, I),
    k("ocsp-response", V, N),
    k("tls-priorities", V, I),
    k("match-tls-dtls-ciphers", V, I),
    // §1.5 authentication and accounting
    k("auth", V, I),
    k("enable-auth", V, I),
    k("acct", V, I),
    // §1.6 network
    k("ipv4-network", VU, I),
    k("ipv4-netmask", VU, I),
    k("ipv6-network", VU, I),
    k("ipv6-prefix", VU, I),
    k("ipv6-subnet-prefix", VU, I),
    k("explicit-ipv4", U, N),
    k("explicit-ipv6", U, N),
    k("hostname", U, N),
    k("iroute", U, N),
    k("predictable-ips", V, I),
    k("ping-leases", G, N),
    k("route", VU, I),
    k("no-route", VU, I),
    k("append-routes", V, I),
    k("expose-iroutes", V, N),
    k("route-add-cmd", G, N),
    k("route-del-cmd", G, N),
    k("dns", VU, I),
    k("ipv4-dns", VU, Status::Alias("dns")),
    k("ipv6-dns", VU, Status::Alias("dns")),
    k("nbns", VU, I),
    k("ipv4-nbns", VU, Status::Alias("nbns")),
    k("ipv6-nbns", VU, Status::Alias("nbns")),
    k("default-domain", V, I),
    k("split-dns", VU, I),
    k("tunnel-all-dns", VU, I),
    k("client-bypass-protocol", VU, N),
    k("mtu", VU, I),
    k("output-buffer", V, N),
    k("net-priority", VU, N),
    k("rx-data-per-sec", VU, N),
    k("tx-data-per-sec", VU, N),
    k("restrict-user-to-routes", VU, N),
    k("restrict-user-to-ports", VU, N),
    k("proxy-url", V, N),
    // §1.7 DTLS / UDP
    k("no-udp", VU, I),
    k("dtls-psk", G, I),
    k("dtls-legacy", V, I),
    k("cisco-client-compat", V, I),
    k("cisco-svc-client-compat", V, N),
    k("switch-to-tcp-timeout", V, I),
    k("try-mtu-discovery", G, N),
    // §1.8 timeouts
    k("auth-timeout", G, I),
    k("idle-timeout", VU, I),
    k("mobile-idle-timeout", VU, I),
    k("session-timeout", VU, I),
    k("keepalive", VU, I),
    k("dpd", VU, I),
    k("mobile-dpd", VU, I),
    k("rekey-time", V, I),
    k("rekey-method", V, I),
    // §1.9 session and cookie
    k("cookie-timeout", V, I),
    k("persistent-cookies", V, I),
    k("deny-roaming", VU, N),
    k("max-same-clients", VU, I),
    k("sec-mod-db-cleanup-time", G, N),
    // §1.10 limits and bans
    k("max-ban-score", G, I),
    k("ban-time", G, I),
    k("ban-reset-time", G, I),
    k("ban-points-wrong-password", G, I),
    k("ban-points-connection", G, I),
    k("ban-points-kkdcp", G, N),
    k("rate-limit-ms", G, N),
    k("limit-worker-memory", G, N),
    // §1.11 groups
    k("select-group", V, I),
    k("default-select-group", V, I),
    k("auto-select-group", V, I),
    k("select-group-by-url", V, I),
    k("config-per-user", V, I),
    k("config-per-group", V, I),
    k("default-user-config", V, I),
    k("default-group-config", V, I),
    // §1.12 scripts
    k("connect-script", G, I),
    k("disconnect-script", G, I),
    k("host-update-script", G, I),
    // §1.13 HTTP surface
    k("banner", V, I),
    k("pre-login-banner", V, I),
    k("user-profile", VU, N),
    k("custom-header", V, N),
    k("included-http-headers", V, N),
    k("camouflage", V, N),
    k("camouflage_secret", V, N),
    k("camouflage_realm", V, N),
    k("kkdcp", V, N),
    // §1.14 isolation
    k("isolate-workers", G, I),
    // §1.15 control socket
    k("use-occtl", G, I),
    k("occtl-socket-file", G, I),
    // §1.16 compression
    k("compression", V, I),
    k("compression-algo-priority", G, N),
    k("no-compress-limit", V, N),
    // §1.17 deprecated / removed / hidden
    k(
        "listen-clear-file",
        G,
        Status::Removed("the 'listen-clear-file' option was removed in ocserv 1.1.2; use listen-proxy-proto or a TLS-terminating proxy instead"),
    ),
    k("min-reauth-time", G, Status::Alias("ban-time")),
    k("use-seccomp", G, Status::Alias("isolate-workers")),
    k("use-dbus", G, Status::Alias("use-occtl")),
    k("always-require-cert", V, Status::Alias("cisco-client-compat")),
    k("session-control", V, Status::Deprecated),
    k("debug-no-secmod-stats", GL, N),
    // rocserv extensions
    k("script-timeout", G, I),
    k("shared-tun", G, I),
];

/// Looks an option up by its exact name.
pub fn lookup(name: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|info| info.name == name)
}

/// The options that the typed [`crate::Config`] honours (for the daemon's documentation),
/// in table order. Derived from [`KEYS`], the single source of truth.
pub fn implemented_keys() -> &'static [&'static str] {
    static IMPLEMENTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    IMPLEMENTED.get_or_init(|| {
        KEYS.iter()
            .filter(|info| info.status == Status::Implemented)
            .map(|info| info.name)
            .collect()
    })
}

/// The options accepted in per-user / per-group files (scopes `VhostUser` and `UserOnly`,
/// old spellings included), in table order. Derived from [`KEYS`].
pub fn per_user_keys() -> &'static [&'static str] {
    static PER_USER: OnceLock<Vec<&'static str>> = OnceLock::new();
    PER_USER.get_or_init(|| {
        KEYS.iter()
            .filter(|info| matches!(info.scope, Scope::VhostUser | Scope::UserOnly))
            .map(|info| info.name)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implemented_list_comes_from_table() {
        let keys = implemented_keys();
        assert!(keys.contains(&"tcp-port") && keys.contains(&"script-timeout"));
        assert!(keys.contains(&"acct") && keys.contains(&"auto-select-group"));
        assert!(!keys.contains(&"ban-points-kkdcp") && !keys.contains(&"use-seccomp"));
        assert_eq!(keys.len(), 78);
    }

    #[test]
    fn per_user_list_comes_from_table() {
        let keys = per_user_keys();
        assert!(keys.contains(&"route") && keys.contains(&"explicit-ipv4"));
        assert!(keys.contains(&"ipv4-dns") && keys.contains(&"client-bypass-protocol"));
        assert!(!keys.contains(&"tcp-port") && !keys.contains(&"append-routes"));
        assert_eq!(keys.len(), 37);
    }

    #[test]
    fn no_duplicate_rows() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in KEYS.iter().skip(i + 1) {
                assert_ne!(a.name, b.name, "duplicate row");
            }
        }
    }

    #[test]
    fn aliases_point_at_known_keys() {
        for info in KEYS {
            if let Status::Alias(target) = info.status {
                let t = lookup(target).map(|t| t.status);
                assert!(
                    matches!(t, Some(Status::Implemented | Status::NotImplemented)),
                    "{} -> {target}",
                    info.name
                );
            }
        }
    }
}
