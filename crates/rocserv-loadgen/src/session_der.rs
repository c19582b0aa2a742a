//! The session a client "resumes" so that its DTLS ClientHello carries the App-ID as session_id
//! (protocol.md §5.2): the DER comes from `rocserv_proto::dtls::session_der`, shared with the
//! daemon; the master secret here is all zeros (PSK mode ignores it).

use openssl::ssl::SslSession;
use rocserv_proto::dtls::session_der::session_der;
pub use rocserv_proto::dtls::session_der::DTLS1_2_VERSION;

/// Parses the session DER into an OpenSSL session owned by no context.
pub fn build_session(
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

    #[test]
    fn openssl_parses_the_session_with_our_id() {
        let sid = [0x5Au8; 32];
        let sess = build_session(DTLS1_2_VERSION, 0x00A9, &sid, &[0u8; 48]).unwrap();
        assert_eq!(sess.id(), &sid[..]);
        assert_eq!(sess.protocol_version(), openssl::ssl::SslVersion::DTLS1_2);
    }
}
