//! Property tests: no input makes the server panic; garbage never gets delivered.

use proptest::prelude::*;

use super::client::TestClient;
use super::*;
use crate::dtls::Dtls09Suite;
use crate::dtls09::Dtls09Server;

const SID: [u8; 32] = [0x77; 32];

fn established() -> (Dtls09Server, TestClient) {
    let mut s = Dtls09Server::new(Dtls09Suite::Aes128Sha, SID, &test_master(), [1; 32]);
    let mut c = TestClient::new(Dtls09Suite::Aes128Sha, SID, test_master(), [2; 32]);
    let mut out = Vec::new();
    s.handle_datagram(&c.hello(), &mut out, &mut |_| {})
        .unwrap();
    let fin = c.on_flight(&out);
    s.handle_datagram(&fin, &mut out, &mut |_| {}).unwrap();
    assert!(s.is_established());
    (s, c)
}

/// Datagrams that look like DTLS 0.9 records more often than pure noise would.
fn recordish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            prop_oneof![Just(20u8), Just(21), Just(22), Just(23), any::<u8>()],
            prop_oneof![Just(0u16), Just(1), any::<u16>()],
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..120),
            any::<bool>(),
        )
            .prop_map(|(ct, epoch, seq, body, honest_len)| {
                let mut d = vec![ct, 1, 0];
                d.extend_from_slice(&epoch.to_be_bytes());
                d.extend_from_slice(&seq.to_be_bytes()[2..]);
                let len = if honest_len {
                    body.len() as u16
                } else {
                    (seq as u16) % 300
                };
                d.extend_from_slice(&len.to_be_bytes());
                d.extend_from_slice(&body);
                d
            }),
    ]
}

proptest! {
    #[test]
    fn random_datagrams_never_panic_before_handshake(d in recordish()) {
        let mut s = Dtls09Server::new(Dtls09Suite::Aes256Sha, SID, &test_master(), [1; 32]);
        let mut out = Vec::new();
        let mut delivered = 0;
        let r = s.handle_datagram(&d, &mut out, &mut |_| delivered += 1);
        prop_assert_eq!(delivered, 0);
        prop_assert!(!s.is_established());
        prop_assert_eq!(r.unwrap_or(0), 0);
        prop_assert!(out.is_empty());
    }

    #[test]
    fn truncated_hellos_never_panic(cut in 0usize..116, flip in 0usize..116) {
        let ch = hex(B2_CLIENT_HELLO);
        let mut s = Dtls09Server::new(Dtls09Suite::Aes128Sha, b2_session_id(), &test_master(), [1; 32]);
        let mut out = Vec::new();
        let _ = s.handle_datagram(&ch[..cut], &mut out, &mut |_| {});
        prop_assert!(out.is_empty());
        let mut bad = ch.clone();
        bad[flip] ^= 0xff;
        let _ = s.handle_datagram(&bad, &mut out, &mut |_| {});
    }

    #[test]
    fn garbage_after_handshake_is_never_delivered(ds in proptest::collection::vec(recordish(), 1..8)) {
        let (mut s, mut c) = established();
        let mut out = Vec::new();
        let mut delivered = Vec::new();
        for d in &ds {
            let n = s.handle_datagram(d, &mut out, &mut |p| delivered.push(p.to_vec())).unwrap_or(0);
            prop_assert_eq!(n, 0);
        }
        prop_assert!(delivered.is_empty());
        prop_assert!(out.is_empty());
        // The association still works.
        let rec = c.seal(b"\x00ok", [3; 16]);
        prop_assert_eq!(s.handle_datagram(&rec, &mut out, &mut |p| delivered.push(p.to_vec())), Ok(1));
        prop_assert_eq!(delivered, vec![b"\x00ok".to_vec()]);
    }

    #[test]
    fn truncated_or_extended_valid_records(len in 1usize..300, cut in 0usize..400, tail in proptest::collection::vec(any::<u8>(), 0..40)) {
        let (mut s, mut c) = established();
        let payload = vec![0u8; len];
        let rec = c.seal(&payload, [7; 16]);
        let mut out = Vec::new();
        let cut = cut.min(rec.len());
        let mut delivered = 0;
        let n = s.handle_datagram(&rec[..cut], &mut out, &mut |_| delivered += 1).unwrap_or(0);
        prop_assert_eq!(n, usize::from(cut == rec.len()));
        // The full record followed by garbage: the record counts, the garbage does not.
        let mut d = rec.clone();
        d.extend_from_slice(&tail);
        let n2 = s.handle_datagram(&d, &mut out, &mut |_| delivered += 1).unwrap_or(0);
        prop_assert_eq!(n2, usize::from(cut != rec.len()));
        prop_assert_eq!(delivered, 1);
    }

    #[test]
    fn roundtrip_any_payload(payload in proptest::collection::vec(any::<u8>(), 1..1500), iv in any::<[u8; 16]>()) {
        let (mut s, mut c) = established();
        let mut out = Vec::new();
        let mut got = Vec::new();
        let rec = c.seal(&payload, iv);
        prop_assert_eq!(s.handle_datagram(&rec, &mut out, &mut |p| got = p.to_vec()), Ok(1));
        prop_assert_eq!(&got, &payload);
        let mut enc = Vec::new();
        s.encrypt(&payload, iv, &mut enc).unwrap();
        prop_assert_eq!(c.open(&enc).unwrap(), payload);
    }
}
