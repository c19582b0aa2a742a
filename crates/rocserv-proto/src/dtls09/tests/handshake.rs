//! Full in-memory handshakes between the server and the test client.

use super::client::TestClient;
use super::*;
use crate::dtls::Dtls09Suite;
use crate::dtls09::{Dtls09Error, Dtls09Server};

const SID: [u8; 32] = [0x5a; 32];

fn pair(suite: Dtls09Suite) -> (Dtls09Server, TestClient) {
    let server = Dtls09Server::new(suite, SID, &test_master(), [0x11; 32]);
    let client = TestClient::new(suite, SID, test_master(), [0x22; 32]);
    (server, client)
}

fn no_delivery(_: &[u8]) {
    panic!("nothing should be delivered");
}

/// Runs the handshake; returns the established pair.
fn established(suite: Dtls09Suite) -> (Dtls09Server, TestClient) {
    let (mut s, mut c) = pair(suite);
    let mut out = Vec::new();
    assert_eq!(
        s.handle_datagram(&c.hello(), &mut out, &mut no_delivery),
        Ok(0)
    );
    assert_eq!(
        out.len(),
        3,
        "ServerHello, CCS, Finished as three datagrams"
    );
    assert!(!s.is_established());
    let finish = c.on_flight(&out);
    out.clear();
    assert_eq!(
        s.handle_datagram(&finish, &mut out, &mut no_delivery),
        Ok(1)
    );
    assert!(out.is_empty());
    assert!(s.is_established());
    (s, c)
}

#[test]
fn handshake_and_data_both_ways() {
    for suite in [Dtls09Suite::Aes128Sha, Dtls09Suite::Aes256Sha] {
        let (mut s, mut c) = established(suite);
        let mut got = Vec::new();
        let mut out = Vec::new();
        // Several records in one datagram, and sizes around the block boundaries.
        let mut dgram = Vec::new();
        for len in [1usize, 11, 12, 13, 16, 27, 28, 1406] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            dgram.extend_from_slice(&c.seal(&payload, [len as u8; 16]));
        }
        let n = s
            .handle_datagram(&dgram, &mut out, &mut |p| got.push(p.to_vec()))
            .unwrap();
        assert_eq!(n, 8);
        assert_eq!(got.len(), 8);
        assert_eq!(got[7].len(), 1406);
        assert_eq!(got[2], (0..12).map(|i| i as u8).collect::<Vec<_>>());

        let mut rec = Vec::with_capacity(2048);
        let cap = rec.capacity();
        for payload in [&b"\x04"[..], b"\x00some ip packet", &[0u8; 1406][..]] {
            s.encrypt(payload, [9; 16], &mut rec).unwrap();
            assert_eq!(rec.capacity(), cap, "no reallocation");
            assert_eq!(c.open(&rec).unwrap(), payload);
        }
        // Sequence numbers advance: epoch 1, seq 1, 2, 3 (the Finished used 0).
        assert_eq!(&rec[3..11], &[0, 1, 0, 0, 0, 0, 0, 3]);
    }
}

#[test]
fn retransmitted_hello_gets_identical_flight() {
    let (mut s, mut c) = pair(Dtls09Suite::Aes128Sha);
    let mut first = Vec::new();
    s.handle_datagram(&c.hello(), &mut first, &mut no_delivery)
        .unwrap();
    let mut second = Vec::new();
    // The retransmission has another record sequence number but the same message.
    s.handle_datagram(&c.hello(), &mut second, &mut no_delivery)
        .unwrap();
    assert_eq!(first, second);
    let finish = c.on_flight(&second);
    let mut out = Vec::new();
    assert_eq!(
        s.handle_datagram(&finish, &mut out, &mut no_delivery),
        Ok(1)
    );
    assert!(s.is_established());
    // A late duplicate hello after the handshake is ignored.
    assert_eq!(
        s.handle_datagram(&c.hello(), &mut out, &mut no_delivery),
        Ok(0)
    );
    assert!(out.is_empty());
}

#[test]
fn different_hello_after_answer_is_an_error() {
    let (mut s, mut c) = pair(Dtls09Suite::Aes128Sha);
    let mut out = Vec::new();
    s.handle_datagram(&c.hello(), &mut out, &mut no_delivery)
        .unwrap();
    let mut other = TestClient::new(Dtls09Suite::Aes128Sha, SID, test_master(), [0x33; 32]);
    out.clear();
    assert_eq!(
        s.handle_datagram(&other.hello(), &mut out, &mut no_delivery),
        Err(Dtls09Error::UnexpectedClientHello)
    );
    assert!(out.is_empty());
    // The original handshake still completes.
    let mut flight = Vec::new();
    s.handle_datagram(&c.hello(), &mut flight, &mut no_delivery)
        .unwrap();
    let finish = c.on_flight(&flight);
    assert_eq!(
        s.handle_datagram(&finish, &mut out, &mut no_delivery),
        Ok(1)
    );
}

