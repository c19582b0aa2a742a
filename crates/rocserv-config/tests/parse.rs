//! Behaviour of `parse_str`/`load` on whole files.

// Test helpers outside #[test] functions may fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rocserv_config::{
    implemented_keys, load, parse_str, AuthMethod, ConfigError, Loaded, RekeyMethod, SelectGroup,
};

const FILE: &str = "/etc/rocserv/test.conf";

/// The smallest valid configuration.
const MIN: &str = "auth = \"plain[passwd=/etc/rocserv/ocpasswd]\"
tcp-port = 443
server-cert = /etc/rocserv/cert.pem
server-key = /etc/rocserv/key.pem
device = vpns
ipv4-network = 10.10.0.0/24
";

fn ok(text: &str) -> Loaded {
    match parse_str(text, Path::new(FILE)) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse_str(text, Path::new(FILE)) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

/// MIN with extra lines appended (lines 7, 8, ...).
fn with(extra: &str) -> String {
    format!("{MIN}{extra}")
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn minimal_config_and_defaults() {
    let l = ok(MIN);
    let c = &l.config;
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(
        c.auth,
        vec![AuthMethod::Plain {
            passwd: "/etc/rocserv/ocpasswd".into(),
            otp: None
        }]
    );
    assert_eq!(c.tcp_port, 443);
    assert_eq!(c.udp_port, None);
    assert_eq!(c.device, "vpns");
    assert_eq!(
        c.ipv4_network,
        Some("10.10.0.0/24".parse::<Ipv4Net>().unwrap())
    );
    assert_eq!(c.keepalive, 32400);
    assert_eq!(c.dpd, 90);
    assert_eq!(c.mobile_dpd, 1800);
    assert_eq!(c.cookie_timeout, 300);
    assert_eq!(c.auth_timeout, 240);
    assert_eq!(c.rekey_time, 172_800);
    assert_eq!(c.rekey_method, None);
    assert_eq!(c.script_timeout, 60);
    assert!(!c.shared_tun);
    assert_eq!(c.log_level, 2);
    assert_eq!(c.max_clients, 0);
    assert!(c.dtls_psk && c.dtls_legacy && c.predictable_ips);
    assert!(!c.compression && !c.use_occtl && !c.isolate_workers && !c.cisco_client_compat);
    assert_eq!(c.occtl_socket_file, PathBuf::from("/var/run/occtl.socket"));
    assert_eq!(c.source, PathBuf::from(FILE));
}

#[test]
fn sample_style_config() {
    let text = include_str!("data/sample-style.conf");
    let l = ok(text);
    let c = &l.config;
    assert_eq!(
        c.auth,
        vec![AuthMethod::Plain {
            passwd: "/etc/ocserv/ocpasswd".into(),
            otp: Some("/etc/ocserv/users.oath".into())
        }]
    );
    assert_eq!(c.enable_auth, vec![AuthMethod::Certificate]);
    assert_eq!(c.listen_host.as_deref(), Some("0.0.0.0"));
    assert_eq!(c.udp_port, Some(443));
    assert_eq!(c.server_cert.len(), 2);
    assert_eq!(
        c.server_key[1],
        PathBuf::from("/etc/ocserv/server-key-ecdsa.pem")
    );
    assert_eq!(
        c.cert_user_oid.as_deref(),
        Some("0.9.2342.19200300.100.1.1")
    );
    assert_eq!(c.max_clients, 1024);
    assert_eq!(c.max_same_clients, 2);
    assert_eq!(
        c.tls_priorities.as_deref(),
        Some("NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1")
    );
    assert_eq!(c.idle_timeout, Some(1200));
    assert_eq!(c.mobile_idle_timeout, Some(2400));
    assert_eq!(c.session_timeout, Some(86400));
    assert_eq!(c.rekey_method, Some(RekeyMethod::Ssl));
    assert!(c.use_occtl && c.isolate_workers && c.cisco_client_compat && c.tunnel_all_dns);
    assert_eq!(c.log_level, 1);
    assert_eq!(c.ipv4_network, Some("192.168.1.0/24".parse().unwrap()));
    // Like ocserv's own sample, the pool has host bits set: they are masked, with a warning.
    assert_eq!(
        c.ipv6_network,
        Some("fda9:4efe:7e3b::/48".parse::<Ipv6Net>().unwrap())
    );
    let masked = l.warnings.iter().find(|w| w.key == "ipv6-network").unwrap();
    assert_eq!(masked.line, 55);
    assert!(masked.message.contains("host bits"));
    assert_eq!(c.ipv6_subnet_prefix, Some(64));
    let dns: Vec<IpAddr> = ["192.168.1.2", "fda9:4efe:7e3b:3ea::2", "192.168.1.3"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(c.dns, dns);
    assert_eq!(c.nbns, vec!["192.168.1.4".parse::<IpAddr>().unwrap()]);
    assert_eq!(c.mtu, Some(1420));
    let routes: Vec<(IpNet, &str)> = c.routes.iter().map(|r| (r.net, r.text.as_str())).collect();
    assert_eq!(
        routes,
        vec![
            (net("10.10.10.0/24"), "10.10.10.0/255.255.255.0"),
            (net("192.168.0.0/16"), "192.168.0.0/16"),
            (net("fef4:db8:1000:1001::/64"), "fef4:db8:1000:1001::/64"),
        ]
    );
    assert!(!c.default_route);
    assert_eq!(c.no_routes.len(), 1);
    assert_eq!(
        c.select_groups,
        vec![
            SelectGroup {
                name: "group1".into(),
                label: "group1".into()
            },
            SelectGroup {
                name: "group2".into(),
                label: "The second group".into()
            },
        ]
    );
    assert_eq!(c.default_select_group.as_deref(), Some("DEFAULT"));
    assert_eq!(c.split_dns, vec!["example.com", "corp.example.com"]);
    assert_eq!(c.banner.as_deref(), Some("Welcome to the company VPN"));
    assert_eq!(c.pre_login_banner.as_deref(), Some("Authorised users only"));
    assert_eq!(
        c.connect_script,
        Some(PathBuf::from("/usr/bin/ocserv-connect"))
    );
    assert_eq!(
        c.config_per_user,
        Some(PathBuf::from("/etc/ocserv/config-per-user/"))
    );
    assert_eq!(c.socket_file, Some(PathBuf::from("/run/ocserv-socket")));
    assert!(!c.persistent_cookies);

    // Not implemented options: one warning each, naming file and line.
    let chroot = l.warnings.iter().find(|w| w.key == "chroot-dir").unwrap();
    assert_eq!(
        chroot.to_string(),
        format!("{FILE}:14: option 'chroot-dir' is not implemented by rocserv yet; ignored")
    );
    for key in [
        "rate-limit-ms",
        "min-reauth-time",
        "camouflage",
        "ping-leases",
        "deny-roaming",
    ] {
        assert_eq!(
            l.warnings.iter().filter(|w| w.key == key).count(),
            1,
            "{key}"
        );
    }
    // Implemented options warn only about masked host bits.
    for w in &l.warnings {
        assert!(
            !implemented_keys().contains(&w.key.as_str()) || w.message.contains("host bits"),
            "{w}"
        );
    }
    // The camouflage secret never reaches Debug output.
    assert!(!format!("{l:?}").contains("mysecretkey"));

    // The vhost section is kept raw and can be typed.
    assert_eq!(c.vhosts.len(), 1);
    let v = &c.vhosts[0];
    assert_eq!(v.name, "www.example.com");
    assert_eq!(v.entries.len(), 5);
    let typed = c.vhost_config("WWW.example.com").unwrap().unwrap().config;
    assert_eq!(typed.auth, vec![AuthMethod::Certificate]);
    assert_eq!(typed.ipv4_network, Some("192.168.2.0/24".parse().unwrap()));
    assert!(typed.default_route && typed.routes.is_empty());
    assert_eq!(typed.banner.as_deref(), Some("Hello from www"));
    // Inherited from the default vhost.
    assert_eq!(typed.tcp_port, 443);
    assert_eq!(typed.dns, c.dns);
}

#[test]
fn error_messages_name_file_line_key_and_expectation() {
    let cases: &[(&str, &str)] = &[
        (
            "tcp-port = https\n",
            "key 'tcp-port': expected a port number 1..65535, got 'https'",
        ),
        (
            "udp-port = 70000\n",
            "key 'udp-port': expected a port number 0..65535",
        ),
        (
            "isolate-workers = maybe\n",
            "key 'isolate-workers': expected a boolean (true/yes or false/no), got 'maybe'",
        ),
        (
            "dpd = -5\n",
            "key 'dpd': expected a whole number of 0..4294967295, got '-5'",
        ),
        (
            "mtu = 100\n",
            "key 'mtu': expected a whole number of 576..9000, got '100'",
        ),
        ("dns = local\n", "key 'dns': the value 'local' was removed"),
        (
            "dns = 1.2.3\n",
            "key 'dns': expected an IPv4 or IPv6 address, got '1.2.3'",
        ),
        (
            "route = 10.0.0.0\n",
            "key 'route': expected a network as ADDR/MASK",
        ),
        ("no-route = default\n", "key 'no-route': expected a network"),
        (
            "rekey-method = sometimes\n",
            "key 'rekey-method': expected 'ssl' or 'new-tunnel'",
        ),
        (
            "select-group = a[b\n",
            "key 'select-group': expected a group as NAME or NAME[Label]",
        ),
        (
            "device = this-name-is-too-long\n",
            "key 'device': expected a network device base name",
        ),
        (
            "cert-user-oid = CN\n",
            "key 'cert-user-oid': expected a dotted OID",
        ),
        (
            "listen-clear-file = /x\n",
            "key 'listen-clear-file': the 'listen-clear-file' option was removed",
        ),
        (
            "auth = ldap\n",
            "key 'auth': expected an authentication method",
        ),
        (
            "ipv6-subnet-prefix = 200\n",
            "key 'ipv6-subnet-prefix': expected a whole number of 1..128",
        ),
        (
            "script-timeout = 0\n",
            "key 'script-timeout': expected a whole number of 1..86400",
        ),
        (
            "shared-tun = maybe\n",
            "key 'shared-tun': expected a boolean",
        ),
    ];
    for (extra, want) in cases {
        let e = err(&with(extra));
        let s = e.to_string();
        assert!(s.starts_with(&format!("{FILE}:7: ")), "{s}");
        assert!(s.contains(want), "want {want:?} in {s:?}");
        assert_eq!(e.line, Some(7));
        assert!(e.key.is_some());
    }
}

#[test]
fn missing_mandatory_options() {
    let lines: Vec<&str> = MIN.lines().collect();
    for (i, key) in ["auth", "tcp-port", "server-cert", "server-key", "device"]
        .iter()
        .enumerate()
    {
        let text: String = lines
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let e = err(&text);
        assert_eq!(
            e.to_string(),
            format!("{FILE}: missing mandatory option '{key}'")
        );
        assert_eq!(e.key.as_deref(), Some(*key));
        assert_eq!(e.line, None);
    }
    let no_pool = MIN.replace("ipv4-network = 10.10.0.0/24\n", "");
    assert!(err(&no_pool)
        .to_string()
        .starts_with(&format!("{FILE}: missing mandatory option 'ipv4-network'")));
    // An IPv6-only pool is enough.
    let v6 = MIN.replace("ipv4-network = 10.10.0.0/24", "ipv6-network = fd00:1::/64");
    assert_eq!(
        ok(&v6).config.ipv6_network,
        Some("fd00:1::/64".parse().unwrap())
    );
    // shared-tun routes the IPv4 pool to its sessions: an IPv6-only pool is refused, naming
    // the line and the key.
    assert!(ok(&with("shared-tun = true\n")).config.shared_tun);
    let e = err(&format!("{v6}shared-tun = true\n"));
    assert_eq!(e.line, Some(7));
    assert_eq!(e.key.as_deref(), Some("shared-tun"));
    assert!(
        e.to_string().starts_with(&format!(
            "{FILE}:7: key 'shared-tun': the shared TUN device needs an IPv4 pool"
        )),
        "{e}"
    );
    // socket-file is not required; cert/key counts must match.
    let e = err(&with("server-cert = /etc/rocserv/second.pem\n"));
    assert!(
        e.to_string()
            .contains("'server-cert' is given 2 time(s) but 'server-key' 1"),
        "{e}"
    );
    // tcp-port 0 is refused even though it parses as a number.
    assert!(err(&MIN.replace("tcp-port = 443", "tcp-port = 0"))
        .to_string()
        .contains("expected a port number 1..65535, got '0'"));
}

#[test]
fn quoting_comments_and_inline_comments() {
    let l = ok(&with(
        "banner = \"Welcome # to the VPN\"   # a comment\n\
         pre-login-banner = plain text # comment\n\
         default-domain = a.example#not-a-comment\n\
         # route = 10.0.0.0/8\n\
         ; split-dns = old.example\n\
         \x20\x20\n\
         tls-priorities = \"NORMAL:%SERVER_PRECEDENCE\"\n",
    ));
    let c = &l.config;
    assert_eq!(c.banner.as_deref(), Some("Welcome # to the VPN"));
    assert_eq!(c.pre_login_banner.as_deref(), Some("plain text"));
    assert_eq!(c.default_domain.as_deref(), Some("a.example#not-a-comment"));
    assert!(c.routes.is_empty() && c.split_dns.is_empty());
    assert_eq!(
        c.tls_priorities.as_deref(),
        Some("NORMAL:%SERVER_PRECEDENCE")
    );
    // A lone quote is dropped, as ocserv does, with a warning.
    let l = ok(&with("banner = \"unterminated\n"));
    assert_eq!(l.config.banner.as_deref(), Some("unterminated"));
    assert_eq!(
        l.warnings[0].to_string(),
        format!("{FILE}:7: the value of 'banner' has an unbalanced double quote; it was removed")
    );
}

#[test]
fn repeated_keys_make_lists_and_scalars_warn() {
    let l = ok(&with(
        "dns = 10.0.0.1\ndns = 10.0.0.2\nipv6-dns = fd00::1\ndpd = 60\ndpd = 30\n",
    ));
    assert_eq!(l.config.dns.len(), 3);
    assert_eq!(l.config.dpd, 30);
    let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![format!(
            "{FILE}:11: option 'dpd' is set again (first at line 10); the last value wins"
        )]
    );
}

#[test]
fn unknown_and_not_implemented_keys_warn_once() {
    let l = ok(&with(
        "frobnicate = 1\nfrobnicate = 2\nban-points-kkdcp = 3\nban-points-kkdcp = 4\ncgroup = cpuset\n\
         iroute = 10.9.0.0/16\nsession-control = true\n",
    ));
    let w: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            format!("{FILE}:7: unknown option 'frobnicate'; ignored"),
            format!(
                "{FILE}:9: option 'ban-points-kkdcp' is not implemented by rocserv yet; ignored"
            ),
            format!("{FILE}:11: unknown option 'cgroup'; ignored"),
            format!(
                "{FILE}:12: option 'iroute' is only valid in per-user/per-group files; ignored"
            ),
            format!("{FILE}:13: option 'session-control' is deprecated and has no effect; ignored"),
        ]
    );
}

