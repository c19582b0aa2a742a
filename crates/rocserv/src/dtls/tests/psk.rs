use std::time::{Duration, Instant};

use super::*;

const KEY: [u8; 32] = [0x42; 32];
const PSK_AEAD: [&str; 3] = [
    "PSK-AES256-GCM-SHA384",
    "PSK-AES128-GCM-SHA256",
    "PSK-CHACHA20-POLY1305",
];

async fn established() -> (Arc<DatagramSocket>, Association, Client) {
    let (sock, mut assoc, mut client) = psk_pair(KEY, KEY, None).await;
    let seen = handshake(&mut assoc, &sock, &mut client).await;
    assert!(seen.iter().all(|s| s.result.is_ok()), "handshake errors");
    assert!(client.done, "client: {:?}", client.failed);
    assert!(assoc.is_established());
    (sock, assoc, client)
}

#[tokio::test]
async fn psk_handshake_and_data_both_ways() {
    let (sock, mut assoc, mut client) = established().await;
    let desc = assoc.cipher_description();
    assert!(desc.starts_with("DTLSv1.2 "), "{desc}");
    assert!(PSK_AEAD.iter().any(|c| desc.ends_with(c)), "{desc}");
    assert!(
        PSK_AEAD.contains(&client.cipher().as_str()),
        "{}",
        client.cipher()
    );
    // Server preference: AES-256-GCM, as with ocserv.
    assert_eq!(client.cipher(), "PSK-AES256-GCM-SHA384");
    exchange(&mut assoc, &sock, &mut client).await;
    assert_eq!(assoc.peer(), client_addr(&client));
}

