//! Known-answer tests. The reference values were computed with OpenSSL 3.0 (`openssl kdf ...
//! TLS1-PRF` with digest MD5-SHA1, `openssl enc -aes-128-cbc`) and Python's hmac/hashlib, i.e.
//! independently of this module. protocol.md Appendix B.2 does not publish the captured master
//! secret, so the captured encrypted records cannot be decrypted; the captured plaintext bytes
//! (hellos, CCS, record headers and lengths) are checked exactly.

use super::super::hello::{parse_client_hello, parse_handshake, HS_HEADER_LEN};
use super::super::prf::{prf, KeyBlock, Transcript};
use super::super::record::{self, Protection};
use super::super::{record_overhead, Dtls09Error, Dtls09Server};
use super::*;
use crate::dtls::Dtls09Suite;

const SERVER_RANDOM: [u8; 32] = {
    let mut r = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        r[i] = 0x40 + i as u8;
        i += 1;
    }
    r
};
const CLIENT_RANDOM: [u8; 32] = {
    let mut r = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        r[i] = 0x60 + i as u8;
        i += 1;
    }
    r
};

/// `openssl kdf -keylen 104 -kdfopt digest:MD5-SHA1 -kdfopt hexsecret:00..2f
///  -kdfopt hexseed:hex("key expansion")‖40..7f TLS1-PRF`
const KEY_BLOCK_128: &str = "cc470c2c8e9a1b135f861ad509b3062d811a30c9d3870654b56e16fa9d69b811\
c22bc8553532fbb55962914edfe1edfffe1b607a8bd35652c4ff850e0f973b2d4674c7f39d435e1f68bebfeeedeaebf4\
d9a354ee3bcb54da0692254b2a564a8b2d981e2d25183f01";
/// Same with `-keylen 136` (AES-256 key block).
const KEY_BLOCK_256: &str = "cc470c2c8e9a1b135f861ad509b3062d811a30c9d3870654b56e16fa9d69b811\
c22bc8553532fbb55962914edfe1edfffe1b607a8bd35652c4ff850e0f973b2d4674c7f39d435e1f68bebfeeedeaebf4\
d9a354ee3bcb54da0692254b2a564a8b2d981e2d25183f012851d2d58910debcd30d1bc1d73298e0e2d95fb3ea8f6a31\
7ccbb9863a781ca8";

#[test]
fn prf_matches_openssl_tls1_prf() {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(&SERVER_RANDOM);
    seed[32..].copy_from_slice(&CLIENT_RANDOM);
    let mut out = [0u8; 136];
    prf(&test_master(), b"key expansion", &seed, &mut out);
    assert_eq!(out.to_vec(), hex(KEY_BLOCK_256));
    let mut short = [0u8; 104];
    prf(&test_master(), b"key expansion", &seed, &mut short);
    assert_eq!(short.to_vec(), hex(KEY_BLOCK_128));
}

#[test]
fn key_block_layout_aes128_and_aes256() {
    let kb = hex(KEY_BLOCK_128);
    let k = KeyBlock::derive(
        Dtls09Suite::Aes128Sha,
        &test_master(),
        &CLIENT_RANDOM,
        &SERVER_RANDOM,
    );
    assert_eq!(k.client_mac(), &kb[0..20]);
    assert_eq!(k.server_mac(), &kb[20..40]);
    assert_eq!(k.client_key(), &kb[40..56]);
    assert_eq!(k.server_key(), &kb[56..72]);
    assert_eq!(k.server_iv().to_vec(), kb[88..104].to_vec());
    let kb = hex(KEY_BLOCK_256);
    let k = KeyBlock::derive(
        Dtls09Suite::Aes256Sha,
        &test_master(),
        &CLIENT_RANDOM,
        &SERVER_RANDOM,
    );
    assert_eq!(k.client_key(), &kb[40..72]);
    assert_eq!(k.server_key(), &kb[72..104]);
    assert_eq!(k.server_iv().to_vec(), kb[120..136].to_vec());
}

/// verify_data over the captured B.2 hello bodies (headers excluded), master 00..2f:
/// PRF via `openssl kdf`, MD5/SHA1 via hashlib.
#[test]
fn finished_verify_data_over_b2_bodies() {
    let ch = hex(B2_CLIENT_HELLO);
    let sh = hex(B2_SERVER_HELLO);
    let mut t = Transcript::default();
    t.update(&ch[13 + HS_HEADER_LEN..]);
    t.update(&sh[13 + HS_HEADER_LEN..]);
    let sv = t.verify_data(&test_master(), b"server finished");
    assert_eq!(sv.to_vec(), hex("319736a2922300c301e9f1f7"));
    t.update(&sv);
    let cv = t.verify_data(&test_master(), b"client finished");
    assert_eq!(cv.to_vec(), hex("2125ee8a6a3faac5de4d832c"));
}

