use rocserv_proto::dtls::Legacy12Suite;

use super::client::legacy_client;
use super::*;
use crate::dtls::session_der::{build_session, DTLS1_2_VERSION};

const SID: [u8; 32] = [0x9D; 32];
const MASTER: [u8; 48] = [0x33; 48];

async fn start(
    suite: Legacy12Suite,
    client_sid: Option<[u8; 32]>,
    cipher: &str,
) -> (Arc<DatagramSocket>, Association, Client, Vec<Seen>) {
    let ctx = contexts();
    let sock = server_socket().await;
    let session =
        client_sid.map(
            |sid| match build_session(DTLS1_2_VERSION, suite.id(), &sid, &MASTER) {
                Ok(s) => s,
                Err(e) => panic!("client session: {e}"),
            },
        );
    let mut client = legacy_client(cipher, session.as_ref(), local(&sock));
    let peer = client_addr(&client);
    let mut assoc = match Association::legacy12(&ctx, suite, SID, MASTER, 1400, tx(&sock, peer)) {
        Ok(a) => a,
        Err(e) => panic!("legacy association: {e}"),
    };
    let seen = handshake(&mut assoc, &sock, &mut client).await;
    (sock, assoc, client, seen)
}

#[tokio::test]
async fn legacy_resumption_both_suites() {
    for suite in [
        Legacy12Suite::Aes128GcmSha256,
        Legacy12Suite::Aes256GcmSha384,
    ] {
        let (sock, mut assoc, mut client, seen) =
            start(suite, Some(SID), suite.openssl_name()).await;
        assert!(
            seen.iter().all(|s| s.result.is_ok()),
            "{suite:?}: handshake errors"
        );
        assert!(client.done, "{suite:?}: {:?}", client.failed);
        assert!(assoc.is_established());
        assert!(
            client.stream.ssl().session_reused(),
            "{suite:?}: client did not resume"
        );
        assert_eq!(client.cipher(), suite.openssl_name());
        assert_eq!(
            assoc.cipher_description(),
            format!("DTLSv1.2 {}", suite.openssl_name())
        );
        assert_eq!(assoc.record_layer(), "rocserv", "{suite:?}");
        exchange(&mut assoc, &sock, &mut client).await;
        exchange(&mut assoc, &sock, &mut client).await;
    }
}

#[tokio::test]
async fn legacy_client_that_does_not_resume_is_refused() {
    let suite = Legacy12Suite::Aes256GcmSha384;
    // No session at all (full handshake), and a session with another id.
    for client_sid in [None, Some([0x01; 32])] {
        let (_sock, mut assoc, client, seen) = start(suite, client_sid, suite.openssl_name()).await;
        assert!(!assoc.is_established(), "{client_sid:?}");
        assert!(assoc.is_dead(), "{client_sid:?}");
        assert!(seen
            .iter()
            .any(|s| s.result.as_ref().is_err_and(DtlsError::is_fatal)));
        assert!(!client.done);
        assert!(matches!(
            assoc.on_datagram(&[22], assoc.peer(), Instant::now(), &mut |_| {}),
            Err(DtlsError::Dead)
        ));
        assert_eq!(assoc.next_timeout(), None);
    }
}

#[tokio::test]
async fn legacy_client_offering_another_suite_is_refused() {
    let (_sock, assoc, client, _seen) = start(
        Legacy12Suite::Aes128GcmSha256,
        Some(SID),
        "AES256-GCM-SHA384",
    )
    .await;
    assert!(!assoc.is_established());
    assert!(!client.done);
}

#[tokio::test]
async fn legacy_wrong_master_secret_never_establishes() {
    let ctx = contexts();
    let sock = server_socket().await;
    let suite = Legacy12Suite::Aes128GcmSha256;
    let session = match build_session(DTLS1_2_VERSION, suite.id(), &SID, &[0x34; 48]) {
        Ok(s) => s,
        Err(e) => panic!("client session: {e}"),
    };
    let mut client = legacy_client(suite.openssl_name(), Some(&session), local(&sock));
    let peer = client_addr(&client);
    let mut assoc = match Association::legacy12(&ctx, suite, SID, MASTER, 1400, tx(&sock, peer)) {
        Ok(a) => a,
        Err(e) => panic!("legacy association: {e}"),
    };
    let _ = handshake(&mut assoc, &sock, &mut client).await;
    assert!(!assoc.is_established());
    assert!(!client.done);
}
