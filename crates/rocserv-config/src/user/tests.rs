//! Unit tests of the per-user builder, the combination rules and the effective values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::*;
use crate::keys::{per_user_keys, KEYS};
use crate::{Config, NetPriority};

const FILE: &str = "/etc/ocserv/config-per-user/alice";

fn parse(text: &str) -> (UserConfig, Vec<ConfigWarning>) {
    match parse_user_str(text, Path::new(FILE)) {
        Ok(r) => r,
        Err(e) => panic!("unexpected error: {e}\n{text}"),
    }
}

fn parse_err(text: &str) -> ConfigError {
    match parse_user_str(text, Path::new(FILE)) {
        Ok(r) => panic!("expected an error for {text:?}, got {r:?}"),
        Err(e) => e,
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A valid value for every option accepted in per-user files.
const SAMPLES: &[(&str, &str)] = &[
    ("stats-report-time", "60"),
    ("ipv4-network", "10.20.0.0/24"),
    ("ipv4-netmask", "255.255.255.0"),
    ("ipv6-network", "fd00:1::/48"),
    ("ipv6-prefix", "48"),
    ("ipv6-subnet-prefix", "64"),
    ("explicit-ipv4", "10.20.0.5"),
    ("explicit-ipv6", "fd00:1::5"),
    ("hostname", "laptop-1"),
    ("iroute", "192.168.50.0/24"),
    ("route", "10.1.0.0/16"),
    ("no-route", "10.1.2.0/24"),
    ("dns", "10.1.0.53"),
    ("ipv4-dns", "10.1.0.54"),
    ("ipv6-dns", "fd00::53"),
    ("nbns", "10.1.0.55"),
    ("ipv4-nbns", "10.1.0.56"),
    ("ipv6-nbns", "fd00::56"),
    ("split-dns", "corp.example"),
    ("tunnel-all-dns", "true"),
    ("client-bypass-protocol", "true"),
    ("mtu", "1300"),
    ("net-priority", "3"),
    ("rx-data-per-sec", "100000"),
    ("tx-data-per-sec", "200000"),
    ("restrict-user-to-routes", "true"),
    ("restrict-user-to-ports", "tcp(443), udp(53)"),
    ("no-udp", "true"),
    ("idle-timeout", "600"),
    ("mobile-idle-timeout", "1200"),
    ("session-timeout", "3600"),
    ("keepalive", "30"),
    ("dpd", "45"),
    ("mobile-dpd", "900"),
    ("deny-roaming", "true"),
    ("max-same-clients", "1"),
    ("user-profile", "/etc/ocserv/profile.xml"),
];

#[test]
fn every_per_user_key_is_accepted_and_has_an_effect() {
    for key in per_user_keys() {
        assert!(SAMPLES.iter().any(|(k, _)| k == key), "no sample for {key}");
    }
    for (key, value) in SAMPLES {
        let text = match *key {
            // The pool parts need their other half in the same file.
            "ipv4-netmask" => format!("ipv4-network = 10.20.0.0\n{key} = {value}\n"),
            "ipv6-prefix" => format!("ipv6-network = fd00:1::\n{key} = {value}\n"),
            _ => format!("{key} = {value}\n"),
        };
        let (u, w) = parse(&text);
        assert!(w.is_empty(), "{key}: {w:?}");
        assert!(!u.is_empty(), "{key} changed nothing");
        assert_eq!(u.files, vec![PathBuf::from(FILE)]);
    }
}

#[test]
fn values_are_typed() {
    let text = SAMPLES
        .iter()
        .filter(|(k, _)| !matches!(*k, "ipv4-netmask" | "ipv6-prefix"))
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect::<String>();
    let (u, w) = parse(&text);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(u.routes.as_ref().unwrap()[0].net, net("10.1.0.0/16"));
    assert!(!u.default_route);
    assert_eq!(u.no_routes.as_ref().unwrap()[0].net, net("10.1.2.0/24"));
    assert_eq!(u.iroutes[0].net, net("192.168.50.0/24"));
    let dns: Vec<IpAddr> = ["10.1.0.53", "10.1.0.54", "fd00::53"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(u.dns, Some(dns));
    assert_eq!(u.nbns.as_ref().map(Vec::len), Some(3));
    assert_eq!(u.split_dns, Some(vec!["corp.example".to_owned()]));
    assert_eq!(u.ipv4_network, Some("10.20.0.0/24".parse().unwrap()));
    assert_eq!(u.ipv6_network, Some("fd00:1::/48".parse().unwrap()));
    assert_eq!(u.ipv6_subnet_prefix, Some(64));
    assert_eq!(u.explicit_ipv4, Some(Ipv4Addr::new(10, 20, 0, 5)));
    assert_eq!(
        u.explicit_ipv6,
        Some("fd00:1::5".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(u.hostname.as_deref(), Some("laptop-1"));
    assert_eq!(u.rx_data_per_sec, Some(100_000));
    assert_eq!(u.tx_data_per_sec, Some(200_000));
    assert_eq!(u.stats_report_time, Some(60));
    assert_eq!(u.session_timeout, Some(3600));
    assert_eq!(u.mtu, Some(1300));
    assert_eq!(u.dpd, Some(45));
    assert_eq!(u.mobile_dpd, Some(900));
    assert_eq!(u.idle_timeout, Some(600));
    assert_eq!(u.mobile_idle_timeout, Some(1200));
    assert_eq!(u.keepalive, Some(30));
    assert_eq!(u.max_same_clients, Some(1));
    assert_eq!(u.net_priority, Some(NetPriority::Priority(3)));
    assert_eq!(
        u.user_profile,
        Some(PathBuf::from("/etc/ocserv/profile.xml"))
    );
    assert_eq!(u.no_udp, Some(true));
    assert_eq!(u.restrict_user_to_routes, Some(true));
    assert_eq!(
        u.restrict_user_to_ports.as_deref(),
        Some("tcp(443), udp(53)")
    );
    assert_eq!(u.tunnel_all_dns, Some(true));
    assert_eq!(u.deny_roaming, Some(true));
    assert_eq!(u.client_bypass_protocol, Some(true));
    let o = &u.origins["explicit-ipv4"];
    assert_eq!((o.file.as_path(), o.line), (Path::new(FILE), 5));
}

#[test]
fn unset_means_none() {
    let (u, w) = parse("# only a comment\n\n");
    assert!(w.is_empty());
    assert!(u.is_empty());
    assert_eq!(u.routes, None);
    assert_eq!(u.dns, None);
    assert_eq!(u.no_udp, None);
}

#[test]
fn wrong_scope_keys_are_errors_naming_file_line_and_key() {
    for (key, value, place) in [
        ("tcp-port", "443", "whole server"),
        ("log-level", "3", "whole server"),
        ("auth", "pam", "virtual host"),
        ("cookie-timeout", "10", "virtual host"),
        ("append-routes", "true", "virtual host"),
        ("default-user-config", "/x", "virtual host"),
        ("listen-clear-file", "/x", "whole server"),
        ("session-control", "true", "virtual host"),
    ] {
        let e = parse_err(&format!("dns = 10.0.0.1\n{key} = {value}\n"));
        assert_eq!(e.line, Some(2), "{key}");
        assert_eq!(e.key.as_deref(), Some(key));
        assert!(e.message.contains(place), "{key}: {e}");
        assert!(
            e.to_string().starts_with(&format!(
                "{FILE}:2: key '{key}': option '{key}' cannot be set"
            )),
            "{e}"
        );
    }
}

#[test]
fn unknown_keys_warn_once() {
    let (u, w) = parse("cgroup = cpu:test\ncgroup = x\nno-udp = true\n");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].line, 1);
    assert_eq!(w[0].message, "unknown option 'cgroup'; ignored");
    assert_eq!(u.no_udp, Some(true));
}

#[test]
fn invalid_values_are_errors() {
    for (text, expect) in [
        ("no-udp = maybe", "expected a boolean"),
        ("mtu = 100", "expected a whole number of 576..9000"),
        ("dpd = soon", "expected a whole number"),
        ("route = 10.0.0.0", "expected a network"),
        (
            "no-route = default",
            "'default' cannot be used with 'no-route'",
        ),
        ("iroute = default", "'default' cannot be used with 'iroute'"),
        ("dns = local", "'local' was removed"),
        ("explicit-ipv4 = fd00::1", "expected an IPv4 address"),
        ("explicit-ipv6 = 10.0.0.1", "expected an IPv6 address"),
        ("hostname = a b", "expected a host name"),
        ("hostname = ", "expected a host name"),
        ("net-priority = 7", "expected a socket priority"),
        ("net-priority = 0x100", "expected a socket priority"),
        ("ipv4-network = 10.0.0.0", "expected a prefix"),
        ("ipv4-network = 10.0.0.0/31", "at least 4 addresses"),
        (
            "ipv4-netmask = 255.255.0.0",
            "ipv4-netmask is set but ipv4-network is not",
        ),
        (
            "ipv6-subnet-prefix = 129",
            "expected a whole number of 1..128",
        ),
        ("restrict-user-to-ports = ", "expected a port list"),
        ("garbage line", "expected 'key = value'"),
    ] {
        let e = parse_err(text);
        assert!(e.to_string().contains(expect), "{text}: {e}");
        assert_eq!(e.line, Some(1), "{text}");
    }
    let long = format!("hostname = {}", "a".repeat(64));
    assert!(parse_err(&long).message.contains("expected a host name"));
}

#[test]
fn net_priority_forms() {
    assert_eq!(
        parse("net-priority = 0").0.net_priority,
        Some(NetPriority::Priority(0))
    );
    assert_eq!(
        parse("net-priority = 0x10").0.net_priority,
        Some(NetPriority::Tos(0x10))
    );
    assert_eq!(
        parse("net-priority = 0xfF").0.net_priority,
        Some(NetPriority::Tos(0xff))
    );
}

#[test]
fn route_default_and_host_bits() {
    let (u, w) = parse("route = 10.1.0.0/16\nroute = default\n");
    assert!(u.default_route);
    assert_eq!(u.routes, Some(Vec::new()));
    assert!(w[0].message.contains("full tunnel"), "{w:?}");
    let (u, _) = parse("route = 0.0.0.0/0\n");
    assert!(u.default_route);
    let (u, w) = parse("route = 10.1.2.3/16\n");
    assert_eq!(u.routes.unwrap()[0].net, net("10.1.0.0/16"));
    assert!(w[0].message.contains("host bits"), "{w:?}");
}

#[test]
fn scalars_set_twice_warn_and_last_wins() {
    let (u, w) = parse("dpd = 10\ndpd = 20\n");
    assert_eq!(u.dpd, Some(20));
    assert!(w[0].message.contains("first at line 1"), "{w:?}");
    let (u, w) = parse("dns = 10.0.0.1\ndns = 10.0.0.2\n");
    assert_eq!(u.dns.map(|d| d.len()), Some(2));
    assert!(w.is_empty());
}

#[test]
fn sections_are_ignored_with_a_warning() {
    let (u, w) = parse("dpd = 10\n[vhost:a.example]\ndpd = 20\n[other]\nmtu = 1300\n");
    assert_eq!(u.dpd, Some(10));
    assert_eq!(u.mtu, None);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].message.contains("sections are not used"));
}

#[test]
fn every_table_row_of_user_scope_has_an_arm() {
    // A row marked VhostUser/UserOnly must be handled by the builder (not the fallback).
    for info in KEYS {
        if per_user_keys().contains(&info.name) {
            let sample = SAMPLES.iter().find(|(k, _)| *k == info.name);
            assert!(sample.is_some(), "{}", info.name);
        }
    }
}

fn user(text: &str, file: &str) -> UserConfig {
    parse_user_str(text, Path::new(file)).unwrap().0
}

#[test]
fn overlay_user_scalars_win_and_lists_accumulate() {
    let mut g = user(
        "dpd = 10\nmtu = 1300\nroute = 10.1.0.0/16\ndns = 10.0.0.1\nno-udp = true\n",
        "g",
    );
    let u = user(
        "dpd = 20\nroute = 10.2.0.0/16\nroute = 10.1.0.0/16\ndns = 10.0.0.2\nno-udp = false\n",
        "u",
    );
    g.overlay(u);
    assert_eq!(g.dpd, Some(20));
    assert_eq!(g.mtu, Some(1300));
    assert_eq!(g.no_udp, Some(false));
    let routes: Vec<IpNet> = g.routes.unwrap().iter().map(|r| r.net).collect();
    assert_eq!(routes, vec![net("10.1.0.0/16"), net("10.2.0.0/16")]);
    assert_eq!(g.dns.map(|d| d.len()), Some(2));
    assert_eq!(g.files, vec![PathBuf::from("g"), PathBuf::from("u")]);
    assert_eq!(g.origins["dpd"].file, PathBuf::from("u"));
    assert_eq!(g.origins["mtu"].file, PathBuf::from("g"));
}

#[test]
fn overlay_default_route_in_either_file_is_a_full_tunnel() {
    let mut g = user("route = default\n", "g");
    g.overlay(user("route = 10.2.0.0/16\n", "u"));
    assert!(g.default_route);
    assert_eq!(g.routes, Some(Vec::new()));
    let mut g = user("route = 10.2.0.0/16\n", "g");
    g.overlay(user("route = default\n", "u"));
    assert!(g.default_route);
    assert_eq!(g.routes, Some(Vec::new()));
}

fn global(extra: &str) -> Config {
    let text = format!(
        "auth = pam\ntcp-port = 443\nserver-cert = c\nserver-key = k\ndevice = vpns\n\
         ipv4-network = 10.10.0.0/24\nroute = 10.0.0.0/8\nno-route = 10.9.0.0/16\n\
         dns = 10.10.0.1\nidle-timeout = 300\nsession-timeout = 7200\nmax-same-clients = 2\n{extra}"
    );
    crate::parse_str(&text, Path::new("/etc/ocserv/ocserv.conf"))
        .unwrap()
        .config
}

#[test]
fn effective_without_files_is_the_global_config() {
    let cfg = global("");
    let e = UserConfig::default().effective(&cfg).unwrap();
    assert_eq!(e, Effective::global(&cfg));
    assert_eq!(e.routes[0].net, net("10.0.0.0/8"));
    assert_eq!(e.idle_timeout, Some(300));
    assert_eq!(e.max_same_clients, 2);
    assert!(!e.deny_roaming && e.rx_data_per_sec.is_none());
}

#[test]
fn effective_routes_replace_unless_append_routes() {
    let u = user("route = 10.5.0.0/16\nno-route = 10.5.5.0/24\n", "u");
    let e = u.effective(&global("")).unwrap();
    assert_eq!(
        e.routes.iter().map(|r| r.net).collect::<Vec<_>>(),
        vec![net("10.5.0.0/16")]
    );
    assert_eq!(e.no_routes.len(), 1);
    let e = u.effective(&global("append-routes = true\n")).unwrap();
    assert_eq!(
        e.routes.iter().map(|r| r.net).collect::<Vec<_>>(),
        vec![net("10.5.0.0/16"), net("10.0.0.0/8")]
    );
    assert_eq!(
        e.no_routes.iter().map(|r| r.net).collect::<Vec<_>>(),
        vec![net("10.5.5.0/24"), net("10.9.0.0/16")]
    );
    // A per-user full tunnel drops the global split routes, append-routes or not.
    let e = user("route = default\n", "u")
        .effective(&global("append-routes = true\n"))
        .unwrap();
    assert!(e.default_route && e.routes.is_empty());
    // Per-user split routes under a global full tunnel make a split tunnel.
    let e = user("route = 10.5.0.0/16\n", "u")
        .effective(&global("route = default\n"))
        .unwrap();
    assert!(!e.default_route);
    assert_eq!(e.routes.len(), 1);
}

#[test]
fn effective_scalars_lists_and_timeouts() {
    let u = user(
        "dns = 10.5.0.53\nidle-timeout = 0\nsession-timeout = 60\nmax-same-clients = 0\n\
         rx-data-per-sec = 0\ntx-data-per-sec = 5000\ndeny-roaming = true\nmtu = 1300\n\
         iroute = 192.168.7.0/24\nhostname = h1\n",
        "u",
    );
    let e = u.effective(&global("")).unwrap();
    assert_eq!(e.dns, vec!["10.5.0.53".parse::<IpAddr>().unwrap()]);
    assert_eq!(e.idle_timeout, None, "0 disables the global idle timeout");
    assert_eq!(e.session_timeout, Some(60));
    assert_eq!(e.max_same_clients, 0);
    assert_eq!(e.rx_data_per_sec, None, "0 = unlimited");
    assert_eq!(e.tx_data_per_sec, Some(5000));
    assert!(e.deny_roaming);
    assert_eq!(e.mtu, Some(1300));
    assert_eq!(e.iroutes[0].net, net("192.168.7.0/24"));
    assert_eq!(e.hostname.as_deref(), Some("h1"));
    assert_eq!(e.routes[0].net, net("10.0.0.0/8"), "global routes kept");
}

#[test]
fn explicit_addresses_must_lie_inside_the_pool() {
    let cfg = global("ipv6-network = fd00::/48\nipv6-subnet-prefix = 64\n");
    let e = user("explicit-ipv4 = 10.10.0.7\nexplicit-ipv6 = fd00::7\n", "u")
        .effective(&cfg)
        .unwrap();
    assert_eq!(e.explicit_ipv4, Some(Ipv4Addr::new(10, 10, 0, 7)));
    assert_eq!(e.explicit_ipv6, Some("fd00::7".parse().unwrap()));
    for bad in ["10.11.0.7", "10.10.0.0", "10.10.0.255"] {
        let e = user(&format!("dpd = 1\nexplicit-ipv4 = {bad}\n"), "u")
            .effective(&cfg)
            .unwrap_err();
        assert_eq!(
            (e.file.as_path(), e.line, e.key.as_deref()),
            (Path::new("u"), Some(2), Some("explicit-ipv4"))
        );
        assert!(
            e.message.contains("inside the IPv4 pool 10.10.0.0/24"),
            "{e}"
        );
    }
    let e = user("explicit-ipv6 = fd01::7\n", "u")
        .effective(&cfg)
        .unwrap_err();
    assert!(e.message.contains("inside the IPv6 pool"), "{e}");
    // The per-user pool is the one that counts.
    let e = user(
        "ipv4-network = 10.50.0.0/24\nexplicit-ipv4 = 10.50.0.9\n",
        "u",
    )
    .effective(&cfg)
    .unwrap();
    assert_eq!(e.ipv4_network, Some("10.50.0.0/24".parse().unwrap()));
    let e = user("explicit-ipv6 = fd00::7\n", "u")
        .effective(&global(""))
        .unwrap_err();
    assert!(e.message.contains("needs an IPv6 pool"), "{e}");
}

#[test]
fn ipv6_subnet_prefix_checked_against_the_effective_pool() {
    let cfg = global("ipv6-network = fd00::/48\nipv6-subnet-prefix = 64\n");
    let e = user("ipv6-subnet-prefix = 48\n", "u")
        .effective(&cfg)
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("ipv6-subnet-prefix"));
    let e = user("ipv6-network = fd00::/64\n", "u")
        .effective(&cfg)
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("ipv6-network"));
    assert!(user("ipv6-network = fd00::/56\n", "u")
        .effective(&cfg)
        .is_ok());
}
