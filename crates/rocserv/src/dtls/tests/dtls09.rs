use rocserv_proto::dtls::Dtls09Suite;

use super::client::dtls09_client;
use super::*;
use crate::dtls::session_der::build_session;

const SID: [u8; 32] = [0x5E; 32];
const MASTER: [u8; 48] = [0x0F; 48];
const DTLS1_BAD_VER: u64 = 0x0100;

fn openssl_name(suite: Dtls09Suite) -> &'static str {
    match suite {
        Dtls09Suite::Aes128Sha => "AES128-SHA",
        Dtls09Suite::Aes256Sha => "AES256-SHA",
    }
}

async fn start(
    suite: Dtls09Suite,
    client_sid: [u8; 32],
) -> (Arc<DatagramSocket>, Association, Client, Vec<Seen>) {
    let sock = server_socket().await;
    let session = match build_session(DTLS1_BAD_VER, suite.id(), &client_sid, &MASTER) {
        Ok(s) => s,
        Err(e) => panic!("client session: {e}"),
    };
    let mut client = dtls09_client(openssl_name(suite), &session, local(&sock));
    let peer = client_addr(&client);
    let mut assoc = Association::dtls09(suite, SID, MASTER, tx(&sock, peer));
    let seen = handshake(&mut assoc, &sock, &mut client).await;
    (sock, assoc, client, seen)
}

#[tokio::test]
async fn dtls09_resumption_both_suites_through_the_adapter() {
    for suite in [Dtls09Suite::Aes128Sha, Dtls09Suite::Aes256Sha] {
        let (sock, mut assoc, mut client, seen) = start(suite, SID).await;
        assert!(
            seen.iter().all(|s| s.result.is_ok()),
            "{suite:?}: handshake errors"
        );
        assert!(client.done, "{suite:?}: {:?}", client.failed);
        assert!(assoc.is_established());
        assert!(client.stream.ssl().session_reused());
        assert_eq!(client.stream.ssl().version_str(), "DTLSv0.9");
        assert_eq!(
            assoc.cipher_description(),
            format!("DTLSv0.9 {}", openssl_name(suite))
        );
        exchange(&mut assoc, &sock, &mut client).await;
    }
}

#[tokio::test]
async fn dtls09_wrong_session_id_is_not_answered() {
    let (_sock, assoc, client, seen) = start(Dtls09Suite::Aes128Sha, [0x01; 32]).await;
    assert!(!assoc.is_established());
    assert!(!client.done);
    assert!(seen.iter().any(|s| s.result.is_err()));
    assert_eq!(assoc.next_timeout(), None);
}
