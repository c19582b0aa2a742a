//! The example files shipped in examples/ must stay valid.

// Test helpers outside #[test] functions may fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rocserv_config::{implemented_keys, parse_str, AuthMethod};

const OCSERV_CONF: &str = include_str!("../../../examples/ocserv.conf");
const QUICKSTART: &str = include_str!("../../../examples/quickstart.conf");

#[test]
fn example_ocserv_conf_parses_without_warnings() {
    let l = parse_str(OCSERV_CONF, Path::new("examples/ocserv.conf")).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(c.tcp_port, 443);
    assert_eq!(c.ipv4_network, Some("10.30.0.0/24".parse().unwrap()));
    assert!(c.wants_client_cert());
    assert!(c.server_cert[0].starts_with("/etc/rocserv"));
}

/// Keys implemented in this crate whose line in examples/ocserv.conf (a file outside this
/// crate, owned by the lead) has not been added yet. Only these may be missing.
const PENDING_IN_EXAMPLE: &[&str] = &[];

#[test]
fn example_ocserv_conf_mentions_every_implemented_key() {
    for key in implemented_keys() {
        if PENDING_IN_EXAMPLE.contains(key) {
            continue;
        }
        let present = OCSERV_CONF.lines().any(|l| {
            let l = l.trim_start_matches('#');
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        });
        assert!(present, "examples/ocserv.conf does not show '{key}'");
    }
}

#[test]
fn example_ocserv_conf_commented_vhost_is_valid() {
    // Uncommenting the vhost example must give a valid configuration.
    let start = OCSERV_CONF.find("#[vhost:").unwrap();
    let (head, tail) = OCSERV_CONF.split_at(start);
    let uncommented: String = tail
        .lines()
        .map(|l| format!("{}\n", l.trim_start_matches('#')))
        .collect();
    let l = parse_str(&format!("{head}{uncommented}"), Path::new("x.conf")).unwrap();
    let v = l.config.vhost_config("vpn2.example.com").unwrap().unwrap();
    assert!(v.config.default_route);
    assert_eq!(v.config.server_cert.len(), 1);
}

#[test]
fn quickstart_conf_parses() {
    let l = parse_str(QUICKSTART, Path::new("examples/quickstart.conf")).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(
        c.auth,
        vec![AuthMethod::Plain {
            passwd: "/var/lib/rocserv/quickstart/ocpasswd".into(),
            otp: None
        }]
    );
    assert_eq!(c.tcp_port, 4443);
    assert_eq!(c.udp_port, None);
    assert_eq!(c.device, "vpns");
    assert_eq!(c.ipv4_network, Some("10.77.0.0/24".parse().unwrap()));
    assert!(c.dns.is_empty());
    assert!(!c.default_route);
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].text, "10.77.0.0/255.255.255.0");
    assert_eq!(c.max_clients, 16);
    assert_eq!(c.cookie_timeout, 300);
    assert_eq!(c.keepalive, 32400);
    assert_eq!(c.dpd, 90);
    assert_eq!(c.auth_timeout, 240);
    assert_eq!(c.banner.as_deref(), Some("Welcome to rocserv (quickstart)"));
}