/// A server-write record (AES-128, epoch 1, seq 5, type 23) built with `openssl enc` and
/// Python's hmac: our sealing reproduces it byte for byte and the client side opens it.
#[test]
fn record_protection_matches_openssl() {
    let expected = hex(
        "17010000010000000000050040a0a1a2a3a4a5a6a7a8a9aaabacadaeaf18813d80076807108b711aa00caaecce62\
         2024dabc217e98bf7f23c5b560510d2cbe71375d8558ccce74efe1c79d06e0",
    );
    let kb = hex(KEY_BLOCK_128);
    let p = Protection::new(&kb[20..40], &kb[56..72]);
    let mut iv = [0u8; 16];
    for (i, b) in iv.iter_mut().enumerate() {
        *b = 0xa0 + i as u8;
    }
    let mut out = Vec::new();
    p.seal(23, 1, 5, b"\x00hello, dtls 0.9", iv, &mut out);
    assert_eq!(out, expected);
    let (h, frag, _) = crate::dtls::header::split(&expected).unwrap();
    let mut scratch = Vec::new();
    let n = p.open(&h, frag, &mut scratch).unwrap();
    assert_eq!(&scratch[..n], b"\x00hello, dtls 0.9");
    // The MAC covers epoch, seq and type: change any and the record is refused.
    for (epoch, seq, ct) in [(2u16, 5u64, 23u8), (1, 6, 23), (1, 5, 22)] {
        let h2 = record::Header {
            content_type: ct,
            version: 0x0100,
            epoch,
            seq,
        };
        assert!(p.open(&h2, frag, &mut scratch).is_none());
    }
}

#[test]
fn captured_client_hello_parses() {
    let ch = hex(B2_CLIENT_HELLO);
    let msg = parse_handshake(&ch[13..]).unwrap();
    assert_eq!(msg.msg_type, 1);
    let hello = parse_client_hello(msg.body).unwrap();
    assert_eq!(hello.client_version, 0x0100);
    assert_eq!(hello.session_id, b2_session_id());
    assert_eq!(hello.suites, vec![0x002f]);
    assert!(hello.null_compression);
    assert!(hello.offers_renegotiation_info);
}

/// Feeding the captured ClientHello to a server with the captured server random: the flight has
/// the captured shape — ServerHello identical except for the extensions (we echo
/// renegotiation_info instead of record_size_limit), CCS identical, Finished record header and
/// length identical. The captured client Finished (other master secret) is dropped silently.
#[test]
fn captured_exchange_shape() {
    let sh_captured = hex(B2_SERVER_HELLO);
    let mut server_random = [0u8; 32];
    server_random.copy_from_slice(&sh_captured[27..59]);
    let mut s = Dtls09Server::new(
        Dtls09Suite::Aes128Sha,
        b2_session_id(),
        &test_master(),
        server_random,
    );
    let mut out = Vec::new();
    let n = s
        .handle_datagram(&hex(B2_CLIENT_HELLO), &mut out, &mut |_| panic!())
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(out.len(), 3);
    let sh = &out[0];
    // Body up to and including compression: identical to the capture.
    assert_eq!(sh[25..25 + 70], sh_captured[25..25 + 70]);
    assert_eq!(&sh[95..], &hex("00 05 ff 01 00 01 00")[..]);
    // Record header: same fields; our extensions block is 7 bytes instead of 8.
    assert_eq!(&sh[..11], &sh_captured[..11]);
    assert_eq!(&sh[11..13], &[0, 0x5a - 8 + 7]);
    assert_eq!(&sh[13..17], &[2, 0, 0, 0x4e - 1]);
    assert_eq!(out[1], hex(B2_SERVER_CCS));
    let fin_captured = hex(B2_SERVER_FINISHED);
    assert_eq!(out[2].len(), fin_captured.len());
    assert_eq!(out[2][..13], fin_captured[..13]);

    let mut delivered = 0;
    let n = s
        .handle_datagram(&hex(B2_CLIENT_FINISH), &mut out, &mut |_| delivered += 1)
        .unwrap();
    assert_eq!((n, delivered), (0, 0));
    assert_eq!(s.stats().bad_mac, 1);
    assert!(!s.is_established());
}

#[test]
fn overhead_is_65() {
    assert_eq!(record_overhead(Dtls09Suite::Aes128Sha), 65);
    assert_eq!(record_overhead(Dtls09Suite::Aes256Sha), 65);
    // It is the real worst case (payload length ≡ 12 mod 16: MAC 20 + padding 16).
    let worst = (0..64)
        .map(|len| record::protected_len(len) + 13 - len)
        .max()
        .unwrap();
    assert_eq!(worst, 65);
}

#[test]
fn wrong_session_or_suite_is_rejected_without_answer() {
    let mut sid = b2_session_id();
    sid[0] ^= 1;
    let mut s = Dtls09Server::new(Dtls09Suite::Aes128Sha, sid, &test_master(), SERVER_RANDOM);
    let mut out = Vec::new();
    assert_eq!(
        s.handle_datagram(&hex(B2_CLIENT_HELLO), &mut out, &mut |_| {}),
        Err(Dtls09Error::WrongSessionId)
    );
    let mut s = Dtls09Server::new(
        Dtls09Suite::Aes256Sha,
        b2_session_id(),
        &test_master(),
        SERVER_RANDOM,
    );
    assert_eq!(
        s.handle_datagram(&hex(B2_CLIENT_HELLO), &mut out, &mut |_| {}),
        Err(Dtls09Error::SuiteNotOffered(0x0035))
    );
    // DTLS 1.0 version in the hello body.
    let mut ch = hex(B2_CLIENT_HELLO);
    ch[25] = 0xfe;
    ch[26] = 0xff;
    let mut s = Dtls09Server::new(
        Dtls09Suite::Aes128Sha,
        b2_session_id(),
        &test_master(),
        SERVER_RANDOM,
    );
    assert_eq!(
        s.handle_datagram(&ch, &mut out, &mut |_| {}),
        Err(Dtls09Error::BadVersion(0xfeff))
    );
    assert!(out.is_empty());
    // After these refusals the good hello is still answered.
    assert!(s
        .handle_datagram(&hex(B2_CLIENT_HELLO), &mut out, &mut |_| {})
        .is_ok());
    assert_eq!(out.len(), 3);
}