#[test]
fn old_names_are_applied_with_a_warning() {
    let l = ok(&with(
        "use-seccomp = true\nuse-dbus = yes\nalways-require-cert = false\nmin-reauth-time = 10\n",
    ));
    let c = &l.config;
    assert!(c.isolate_workers && c.use_occtl && c.cisco_client_compat);
    let keys: Vec<&str> = l.warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "use-seccomp",
            "use-dbus",
            "always-require-cert",
            "min-reauth-time"
        ]
    );
    assert!(l.warnings[0]
        .message
        .contains("old name of 'isolate-workers'"));
    assert!(l.warnings[3].message.contains("old name of 'ban-time'"));
    assert_eq!(c.ban_time, 10);
    // always-require-cert = true changes nothing.
    assert!(
        !ok(&with("always-require-cert = true\n"))
            .config
            .cisco_client_compat
    );
}

#[test]
fn booleans_are_strict() {
    for (v, want) in [
        ("true", true),
        ("YES", true),
        ("False", false),
        ("no", false),
    ] {
        assert_eq!(
            ok(&with(&format!("compression = {v}\n")))
                .config
                .compression,
            want
        );
    }
    for v in ["1", "0", "on", "off", "y", ""] {
        let e = err(&with(&format!("compression = {v}\n")));
        assert!(
            e.to_string()
                .contains("key 'compression': expected a boolean"),
            "{e}"
        );
    }
}