#[test]
fn wrong_master_secret_never_establishes() {
    let s_master = test_master();
    let mut s = Dtls09Server::new(Dtls09Suite::Aes128Sha, SID, &s_master, [0x11; 32]);
    let mut wrong = test_master();
    wrong[47] ^= 0x80;
    let mut c = TestClient::new(Dtls09Suite::Aes128Sha, SID, wrong, [0x22; 32]);
    let mut out = Vec::new();
    s.handle_datagram(&c.hello(), &mut out, &mut no_delivery)
        .unwrap();
    // The client cannot verify our Finished: its keys differ.
    let flight = out.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.on_flight(&flight)));
    assert!(r.is_err(), "client must reject the server Finished");
}

#[test]
fn bad_client_finished_fails_the_association() {
    let (mut s, mut c) = pair(Dtls09Suite::Aes256Sha);
    let mut out = Vec::new();
    s.handle_datagram(&c.hello(), &mut out, &mut no_delivery)
        .unwrap();
    c.client_verify_override = Some([0; 12]);
    let finish = c.on_flight(&out);
    assert_eq!(
        s.handle_datagram(&finish, &mut out, &mut no_delivery),
        Err(Dtls09Error::BadFinished)
    );
    assert!(!s.is_established());
    assert_eq!(
        s.handle_datagram(&c.seal(b"\x00x", [0; 16]), &mut out, &mut no_delivery),
        Err(Dtls09Error::Failed)
    );
    assert_eq!(
        s.encrypt(b"\x00", [0; 16], &mut Vec::new()),
        Err(Dtls09Error::NotEstablished)
    );
}

#[test]
fn replayed_and_tampered_records_are_dropped() {
    let (mut s, mut c) = established(Dtls09Suite::Aes128Sha);
    let mut out = Vec::new();
    let rec = c.seal(b"\x00packet", [1; 16]);
    let mut count = 0;
    assert_eq!(
        s.handle_datagram(&rec, &mut out, &mut |_| count += 1),
        Ok(1)
    );
    assert_eq!(
        s.handle_datagram(&rec, &mut out, &mut |_| count += 1),
        Ok(0)
    );
    assert_eq!(count, 1);
    assert_eq!(s.stats().replayed, 1);
    // Flip every byte of a fresh record in turn: never accepted, never delivered.
    let rec = c.seal(b"\x00another packet", [2; 16]);
    for i in 0..rec.len() {
        let mut bad = rec.clone();
        bad[i] ^= 0x01;
        let n = s
            .handle_datagram(&bad, &mut out, &mut |_| count += 1)
            .unwrap_or(0);
        assert_eq!(n, 0, "byte {i}");
    }
    assert_eq!(count, 1);
    // The untampered record is still fresh (tampered copies did not enter the window).
    assert_eq!(
        s.handle_datagram(&rec, &mut out, &mut |_| count += 1),
        Ok(1)
    );
    assert_eq!(count, 2);
    // Records older than the window are dropped.
    let old = c.seal(b"\x00old", [3; 16]);
    for _ in 0..70 {
        let r = c.seal(b"\x07", [4; 16]);
        s.handle_datagram(&r, &mut out, &mut |_| {}).unwrap();
    }
    assert_eq!(
        s.handle_datagram(&old, &mut out, &mut |_| count += 1),
        Ok(0)
    );
    assert_eq!(count, 2);
    assert!(out.is_empty());
}

#[test]
fn data_before_client_finished_triggers_flight_resend() {
    let (mut s, mut c) = pair(Dtls09Suite::Aes128Sha);
    let mut flight = Vec::new();
    s.handle_datagram(&c.hello(), &mut flight, &mut no_delivery)
        .unwrap();
    let _lost_finish = c.on_flight(&flight);
    let mut out = Vec::new();
    let data = c.seal(b"\x03probe", [5; 16]);
    assert_eq!(s.handle_datagram(&data, &mut out, &mut no_delivery), Ok(1));
    assert_eq!(
        out, flight,
        "our flight again, so the client retransmits its Finished"
    );
    assert!(!s.is_established());
    assert_eq!(
        s.encrypt(b"\x04", [0; 16], &mut Vec::new()),
        Err(Dtls09Error::NotEstablished)
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let (s, _) = established(Dtls09Suite::Aes128Sha);
    let dbg = format!("{s:?}");
    assert!(dbg.contains("Aes128Sha"));
    // The master secret starts 00 01 02 03 ...; the session id is 0x5a bytes.
    assert!(!dbg.contains("[0, 1, 2, 3"));
    assert!(!dbg.contains("90, 90"));
}
