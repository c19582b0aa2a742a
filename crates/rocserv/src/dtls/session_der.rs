//! The fake DTLS session of the legacy resumption as an OpenSSL session object (the DER itself is
//! `rocserv_proto::dtls::session_der`).

use openssl::ssl::SslSession;
use rocserv_proto::dtls::session_der::session_der;
pub(crate) use rocserv_proto::dtls::session_der::DTLS1_2_VERSION;

/// Parses the DER built by `session_der` into an OpenSSL session owned by no context.
pub(crate) fn build_session(
    ssl_version: u64,
    cipher_id: u16,
    session_id: &[u8],
    master: &[u8],
) -> Result<SslSession, openssl::error::ErrorStack> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let der = session_der(ssl_version, cipher_id, session_id, master, now);
    SslSession::from_der(&der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocserv_proto::dtls::session_der::SESSION_TIMEOUT_SECS;

    #[test]
    fn openssl_parses_the_session_with_our_id_time_and_timeout() {
        let sid = [0x5Au8; 32];
        let sess = match build_session(DTLS1_2_VERSION, 0x009D, &sid, &[7u8; 48]) {
            Ok(s) => s,
            Err(e) => panic!("OpenSSL rejected the session DER: {e}"),
        };
        assert_eq!(sess.id(), &sid[..]);
        assert_eq!(sess.master_key_len(), 48);
        assert_eq!(sess.timeout(), SESSION_TIMEOUT_SECS as _);
        assert!(sess.time() > 1_600_000_000);
        assert_eq!(sess.protocol_version(), openssl::ssl::SslVersion::DTLS1_2);
    }
}
