//! Property tests: no input makes the parser panic, and valid values round-trip.

// Test helpers outside #[test] functions may fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;
use rocserv_config::{ini::parse_document, parse_str};

const MIN: &str = "auth = \"plain[passwd=/p]\"\ntcp-port = 443\nserver-cert = c\n\
                   server-key = k\ndevice = vpns\nipv4-network = 10.10.0.0/24\n";

/// Lines that look like configuration, to reach deep into the typed layer.
fn line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "auth",
        "enable-auth",
        "route",
        "no-route",
        "dns",
        "ipv4-network",
        "ipv4-netmask",
        "ipv6-network",
        "ipv6-prefix",
        "ipv6-subnet-prefix",
        "mtu",
        "dpd",
        "tcp-port",
        "udp-port",
        "select-group",
        "compression",
        "banner",
        "[vhost:a]",
        "[x]",
        "cert-user-oid",
        "device",
        "server-cert",
        "server-key",
        "rekey-method",
        "unknown-key",
        "ban-time",
    ]);
    (
        keys,
        "[ -~\t\"#\\[\\]/:.=]{0,40}",
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(k, v, indent, eq)| {
            let sep = if eq { " = " } else { ": " };
            let pad = if indent { "  " } else { "" };
            if k.starts_with('[') {
                format!("{pad}{k}{v}")
            } else {
                format!("{pad}{k}{sep}{v}")
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = parse_str(&text, Path::new("fuzz.conf"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str(&text, Path::new("fuzz.conf"));
    }

    #[test]
    fn config_like_text_never_panics(lines in prop::collection::vec(line(), 0..20)) {
        let text = format!("{MIN}{}\n", lines.join("\n"));
        let _ = parse_str(&text, Path::new("fuzz.conf"));
    }

    #[test]
    fn errors_always_name_the_file(lines in prop::collection::vec(line(), 1..10)) {
        let text = format!("{MIN}{}\n", lines.join("\n"));
        if let Err(e) = parse_str(&text, Path::new("fuzz.conf")) {
            prop_assert!(e.to_string().starts_with("fuzz.conf:"));
            if let Some(l) = e.line {
                prop_assert!(l >= 1 && l <= text.lines().count() + 1);
            }
        }
    }

    #[test]
    fn plain_values_round_trip(key in "[a-z][a-z-]{0,20}", value in "[A-Za-z0-9/._-][ A-Za-z0-9/._:-]{0,30}[A-Za-z0-9/._-]") {
        let doc = parse_document(&format!("{key} = {value}\n"), Path::new("x")).unwrap();
        prop_assert_eq!(doc.entries.len(), 1);
        prop_assert_eq!(&doc.entries[0].key, &key);
        prop_assert_eq!(&doc.entries[0].value, &value);
        let quoted = parse_document(&format!("{key}=\"{value}\" # c\n"), Path::new("x")).unwrap();
        prop_assert_eq!(&quoted.entries[0].value, &value);
    }

    #[test]
    fn ipv4_pools_are_normalised(a in any::<u32>(), len in 1u8..=30) {
        let addr = std::net::Ipv4Addr::from(a);
        let text = MIN.replace("10.10.0.0/24", &format!("{addr}/{len}"));
        let l = parse_str(&text, Path::new("x")).unwrap();
        let net = l.config.ipv4_network.unwrap();
        prop_assert_eq!(net.prefix_len(), len);
        prop_assert!(net.contains(&addr));
        prop_assert_eq!(net.network(), net.addr());
        prop_assert_eq!(l.warnings.is_empty(), net.addr() == addr);
    }
}
