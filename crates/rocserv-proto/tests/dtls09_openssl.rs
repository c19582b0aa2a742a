//! Interop: OpenSSL's DTLS1_BAD_VER client (the only DTLS 0.9 implementation in OpenSSL is the
//! client) against `rocserv_proto::dtls09::Dtls09Server`, datagrams pumped in memory.
//!
//! The client is set up like openconnect's OpenSSL backend (crates.md §2.4): a session built
//! from DER with our session id and the master secret, EMS and encrypt-then-MAC off, protocol
//! version pinned to 0x0100 through FFI (the `openssl` crate's `SslVersion` cannot express it).
//! This lives in `tests/` because the library forbids unsafe code.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure should abort the test

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use openssl::ssl::{
    ErrorCode, HandshakeError, Ssl, SslContext, SslMethod, SslOptions, SslSession, SslStream,
};
use rocserv_proto::dtls09::{Dtls09Server, Dtls09Suite};

/// A datagram "socket" in memory: reads pop whole datagrams, each write is one datagram.
#[derive(Debug, Default)]
struct Pipe {
    inbox: VecDeque<Vec<u8>>,
    outbox: Vec<Vec<u8>>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inbox.pop_front() {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    if content.len() < 0x80 {
        v.push(content.len() as u8);
    } else {
        v.extend_from_slice(&[0x81, content.len() as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn der_uint(n: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = n
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

/// OpenSSL's SSL_SESSION_ASN1: version 1, protocol 0x0100, cipher, session id, master key,
/// [1] time, [2] timeout (without them OpenSSL uses a 3-second timeout).
fn session_der(cipher: u16, sid: &[u8; 32], master: &[u8; 48]) -> Vec<u8> {
    #[allow(clippy::disallowed_methods)] // test client setup, not the sans-IO core
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut body = der_uint(1);
    body.extend(der_uint(0x0100));
    body.extend(tlv(0x04, &cipher.to_be_bytes()));
    body.extend(tlv(0x04, sid));
    body.extend(tlv(0x04, master));
    body.extend(tlv(0xa1, &der_uint(now)));
    body.extend(tlv(0xa2, &der_uint(3600)));
    tlv(0x30, &body)
}

fn client(suite_name: &str, cipher: u16, sid: &[u8; 32], master: &[u8; 48]) -> Ssl {
    let mut b = SslContext::builder(SslMethod::dtls_client()).unwrap();
    // SAFETY: the context pointer is valid for the builder's lifetime; DTLS1_BAD_VER = 0x0100.
    unsafe {
        assert_eq!(
            openssl_sys::SSL_CTX_set_min_proto_version(b.as_ptr(), 0x0100),
            1
        );
        assert_eq!(
            openssl_sys::SSL_CTX_set_max_proto_version(b.as_ptr(), 0x0100),
            1
        );
    }
    b.set_cipher_list(&format!("{suite_name}:@SECLEVEL=0"))
        .unwrap();
    b.set_options(
        SslOptions::NO_TICKET
            | SslOptions::NO_QUERY_MTU
            | SslOptions::from_bits_retain(1) // SSL_OP_NO_EXTENDED_MASTER_SECRET
            | SslOptions::from_bits_retain(1 << 19), // SSL_OP_NO_ENCRYPT_THEN_MAC
    );
    let ctx = b.build();
    let mut ssl = Ssl::new(&ctx).unwrap();
    ssl.set_mtu(1400).unwrap();
    let sess = SslSession::from_der(&session_der(cipher, sid, master)).unwrap();
    // SAFETY: the session was built from DER and belongs to no other context.
    unsafe { ssl.set_session(&sess).unwrap() };
    ssl
}

/// Delivers every datagram the client wrote to the server; queues the server's answers.
fn pump(stream: &mut Pipe, server: &mut Dtls09Server, delivered: &mut Vec<Vec<u8>>) -> usize {
    let mut authenticated = 0;
    for d in std::mem::take(&mut stream.outbox) {
        let mut out = Vec::new();
        authenticated += server
            .handle_datagram(&d, &mut out, &mut |p| delivered.push(p.to_vec()))
            .unwrap();
        stream.inbox.extend(out);
    }
    authenticated
}

fn interop(suite: Dtls09Suite, name: &str) {
    let sid = [0xa5u8; 32];
    let mut master = [0u8; 48];
    for (i, b) in master.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let mut server = Dtls09Server::new(suite, sid, &master, [0x3c; 32]);
    let ssl = client(name, suite.id(), &sid, &master);
    let mut delivered = Vec::new();

    let mut attempt = ssl.connect(Pipe::default());
    let mut rounds = 0;
    let mut stream: SslStream<Pipe> = loop {
        match attempt {
            Ok(s) => break s,
            Err(HandshakeError::WouldBlock(mut mid)) => {
                rounds += 1;
                assert!(rounds < 10, "handshake does not converge");
                pump(mid.get_mut(), &mut server, &mut delivered);
                attempt = mid.handshake();
            }
            Err(e) => panic!("OpenSSL client handshake failed: {e:?}"),
        }
    };
    // The client's CCS + Finished are still in its outbox.
    assert_eq!(pump(stream.get_mut(), &mut server, &mut delivered), 1);
    assert!(server.is_established());
    assert!(
        stream.ssl().session_reused(),
        "must be an abbreviated handshake"
    );
    assert_eq!(stream.ssl().version_str(), "DTLSv0.9");
    assert_eq!(stream.ssl().current_cipher().unwrap().name(), name);

    // Client → server.
    for payload in [&b"\x00an IPv4 packet"[..], &[0x03; 1300][..], b"\x07"] {
        stream.ssl_write(payload).unwrap();
        assert_eq!(pump(stream.get_mut(), &mut server, &mut delivered), 1);
        assert_eq!(delivered.pop().unwrap(), payload);
    }
    // Server → client.
    let mut rec = Vec::new();
    for (i, payload) in [&b"\x04"[..], &[0u8; 1406][..], b"\x00reply"]
        .iter()
        .enumerate()
    {
        server
            .encrypt(payload, [i as u8 + 1; 16], &mut rec)
            .unwrap();
        stream.get_mut().inbox.push_back(rec.clone());
        let mut buf = [0u8; 2048];
        let n = stream.ssl_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], *payload);
    }
    // A replayed record is dropped silently by OpenSSL too (it sees nothing to read).
    stream.get_mut().inbox.push_back(rec);
    let mut buf = [0u8; 64];
    let err = stream.ssl_read(&mut buf).unwrap_err();
    assert_eq!(err.code(), ErrorCode::WANT_READ);
}

#[test]
fn openssl_bad_ver_client_aes128_sha() {
    interop(Dtls09Suite::Aes128Sha, "AES128-SHA");
}

#[test]
fn openssl_bad_ver_client_aes256_sha() {
    interop(Dtls09Suite::Aes256Sha, "AES256-SHA");
}
