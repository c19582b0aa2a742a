//! Property tests of the per-user/per-group layer: no input panics it, names with '/' never
//! reach the file system, and combining files keeps the user's values.

// Test helpers outside #[test] functions may fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;
use rocserv_config::{check_name, parse_str, parse_user_str, Config, NameKind};

fn global() -> Config {
    parse_str(
        "auth = pam\ntcp-port = 443\nserver-cert = c\nserver-key = k\ndevice = vpns\n\
         ipv4-network = 10.10.0.0/24\nipv6-network = fd00::/48\nroute = 10.0.0.0/8\n",
        Path::new("g.conf"),
    )
    .unwrap()
    .config
}

/// Lines that look like per-user files, to reach the typed layer.
fn line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "route",
        "no-route",
        "iroute",
        "dns",
        "ipv4-dns",
        "nbns",
        "split-dns",
        "ipv4-network",
        "ipv4-netmask",
        "ipv6-network",
        "ipv6-prefix",
        "ipv6-subnet-prefix",
        "explicit-ipv4",
        "explicit-ipv6",
        "hostname",
        "net-priority",
        "mtu",
        "dpd",
        "idle-timeout",
        "session-timeout",
        "no-udp",
        "restrict-user-to-ports",
        "tcp-port",
        "auth",
        "cgroup",
        "[vhost:a]",
        "[x]",
    ]);
    (keys, "[ -~\t\"#\\[\\]/:.=]{0,40}", any::<bool>()).prop_map(|(k, v, indent)| {
        let pad = if indent { "  " } else { "" };
        if k.starts_with('[') {
            format!("{pad}{k}{v}")
        } else {
            format!("{pad}{k} = {v}")
        }
    })
}

/// Plausible values, so that whole files often parse and reach `effective`.
fn good_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("route = 10.{a}.{b}.0/24")),
        (0u8..=255).prop_map(|a| format!("dns = 10.0.0.{a}")),
        (0u8..=255).prop_map(|a| format!("explicit-ipv4 = 10.10.0.{a}")),
        (0u16..=0xffff).prop_map(|a| format!("explicit-ipv6 = fd00::{a:x}")),
        (0u8..=30).prop_map(|n| format!("ipv4-network = 10.20.0.0/{n}")),
        (1u8..=128).prop_map(|n| format!("ipv6-subnet-prefix = {n}")),
        (0u32..100_000).prop_map(|n| format!("idle-timeout = {n}")),
        Just("route = default".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = parse_user_str(&text, Path::new("u"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_user_str(&text, Path::new("u"));
    }

    #[test]
    fn config_like_text_never_panics_and_errors_name_the_file(
        lines in prop::collection::vec(line(), 0..20)
    ) {
        let text = lines.join("\n");
        match parse_user_str(&text, Path::new("users/u")) {
            Ok((user, _)) => { let _ = user.effective(&global()); }
            Err(e) => prop_assert!(e.to_string().starts_with("users/u"), "{}", e),
        }
    }

    #[test]
    fn effective_never_panics(lines in prop::collection::vec(good_line(), 0..10)) {
        let text = lines.join("\n");
        if let Ok((user, _)) = parse_user_str(&text, Path::new("u")) {
            if let Ok(e) = user.effective(&global()) {
                if let (Some(a), Some(pool)) = (e.explicit_ipv4, e.ipv4_network) {
                    prop_assert!(pool.contains(&a));
                }
            }
        }
    }

    #[test]
    fn names_with_a_slash_are_always_refused(a in "\\PC{0,20}", b in "\\PC{0,20}") {
        let name = format!("{a}/{b}");
        prop_assert!(check_name(NameKind::Group, &name, Path::new("/g")).is_err());
    }

    #[test]
    fn plain_names_are_accepted(name in "[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,40}") {
        prop_assume!(name != "." && name != "..");
        prop_assert!(check_name(NameKind::User, &name, Path::new("/u")).is_ok());
    }

    #[test]
    fn user_file_scalars_win(g in 0u32..100_000, u in 0u32..100_000) {
        let (mut group, _) = parse_user_str(&format!("dpd = {g}\nmtu = 1300\n"), Path::new("g")).unwrap();
        let (user, _) = parse_user_str(&format!("dpd = {u}\n"), Path::new("u")).unwrap();
        group.overlay(user);
        prop_assert_eq!(group.dpd, Some(u));
        prop_assert_eq!(group.mtu, Some(1300));
    }
}
