use super::*;
use crate::connect::ConnectRequest;
use crate::http::parse_request_head;

fn request(extra: &str) -> ConnectRequest {
    let text = format!(
        "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: vpn.test\r\nX-CSTP-Version: 1\r\n{extra}\r\n"
    );
    let (head, _) = parse_request_head(text.as_bytes()).unwrap().unwrap();
    ConnectRequest::from_head(&head)
}

const MS: &str = "X-DTLS-Master-Secret: \
    000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F\r\n";
const BOTH: DtlsPolicy = DtlsPolicy {
    psk: true,
    legacy: true,
};

/// openconnect 9.01's default offer (protocol.md §3.1).
fn default_offer() -> String {
    format!(
        "{MS}X-DTLS-CipherSuite: PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC2-DTLS1_2-CHACHA20-POLY1305:\
         OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA\r\n\
         X-DTLS12-CipherSuite: ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:\
         AES128-GCM-SHA256:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA\r\n"
    )
}

#[test]
fn default_openconnect_offer_gets_psk() {
    assert_eq!(
        select_mode(&request(&default_offer()), BOTH),
        Some(DtlsMode::Psk)
    );
}

#[test]
fn psk_disabled_falls_to_the_best_dtls12_name() {
    let m = select_mode(
        &request(&default_offer()),
        DtlsPolicy {
            psk: false,
            legacy: true,
        },
    );
    assert_eq!(
        m,
        Some(DtlsMode::Legacy12 {
            suite: Legacy12Suite::EcdheRsaAes256GcmSha384,
            name: "ECDHE-RSA-AES256-GCM-SHA384".into(),
            family: HeaderFamily::Dtls12CipherSuite,
        })
    );
}

#[test]
fn nothing_allowed_means_no_dtls() {
    assert_eq!(
        select_mode(
            &request(&default_offer()),
            DtlsPolicy {
                psk: false,
                legacy: false
            }
        ),
        None
    );
}

#[test]
fn dtls_ciphers_option_selects_each_legacy_mode() {
    for (name, expect) in [
        (
            "OC-DTLS1_2-AES128-GCM",
            DtlsMode::Legacy12 {
                suite: Legacy12Suite::Aes128GcmSha256,
                name: "OC-DTLS1_2-AES128-GCM".into(),
                family: HeaderFamily::DtlsCipherSuite,
            },
        ),
        (
            "OC-DTLS1_2-AES256-GCM",
            DtlsMode::Legacy12 {
                suite: Legacy12Suite::Aes256GcmSha384,
                name: "OC-DTLS1_2-AES256-GCM".into(),
                family: HeaderFamily::DtlsCipherSuite,
            },
        ),
        (
            "AES128-SHA",
            DtlsMode::Dtls09 {
                suite: Dtls09Suite::Aes128Sha,
                name: "AES128-SHA".into(),
            },
        ),
        (
            "AES256-SHA",
            DtlsMode::Dtls09 {
                suite: Dtls09Suite::Aes256Sha,
                name: "AES256-SHA".into(),
            },
        ),
    ] {
        let req = request(&format!("{MS}X-DTLS-CipherSuite: {name}\r\n"));
        assert_eq!(select_mode(&req, BOTH), Some(expect), "{name}");
    }
}

#[test]
fn dtls12_header_family_is_echoed() {
    let req = request(&format!("{MS}X-DTLS12-CipherSuite: AES256-GCM-SHA384\r\n"));
    assert_eq!(
        select_mode(&req, BOTH),
        Some(DtlsMode::Legacy12 {
            suite: Legacy12Suite::Aes256GcmSha384,
            name: "AES256-GCM-SHA384".into(),
            family: HeaderFamily::Dtls12CipherSuite,
        })
    );
}

#[test]
fn legacy_needs_a_master_secret_and_the_policy() {
    let no_ms = request("X-DTLS-CipherSuite: AES128-SHA\r\n");
    assert_eq!(select_mode(&no_ms, BOTH), None);
    let with_ms = request(&format!("{MS}X-DTLS-CipherSuite: AES128-SHA\r\n"));
    assert_eq!(
        select_mode(
            &with_ms,
            DtlsPolicy {
                psk: true,
                legacy: false
            }
        ),
        None
    );
}

#[test]
fn unknown_and_3des_names_are_ignored() {
    let req = request(&format!(
        "{MS}X-DTLS-CipherSuite: DES-CBC3-SHA:DHE-RSA-AES128-SHA:FOO\r\n"
    ));
    assert_eq!(select_mode(&req, BOTH), None);
}

#[test]
fn psk_token_must_be_a_whole_item() {
    let req = request("X-DTLS-CipherSuite: XPSK-NEGOTIATE:PSK-NEGOTIATEX\r\n");
    assert_eq!(select_mode(&req, BOTH), None);
}

#[test]
fn overheads() {
    assert_eq!(record_overhead(&DtlsMode::Psk), 37);
    let d09 = DtlsMode::Dtls09 {
        suite: Dtls09Suite::Aes128Sha,
        name: String::new(),
    };
    assert_eq!(record_overhead(&d09), 65);
}

/// The DTLS 0.9 ClientHello of protocol.md §5.3 (session id bytes replaced by 0xAB).
fn hello(version: [u8; 2], sid_len: u8) -> Vec<u8> {
    let mut d = vec![0x16];
    d.extend_from_slice(&version);
    d.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x67]);
    d.extend_from_slice(&[
        0x01, 0x00, 0x00, 0x5b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5b,
    ]);
    d.extend_from_slice(&version);
    d.extend_from_slice(&[0x11; 32]);
    d.push(sid_len);
    d.extend(std::iter::repeat_n(0xAB, usize::from(sid_len)));
    d.extend_from_slice(&[0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00]);
    d
}

#[test]
fn peeks_the_session_id() {
    for v in [[0x01, 0x00], [0xfe, 0xff], [0xfe, 0xfd]] {
        let d = hello(v, 32);
        let info = peek_client_hello(&d).unwrap();
        assert_eq!(info.session_id, &[0xAB; 32][..]);
        assert_eq!(info.record_version, u16::from_be_bytes(v));
    }
}

#[test]
fn rejects_non_hellos_and_truncations() {
    let d = hello([0xfe, 0xfd], 32);
    for cut in 0..60 + 32 {
        assert!(peek_client_hello(&d[..cut]).is_none(), "cut {cut}");
    }
    let mut not_hs = d.clone();
    not_hs[0] = 23;
    assert!(peek_client_hello(&not_hs).is_none());
    let mut epoch1 = d.clone();
    epoch1[4] = 1;
    assert!(peek_client_hello(&epoch1).is_none());
    let mut tls = d.clone();
    tls[1] = 0x03;
    tls[2] = 0x03;
    assert!(peek_client_hello(&tls).is_none());
    let mut long = d;
    long[59] = 33;
    assert!(peek_client_hello(&long).is_none());
}

proptest::proptest! {
    #[test]
    fn peek_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let _ = peek_client_hello(&data);
    }
}

#[test]
fn hex() {
    assert_eq!(hex_id(&[0x00, 0xab, 0x10]), "00ab10");
}
