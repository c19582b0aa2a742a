//! A minimal DTLS 0.9 resumption client built from the module's primitives, for in-memory
//! handshake tests.

use super::super::hello::{
    parse_handshake, write_handshake, HT_CLIENT_HELLO, HT_FINISHED, HT_SERVER_HELLO,
};
use super::super::prf::{KeyBlock, Transcript};
use super::super::record::{self, Protection, CT_APP_DATA, CT_CCS, CT_HANDSHAKE};
use crate::dtls::Dtls09Suite;

pub struct TestClient {
    suite: Dtls09Suite,
    master: [u8; 48],
    random: [u8; 32],
    hello_body: Vec<u8>,
    read: Option<Protection>,
    write: Option<Protection>,
    transcript: Transcript,
    epoch0_seq: u64,
    epoch1_seq: u64,
    pub server_verify: Option<[u8; 12]>,
    pub client_verify_override: Option<[u8; 12]>,
}

impl TestClient {
    pub fn new(
        suite: Dtls09Suite,
        session_id: [u8; 32],
        master: [u8; 48],
        random: [u8; 32],
    ) -> Self {
        let mut body = vec![0x01, 0x00];
        body.extend_from_slice(&random);
        body.push(32);
        body.extend_from_slice(&session_id);
        body.push(0); // cookie
        body.extend_from_slice(&[0x00, 0x02]);
        body.extend_from_slice(&suite.id().to_be_bytes());
        body.extend_from_slice(&[0x01, 0x00]);
        // extensions as openconnect/GnuTLS sends them: session_ticket, renegotiation_info,
        // record_size_limit
        body.extend_from_slice(&hex_ext());
        TestClient {
            suite,
            master,
            random,
            hello_body: body,
            read: None,
            write: None,
            transcript: Transcript::default(),
            epoch0_seq: 0,
            epoch1_seq: 0,
            server_verify: None,
            client_verify_override: None,
        }
    }

    /// The ClientHello datagram (each call uses the next record sequence number, like a
    /// retransmission).
    pub fn hello(&mut self) -> Vec<u8> {
        let mut msg = Vec::new();
        write_handshake(&mut msg, HT_CLIENT_HELLO, 0, &self.hello_body);
        let mut d = Vec::new();
        record::write_plain(&mut d, CT_HANDSHAKE, self.epoch0_seq, &msg);
        self.epoch0_seq += 1;
        d
    }

    /// Processes the server's flight; returns our CCS + Finished datagram.
    pub fn on_flight(&mut self, flight: &[Vec<u8>]) -> Vec<u8> {
        let all: Vec<u8> = flight.concat();
        let mut rest = &all[..];
        let mut got_finished = false;
        while !rest.is_empty() {
            let (h, frag, tail) = crate::dtls::header::split(rest).expect("record");
            rest = tail;
            assert_eq!(h.version, 0x0100);
            match (h.epoch, h.content_type) {
                (0, CT_HANDSHAKE) => {
                    let msg = parse_handshake(frag).expect("handshake");
                    assert_eq!(msg.msg_type, HT_SERVER_HELLO);
                    assert_eq!(msg.message_seq, 0);
                    assert_eq!(&msg.body[..2], &[1, 0]);
                    let mut server_random = [0u8; 32];
                    server_random.copy_from_slice(&msg.body[2..34]);
                    assert_eq!(
                        &msg.body[35..67],
                        &self.hello_body[35..67],
                        "echoed session id"
                    );
                    assert_eq!(&msg.body[67..69], &self.suite.id().to_be_bytes());
                    self.transcript.update(&self.hello_body);
                    self.transcript.update(msg.body);
                    let kb =
                        KeyBlock::derive(self.suite, &self.master, &self.random, &server_random);
                    self.read = Some(Protection::new(kb.server_mac(), kb.server_key()));
                    self.write = Some(Protection::new(kb.client_mac(), kb.client_key()));
                }
                (0, CT_CCS) => assert_eq!(frag, [1, 0, 1]),
                (1, CT_HANDSHAKE) => {
                    let read = self.read.as_ref().expect("keys");
                    let mut scratch = Vec::new();
                    let n = read
                        .open(&h, frag, &mut scratch)
                        .expect("server Finished authentic");
                    let msg = parse_handshake(&scratch[..n]).expect("finished");
                    assert_eq!(msg.msg_type, HT_FINISHED);
                    assert_eq!(msg.message_seq, 2);
                    let expected = self
                        .transcript
                        .verify_data(&self.master, b"server finished");
                    assert_eq!(msg.body, expected, "server verify_data");
                    self.transcript.update(msg.body);
                    self.server_verify = Some(expected);
                    got_finished = true;
                }
                other => panic!("unexpected record {other:?}"),
            }
        }
        assert!(got_finished);
        let verify = self.client_verify_override.unwrap_or_else(|| {
            self.transcript
                .verify_data(&self.master, b"client finished")
        });
        let mut d = Vec::new();
        record::write_plain(&mut d, CT_CCS, self.epoch0_seq, &[1, 0, 1]);
        self.epoch0_seq += 1;
        let mut msg = Vec::new();
        write_handshake(&mut msg, HT_FINISHED, 2, &verify);
        d.extend_from_slice(&self.seal_record(CT_HANDSHAKE, &msg, [0x42; 16]));
        d
    }

    fn seal_record(&mut self, ct: u8, payload: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let mut out = Vec::new();
        self.write
            .as_ref()
            .expect("keys")
            .seal(ct, 1, self.epoch1_seq, payload, iv, &mut out);
        self.epoch1_seq += 1;
        out
    }

    /// One application-data record.
    pub fn seal(&mut self, payload: &[u8], iv: [u8; 16]) -> Vec<u8> {
        self.seal_record(CT_APP_DATA, payload, iv)
    }

    /// Decrypts one application-data record from the server.
    pub fn open(&self, dgram: &[u8]) -> Option<Vec<u8>> {
        let (h, frag, tail) = crate::dtls::header::split(dgram)?;
        assert!(tail.is_empty());
        assert_eq!(h.content_type, CT_APP_DATA);
        assert_eq!(h.epoch, 1);
        let mut scratch = Vec::new();
        let n = self.read.as_ref()?.open(&h, frag, &mut scratch)?;
        scratch.truncate(n);
        Some(scratch)
    }
}

fn hex_ext() -> Vec<u8> {
    super::hex("00 0f 00 23 00 00 ff 01 00 01 00 00 1c 00 02 40 00")
}