#[tokio::test]
async fn psk_tunnel_packet_of_the_mtu_fits_and_oversized_payload_is_refused() {
    let (_sock, mut assoc, mut client) = established().await;
    let full = vec![0u8; 1 + 1400];
    assert!(assoc.send(&full).is_ok());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(client.recv_all(), vec![full]);
    // Larger than the MTU (e.g. the echo of a client's MTU probe): still one record.
    let big = vec![0x04u8; 4000];
    let r = assoc.send(&big);
    assert!(r.is_ok(), "{r:?}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(client.recv_all(), vec![big]);
    let too_big = vec![0u8; super::super::MAX_PAYLOAD + 1];
    let err = assoc.send(&too_big).err();
    assert!(
        matches!(err, Some(DtlsError::PayloadSize { .. })),
        "{err:?}"
    );
    assert!(matches!(
        assoc.send(&[]),
        Err(DtlsError::PayloadSize { .. })
    ));
    // Still usable.
    assert!(assoc.is_established());
    assert!(assoc.send(&[0x07]).is_ok());
}

#[tokio::test]
async fn psk_wrong_key_fails_without_panicking() {
    let (sock, mut assoc, mut client) = psk_pair(KEY, [0x43; 32], None).await;
    let _ = handshake(&mut assoc, &sock, &mut client).await;
    assert!(!assoc.is_established());
    assert!(!client.done);
    assert!(matches!(
        assoc.send(&[0x07]),
        Err(DtlsError::NotEstablished) | Err(DtlsError::Dead)
    ));
    assert!(!format!("{assoc:?}").contains("66, 66"), "key in Debug");
}

#[tokio::test]
async fn send_before_handshake_is_refused() {
    let ctx = contexts();
    let sock = server_socket().await;
    let peer = local(&sock);
    let mut assoc = match Association::psk(&ctx, KEY, None, 1400, tx(&sock, peer)) {
        Ok(a) => a,
        Err(e) => panic!("psk association: {e}"),
    };
    assert!(matches!(
        assoc.send(&[0x07]),
        Err(DtlsError::NotEstablished)
    ));
    assert_eq!(assoc.next_timeout(), None);
}

#[tokio::test]
async fn retransmission_timer_resends_the_server_flight() {
    let (sock, mut assoc, mut client) = psk_pair(KEY, KEY, None).await;
    client.step(); // ClientHello
    let seen = pump(&mut assoc, &sock, Duration::from_millis(100)).await;
    assert_eq!(seen.len(), 1);
    // The server flight (ServerHello, ServerHelloDone) is lost: drain it from the client socket.
    let mut buf = [0u8; 2048];
    let mut first_flight = 0;
    while client.stream.get_ref().sock.recv(&mut buf).is_ok() {
        first_flight += 1;
    }
    assert!(first_flight > 0);
    let Some(deadline) = assoc.next_timeout() else {
        panic!("no retransmission timer while waiting for the client's flight");
    };
    assert!(deadline > Instant::now() && deadline < Instant::now() + Duration::from_secs(2));
    assoc.on_timeout(Instant::now()); // too early: nothing resent
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(client.stream.get_ref().sock.recv(&mut buf).is_err());
    tokio::time::sleep_until(deadline.into()).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assoc.on_timeout(Instant::now());
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The retransmitted flight lets the handshake complete.
    let _ = handshake(&mut assoc, &sock, &mut client).await;
    assert!(client.done && assoc.is_established(), "{:?}", client.failed);
}

#[tokio::test]
async fn psk_client_presenting_the_app_id_as_session_id_gets_a_full_psk_handshake() {
    let app_id = [0xE8; 32];
    let (sock, mut assoc, mut client) = psk_pair(KEY, KEY, Some(app_id)).await;
    let _ = handshake(&mut assoc, &sock, &mut client).await;
    assert!(client.done && assoc.is_established(), "{:?}", client.failed);
    assert!(!client.stream.ssl().session_reused());
    exchange(&mut assoc, &sock, &mut client).await;
}

#[tokio::test]
async fn idle_association_releases_its_buffers_and_still_carries_data() {
    // AES-256-GCM: our record layer carries the data, OpenSSL's buffers stay released.
    // AES-128-CCM: OpenSSL's record layer, its buffers come back on demand.
    for (only, own) in [("PSK-AES256-GCM-SHA384", true), ("PSK-AES128-CCM", false)] {
        let (sock, mut assoc, mut client) = psk_pair_only(KEY, KEY, None, Some(only)).await;
        let _ = handshake(&mut assoc, &sock, &mut client).await;
        assert!(client.done && assoc.is_established(), "{only}");
        exchange(&mut assoc, &sock, &mut client).await;
        // Established and idle: the next deadline is the buffer release, not a retransmission.
        let due = assoc
            .next_timeout()
            .expect("release deadline while buffers are held");
        assert!(due <= Instant::now() + Duration::from_millis(300));
        assoc.on_timeout(due + Duration::from_millis(1));
        assert!(assoc.is_established());
        assert_eq!(assoc.next_timeout(), None, "released: nothing left to time");
        // Both directions work again, more than once.
        exchange(&mut assoc, &sock, &mut client).await;
        if own {
            assert_eq!(
                assoc.next_timeout(),
                None,
                "{only}: OpenSSL's buffers not needed"
            );
        } else {
            let due = assoc
                .next_timeout()
                .expect("buffers held again after traffic");
            assoc.on_timeout(due + Duration::from_millis(1));
        }
        exchange(&mut assoc, &sock, &mut client).await;
        assert!(assoc.is_established());
    }
}

#[tokio::test]
async fn every_psk_suite_carries_data_on_the_expected_record_layer() {
    for (only, layer) in [
        ("PSK-AES256-GCM-SHA384", "rocserv"),
        ("PSK-AES128-GCM-SHA256", "rocserv"),
        ("PSK-CHACHA20-POLY1305", "rocserv"),
        ("PSK-AES128-CCM", "OpenSSL"),
        ("PSK-AES256-CCM", "OpenSSL"),
    ] {
        let (sock, mut assoc, mut client) = psk_pair_only(KEY, KEY, None, Some(only)).await;
        let _ = handshake(&mut assoc, &sock, &mut client).await;
        assert!(
            client.done && assoc.is_established(),
            "{only}: {:?}",
            client.failed
        );
        assert_eq!(client.cipher(), only);
        assert_eq!(assoc.record_layer(), layer, "{only}");
        for _ in 0..3 {
            exchange(&mut assoc, &sock, &mut client).await;
        }
    }
}

#[tokio::test]
async fn a_lost_server_finished_is_resent_by_openssl_and_data_flows_after() {
    let (sock, mut assoc, mut client) = psk_pair(KEY, KEY, None).await;
    let mut buf = [0u8; 2048];
    // Lockstep until the server is established; its last flight (CCS + Finished) is lost.
    for _ in 0..8 {
        client.step();
        let _ = pump(&mut assoc, &sock, Duration::from_millis(100)).await;
        if assoc.is_established() {
            break;
        }
    }
    assert!(assoc.is_established() && !client.done);
    assert_eq!(assoc.record_layer(), "rocserv");
    let mut lost = 0;
    while client.stream.get_ref().sock.recv(&mut buf).is_ok() {
        lost += 1;
    }
    assert!(lost > 0, "the server's last flight");
    // Data the server sends before the client has its Finished: still sealed by OpenSSL, so
    // that the Finished OpenSSL resends later comes after it in sequence, not 2^32 below.
    let _ = assoc.send(&[0x00, 9, 9]);
    // The client's timer resends its flight; OpenSSL answers it with its Finished again, and
    // the handshake completes.
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.step();
        let _ = pump(&mut assoc, &sock, Duration::from_millis(20)).await;
        client.step();
        if client.done {
            break;
        }
    }
    assert!(client.done, "{:?}", client.failed);
    let _ = client.recv_all();
    assert!(assoc.is_established());
    exchange(&mut assoc, &sock, &mut client).await;
    exchange(&mut assoc, &sock, &mut client).await;
}