#[test]
fn netmask_versus_cidr() {
    let base = MIN.replace("ipv4-network = 10.10.0.0/24\n", "");
    let want: Ipv4Net = "10.20.0.0/16".parse().unwrap();
    for pool in [
        "ipv4-network = 10.20.0.0\nipv4-netmask = 255.255.0.0\n",
        "ipv4-netmask = 255.255.0.0\nipv4-network = 10.20.0.0\n",
        "ipv4-network = 10.20.0.0/16\n",
        "ipv4-network = 10.20.0.0/255.255.0.0\n",
        "ipv4-network = 10.20.0.0/16\nipv4-netmask = 255.255.0.0\n",
    ] {
        let l = ok(&format!("{base}{pool}"));
        assert_eq!(l.config.ipv4_network, Some(want), "{pool}");
        assert!(l.warnings.is_empty(), "{pool}: {:?}", l.warnings);
    }
    // Host bits are masked, with a warning.
    let l = ok(&format!("{base}ipv4-network = 10.20.3.4/16\n"));
    assert_eq!(l.config.ipv4_network, Some(want));
    assert_eq!(
        l.warnings[0].to_string(),
        format!("{FILE}:6: ipv4-network 10.20.3.4/16 has host bits set; using 10.20.0.0/16")
    );
    // Errors.
    let e = err(&format!("{base}ipv4-netmask = 255.255.0.0\n"));
    assert_eq!(
        e.to_string(),
        format!("{FILE}:6: key 'ipv4-netmask': ipv4-netmask is set but ipv4-network is not")
    );
    let e = err(&format!("{base}ipv4-network = 10.20.0.0\n"));
    assert!(
        e.to_string()
            .contains("key 'ipv4-network': expected a prefix"),
        "{e}"
    );
    let e = err(&format!(
        "{base}ipv4-network = 10.20.0.0/16\nipv4-netmask = 255.255.255.0\n"
    ));
    assert!(e.to_string().contains("contradicts the prefix /16"), "{e}");
    let e = err(&format!(
        "{base}ipv4-network = 10.20.0.0\nipv4-netmask = 255.0.255.0\n"
    ));
    assert!(e.to_string().contains("expected a dotted netmask"), "{e}");
    let e = err(&format!("{base}ipv4-network = 10.20.0.0/32\n"));
    assert!(e.to_string().contains("prefix /30 or shorter"), "{e}");
    // IPv6 pool with the legacy ipv6-prefix, and subnet prefix checks.
    let l = ok(&format!(
        "{base}ipv6-network = fd00:1::\nipv6-prefix = 48\n"
    ));
    assert_eq!(l.config.ipv6_network, Some("fd00:1::/48".parse().unwrap()));
    let e = err(&format!(
        "{base}ipv6-network = fd00:1::/64\nipv6-subnet-prefix = 64\n"
    ));
    assert!(
        e.to_string()
            .contains("key 'ipv6-subnet-prefix': expected a prefix longer than the pool's /64"),
        "{e}"
    );
}

