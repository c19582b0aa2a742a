//! Unit tests of the builder.

use super::*;
use crate::ini::Entry;
use std::path::Path;

/// A valid, non-default value for every implemented option.
const SAMPLES: &[(&str, &str)] = &[
    ("tcp-port", "444"),
    ("udp-port", "444"),
    ("listen-host", "::1"),
    ("udp-listen-host", "::1"),
    ("socket-file", "/run/s"),
    ("run-as-user", "nobody"),
    ("run-as-group", "nogroup"),
    ("pid-file", "/run/p"),
    ("device", "tun"),
    ("max-clients", "5"),
    ("log-level", "3"),
    ("server-cert", "c.pem"),
    ("server-key", "k.pem"),
    ("ca-cert", "ca.pem"),
    ("crl", "crl.pem"),
    ("cert-user-oid", "2.5.4.3"),
    ("cert-group-oid", "2.5.4.11"),
    ("tls-priorities", "NORMAL"),
    ("auth", "pam"),
    ("enable-auth", "pam"),
    ("acct", "pam[service=acct]"),
    ("ipv4-network", "10.0.0.0/8"),
    ("ipv4-netmask", "255.0.0.0"),
    ("ipv6-network", "fd00::/48"),
    ("ipv6-prefix", "48"),
    ("ipv6-subnet-prefix", "64"),
    ("predictable-ips", "false"),
    ("route", "10.0.0.0/8"),
    ("no-route", "10.1.0.0/16"),
    ("dns", "10.0.0.1"),
    ("nbns", "10.0.0.2"),
    ("default-domain", "example.com"),
    ("split-dns", "example.com"),
    ("tunnel-all-dns", "true"),
    ("mtu", "1400"),
    ("dtls-psk", "false"),
    ("dtls-legacy", "false"),
    ("no-udp", "true"),
    ("select-group-by-url", "true"),
    ("max-ban-score", "10"),
    ("ban-time", "10"),
    ("ban-reset-time", "10"),
    ("ban-points-wrong-password", "3"),
    ("ban-points-connection", "3"),
    ("match-tls-dtls-ciphers", "true"),
    ("switch-to-tcp-timeout", "10"),
    ("cisco-client-compat", "true"),
    ("auth-timeout", "10"),
    ("idle-timeout", "10"),
    ("mobile-idle-timeout", "10"),
    ("session-timeout", "10"),
    ("keepalive", "10"),
    ("dpd", "10"),
    ("mobile-dpd", "10"),
    ("rekey-time", "10"),
    ("rekey-method", "new-tunnel"),
    ("cookie-timeout", "10"),
    ("persistent-cookies", "true"),
    ("max-same-clients", "1"),
    ("select-group", "g[G]"),
    ("default-select-group", "Default"),
    ("auto-select-group", "true"),
    ("config-per-user", "/u"),
    ("config-per-group", "/g"),
    ("default-user-config", "/du"),
    ("default-group-config", "/dg"),
    ("append-routes", "true"),
    ("connect-script", "/c"),
    ("disconnect-script", "/d"),
    ("host-update-script", "/h"),
    ("banner", "hi"),
    ("pre-login-banner", "hello"),
    ("isolate-workers", "true"),
    ("use-occtl", "true"),
    ("occtl-socket-file", "/run/o"),
    ("compression", "true"),
    ("script-timeout", "5"),
    ("shared-tun", "true"),
];

#[test]
fn every_implemented_key_has_an_effect() {
    for key in keys::implemented_keys() {
        assert!(SAMPLES.iter().any(|(k, _)| k == key), "no sample for {key}");
    }
    let file = Path::new("t.conf");
    for (key, value) in SAMPLES {
        let mut b = Builder::new(file, Config::default(), Mode::Main);
        let entry = Entry {
            key: (*key).to_owned(),
            value: (*value).to_owned(),
            line: 1,
            continuation: false,
        };
        b.apply(&entry).unwrap();
        assert!(b.warnings.is_empty(), "{key}: {:?}", b.warnings);
        let pool_part = !b.pool.is_empty();
        assert!(
            pool_part || b.cfg != Config::default(),
            "{key} changed nothing"
        );
    }
}

fn apply_one(key: &str, value: &str) -> Builder<'static> {
    let mut b = Builder::new(Path::new("t.conf"), Config::default(), Mode::Main);
    let entry = Entry {
        key: key.to_owned(),
        value: value.to_owned(),
        line: 5,
        continuation: false,
    };
    b.apply(&entry).unwrap();
    b
}

#[test]
fn acct_pam_is_typed_and_radius_warns() {
    let b = apply_one("acct", "pam");
    assert_eq!(
        b.cfg.acct,
        Some(crate::AcctMethod::Pam {
            service: "ocserv".into()
        })
    );
    assert!(b.warnings.is_empty());
    let b = apply_one("acct", "radius[config=/etc/radcli/radiusclient.conf]");
    assert_eq!(b.cfg.acct, None);
    assert_eq!(b.warnings.len(), 1);
    assert!(b.warnings[0].message.contains("not implemented"));
}

#[test]
fn lenient_global_keys_are_ignored_in_vhosts() {
    let file = Path::new("t.conf");
    let mut b = Builder::new(file, Config::default(), Mode::Vhost);
    let entry = Entry {
        key: "log-level".into(),
        value: "9".into(),
        line: 3,
        continuation: false,
    };
    b.apply(&entry).unwrap();
    assert_eq!(b.cfg.log_level, 2);
    assert!(b.warnings[0]
        .message
        .contains("applies to the whole server"));
}
