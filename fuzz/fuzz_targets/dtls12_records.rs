//! The DTLS 1.2 AEAD record layer of established associations fed arbitrary datagrams (split on
//! 0xFF): header parsing, the hand-back of non-data records, decryption, the replay window.
//! Nothing may panic, nothing forged may be delivered, every handed-back record is a whole
//! record of the datagram, and a genuine record sealed afterwards is still delivered once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::dtls::record12::{AeadSuite, Dtls12Records, Side};

fuzz_target!(|data: &[u8]| {
    let id = match data.first().map(|b| b % 3) {
        Some(0) => 0x00A9,
        Some(1) => 0x00A8,
        _ => 0xCCAB,
    };
    let Some(suite) = AeadSuite::from_id(id) else {
        return;
    };
    let make = |side| Dtls12Records::new(side, suite, &[9; 48], &[1; 32], &[2; 32], 1, 1 << 32);
    let (Some(mut server), Some(mut client)) = (make(Side::Server), make(Side::Client)) else {
        return;
    };
    let mut scratch = Vec::new();
    for dgram in data.split(|b| *b == 0xFF) {
        let mut delivered = 0usize;
        let mut handed_back = 0usize;
        server.open_datagram(
            dgram,
            &mut scratch,
            &mut |_| delivered += 1,
            &mut |record| {
                assert!(record.len() >= 13);
                handed_back += record.len();
            },
        );
        assert_eq!(delivered, 0, "a forged record was delivered");
        assert!(handed_back <= dgram.len());
    }
    let mut sealed = Vec::new();
    if client.seal(data, &mut sealed).is_ok() {
        let mut got = Vec::new();
        let n = server.open_datagram(&sealed, &mut scratch, &mut |p| got = p.to_vec(), &mut |_| {});
        assert_eq!((n, got.as_slice()), (1, data));
    }
});