#[test]
fn route_default_clears_routes() {
    for d in ["default", "0.0.0.0/0", "0.0.0.0/0.0.0.0"] {
        let l = ok(&with(&format!(
            "route = 10.1.0.0/255.255.0.0\nroute = {d}\nroute = fd00::/8\n"
        )));
        assert!(l.config.default_route, "{d}");
        assert!(l.config.routes.is_empty(), "{d}");
        assert!(
            l.warnings.iter().any(|w| w.message.contains("full tunnel")),
            "{d}"
        );
    }
    let l = ok(&with("route = 10.1.0.0/255.255.0.0\n"));
    assert!(!l.config.default_route);
    assert_eq!(l.config.routes[0].text, "10.1.0.0/255.255.0.0");
}

#[test]
fn auth_method_forms_and_combinations() {
    let plain_legacy = MIN.replace(
        "plain[passwd=/etc/rocserv/ocpasswd]",
        "plain[/etc/ocserv/ocpasswd]",
    );
    assert_eq!(
        ok(&plain_legacy).config.auth,
        vec![AuthMethod::Plain {
            passwd: "/etc/ocserv/ocpasswd".into(),
            otp: None
        }]
    );
    // certificate AND password, with a pam alternative refused (two password methods).
    let e = err(&with("enable-auth = pam\n"));
    assert_eq!(
        e.to_string(),
        format!(
            "{FILE}:7: key 'enable-auth': only one password method (plain, pam or radius) may be configured; 'pam' conflicts with 'plain'"
        )
    );
    let e = err(&with(
        "auth = \"radius[config=/etc/radcli/radiusclient.conf]\"\n",
    ));
    assert!(
        e.to_string().contains("'radius' conflicts with 'plain'"),
        "{e}"
    );
    // certificate in auth needs cert-user-oid.
    let e = err(&with("auth = certificate\n"));
    assert!(
        e.to_string()
            .contains("key 'auth': certificate authentication needs 'cert-user-oid'"),
        "{e}"
    );
    let l = ok(&with(
        "auth = certificate\ncert-user-oid = SAN(rfc822name)\n",
    ));
    assert_eq!(l.config.auth.len(), 2);
    assert!(l.config.wants_client_cert());
    // two non-certificate primary methods.
    let e = err(&with("auth = gssapi\n"));
    assert!(
        e.to_string()
            .contains("may combine 'certificate' with one other method only"),
        "{e}"
    );
    // at most 4 methods.
    let e = err(&with(
        "cert-user-oid = 2.5.4.3\nenable-auth = certificate\nenable-auth = gssapi\nenable-auth = oidc\nenable-auth = certificate\n",
    ));
    assert_eq!(e.line, Some(11));
    assert!(
        e.to_string().contains("at most 4 authentication methods"),
        "{e}"
    );
}

