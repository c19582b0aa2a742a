//! Tests of the DTLS 0.9 server: known answers (OpenSSL-computed and protocol.md Appendix B.2),
//! full in-memory handshakes against a hand-written client, and property tests.
//! The interop test against OpenSSL's DTLS1_BAD_VER client is `tests/dtls09_openssl.rs` (it
//! needs FFI, which this crate forbids).

mod client;
mod handshake;
mod kat;
mod prop;

pub(super) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        })
        .collect();
    digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}

/// Appendix B.2: the ClientHello openconnect 9.01 (GnuTLS) sent for AES128-SHA.
pub(super) const B2_CLIENT_HELLO: &str = "
  16 01 00 00 00 00 00 00 00 00 00 00 67 01 00 00 5b 00 00 00 00 00 00 00 5b 01 00 4d 05 89 c2 60
  e5 0e 91 37 e8 3f b7 c7 08 0c ad f1 e2 a7 5b c9 bf b1 3d c0 01 a3 b8 a2 c1 fc 94 20 9d 53 86 e5
  92 1e 11 76 6a dd 28 e7 6a d8 2f a8 18 46 8f cc db e1 41 5f ed c8 77 d1 26 70 87 c5 00 00 02 00
  2f 01 00 00 0f 00 23 00 00 ff 01 00 01 00 00 1c 00 02 40 00";
/// Appendix B.2: the ServerHello GnuTLS (ocserv) answered.
pub(super) const B2_SERVER_HELLO: &str = "
  16 01 00 00 00 00 00 00 00 00 00 00 5a 02 00 00 4e 00 00 00 00 00 00 00 4e 01 00 f9 3b 87 7d 55
  a0 f9 84 86 05 4d a3 e5 f2 d3 fb 37 c7 9d 0d 0d 1b d8 d8 08 fb 3a 43 d2 d0 fd cf 20 9d 53 86 e5
  92 1e 11 76 6a dd 28 e7 6a d8 2f a8 18 46 8f cc db e1 41 5f ed c8 77 d1 26 70 87 c5 00 2f 00 00
  06 00 1c 00 02 40 00";
/// Appendix B.2: the server's ChangeCipherSpec.
pub(super) const B2_SERVER_CCS: &str = "14 01 00 00 00 00 00 00 00 00 01 00 03 01 00 01";
/// Appendix B.2: the server's Finished record.
pub(super) const B2_SERVER_FINISHED: &str = "
  16 01 00 00 01 00 00 00 00 00 00 00 40 b0 c4 99 da a9 9c 77 21 9c 6c 65 9c 51 7c cf 85 63 4e 2d
  1c b2 e9 c9 95 1f c1 79 6c 82 33 76 48 df d2 ed 97 30 aa 9f 9f a3 20 30 2b 03 97 4f 52 1b 8e 3f
  c9 0a 0b 81 ba 9c 92 65 f4 e3 ad 51 10";
/// Appendix B.2: the client's CCS + Finished datagram.
pub(super) const B2_CLIENT_FINISH: &str = "
  14 01 00 00 00 00 00 00 00 00 01 00 03 01 00 01 16 01 00 00 01 00 00 00 00 00 00 00 40 cd 0d 62
  25 fc 6b ea cd 56 96 77 b4 2d 1e 53 ba 0a 2d 09 55 40 a9 8a 8b 6b f4 2f ff f2 12 f9 a1 25 31 38
  e9 d6 13 38 a7 5b 14 89 1f 42 d2 e7 88 cb 07 31 52 87 f5 69 81 d2 2b 6c bd 11 43 57 a9";

/// The B.2 session id (bytes 60..92 of the ClientHello).
pub(super) fn b2_session_id() -> [u8; 32] {
    let ch = hex(B2_CLIENT_HELLO);
    let mut sid = [0u8; 32];
    sid.copy_from_slice(&ch[60..92]);
    sid
}

/// Test master secret 00 01 .. 2f (the appendix does not publish the captured one).
pub(super) fn test_master() -> [u8; 48] {
    let mut m = [0u8; 48];
    for (i, b) in m.iter_mut().enumerate() {
        *b = i as u8;
    }
    m
}