#[test]
fn vhost_sections() {
    let l = ok(&with(
        "dns = 10.0.0.1\n[vhost:vpn.example.org]\ndns = 10.9.9.9\nmtu = 1300\n[vhost:other.example]\n",
    ));
    let c = &l.config;
    assert_eq!(c.vhosts.len(), 2);
    assert_eq!(c.vhosts[0].entries[0].line, 9);
    assert_eq!(c.dns, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
    let v = c.for_vhost(&c.vhosts[0]).unwrap().config;
    assert_eq!(v.dns, vec!["10.9.9.9".parse::<IpAddr>().unwrap()]);
    assert_eq!(v.mtu, Some(1300));
    assert_eq!(c.mtu, None);
    let v2 = c.vhost_config("other.example").unwrap().unwrap().config;
    assert_eq!(v2.dns, c.dns);
    assert!(c.vhost_config("nope").is_none());
    // Global options inside a vhost are errors; bad values inside are found at load time.
    let e = err(&with("[vhost:a]\ntcp-port = 444\n"));
    assert_eq!(
        e.to_string(),
        format!("{FILE}:8: key 'tcp-port': option 'tcp-port' is global: it cannot be set inside a [vhost:NAME] section")
    );
    let e = err(&with("[vhost:a]\ndpd = soon\n"));
    assert_eq!(e.line, Some(8));
    // Other sections are skipped with a warning.
    let l = ok(&with("[global]\ntcp-port = nonsense\n"));
    assert_eq!(l.config.tcp_port, 443);
    assert!(l.warnings[0].message.contains("unknown section '[global]'"));
}

#[test]
fn continuation_lines_follow_inih() {
    let l = ok(&with("dns = 10.0.0.1\n    10.0.0.2\n"));
    assert_eq!(l.config.dns.len(), 2);
    assert!(l.warnings[0]
        .message
        .contains("indented line continues option 'dns'"));
    let e = err(&with("dpd = 10\n   keepalive = 20\n"));
    assert_eq!(e.line, Some(8));
    assert!(e.to_string().contains("continuation of 'dpd'"), "{e}");
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("rocserv-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ocserv.conf");
    std::fs::write(&path, MIN).unwrap();
    assert_eq!(load(&path).unwrap().config.tcp_port, 443);
    std::fs::write(&path, b"tcp-port = 443\nbanner = \xff\xfe\n").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
    let missing = dir.join("absent.conf");
    let e = load(&missing).unwrap_err();
    assert!(e
        .to_string()
        .starts_with(&format!("{}: cannot read the file", missing.display())));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn relative_paths_are_kept() {
    let l = ok(&MIN.replace("/etc/rocserv/cert.pem", "certs/cert.pem"));
    assert_eq!(l.config.server_cert, vec![PathBuf::from("certs/cert.pem")]);
}
