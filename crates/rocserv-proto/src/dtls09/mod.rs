//! DTLS 0.9 ("DTLS1_BAD_VER", Cisco's pre-RFC 4347 DTLS, version `0x0100`): a resumption-only
//! server, sans-IO (protocol.md §5.3, Appendix B.2).
//!
//! The client resumes a session that never existed: the master secret is the client's
//! `X-DTLS-Master-Secret`, the session id our `X-DTLS-Session-ID`. The handshake is
//!
//! ```text
//! C→S  ClientHello (epoch 0, message_seq 0, our session id, our suite)
//! S→C  ServerHello (message_seq 0)  |  ChangeCipherSpec `01 0001`  |  Finished (epoch 1, message_seq 2)
//! C→S  ChangeCipherSpec `01 0001` + Finished (epoch 1, message_seq 2)
//! ```
//!
//! with the DTLS 0.9 deviations from RFC 4347: 3-byte CCS carrying a message_seq, handshake hash
//! over message bodies only, TLS 1.0 PRF, AES-CBC records with an explicit IV and HMAC-SHA1 over
//! `epoch ‖ seq ‖ type ‖ 01 00 ‖ length ‖ plaintext`.
//!
//! The server never falls back to a full handshake, sends no HelloVerifyRequest, and answers a
//! retransmitted ClientHello with the same bytes as before. Records failing authentication,
//! replays (64-record window) and records of unknown epochs are dropped and counted
//! ([`Dtls09Stats`]); no input can make it panic.

mod hello;
pub(crate) mod prf;
mod record;

#[cfg(test)]
mod tests;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::dtls::replay::ReplayWindow;
pub use crate::dtls::Dtls09Suite;
use crate::dtls::{APP_ID_LEN, MASTER_SECRET_LEN};
use hello::{
    parse_client_hello, parse_handshake, server_hello_body, write_handshake, HS_HEADER_LEN,
    HT_CLIENT_HELLO, HT_FINISHED, HT_SERVER_HELLO,
};
use prf::{KeyBlock, Transcript, BLOCK, MAC_LEN, VERIFY_LEN};
use record::{
    Header, Protection, CT_ALERT, CT_APP_DATA, CT_CCS, CT_HANDSHAKE, HEADER_LEN, MAX_PLAINTEXT,
    MAX_SEQ, VERSION,
};

/// Per-record overhead of DTLS 0.9 with AES-CBC + HMAC-SHA1, for the MTU (protocol.md §6.1):
/// 13 header + 16 explicit IV + 20 MAC + up to 16 padding = 65, for both suites.
pub fn record_overhead(suite: Dtls09Suite) -> u16 {
    match suite {
        Dtls09Suite::Aes128Sha | Dtls09Suite::Aes256Sha => {
            (HEADER_LEN + BLOCK + MAC_LEN + BLOCK) as u16
        }
    }
}

/// Why a datagram was refused. Each error concerns the datagram passed in only, except
/// [`Dtls09Error::BadFinished`], after which the association is dead ([`Dtls09Error::Failed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dtls09Error {
    /// A handshake message could not be parsed.
    #[error("malformed DTLS 0.9 handshake message: {0}")]
    MalformedHandshake(&'static str),
    /// A fragmented handshake message (our peers never fragment these small messages).
    #[error("fragmented DTLS handshake messages are not supported")]
    FragmentedHandshake,
    /// The ClientHello asks for another protocol version than DTLS 0.9.
    #[error("ClientHello version {0:#06x} is not DTLS 0.9 (0x0100)")]
    BadVersion(u16),
    /// The ClientHello does not resume the session id announced in `X-DTLS-Session-ID`.
    #[error("ClientHello session id is not the one announced for this session")]
    WrongSessionId,
    /// The ClientHello does not offer the suite announced in `X-DTLS-CipherSuite`.
    #[error("ClientHello does not offer the announced cipher suite {0:#06x}")]
    SuiteNotOffered(u16),
    /// The ClientHello does not offer null compression.
    #[error("ClientHello does not offer null compression")]
    NoNullCompression,
    /// A ClientHello different from the one already answered: the client restarted its
    /// handshake; the caller should start a new association (a new [`Dtls09Server`]) for it.
    #[error(
        "a different ClientHello arrived after the handshake started; start a new association"
    )]
    UnexpectedClientHello,
    /// The client's Finished authenticated but its verify_data is wrong: handshake failed.
    #[error("client Finished verify_data does not match; DTLS handshake failed")]
    BadFinished,
    /// The handshake failed earlier; this association accepts nothing more.
    #[error("this DTLS association failed its handshake")]
    Failed,
    /// [`Dtls09Server::encrypt`] before the handshake completed.
    #[error("the DTLS handshake is not complete")]
    NotEstablished,
    /// The payload does not fit into one record (2^14 bytes).
    #[error("payload of {0} bytes exceeds the DTLS record limit of 16384")]
    PayloadTooLarge(usize),
    /// 2^48 records were sent in epoch 1.
    #[error("DTLS sequence numbers of epoch 1 are exhausted")]
    SequenceExhausted,
}

/// Counters of records dropped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dtls09Stats {
    /// Truncated records or a record version other than 0x0100.
    pub malformed: u64,
    /// Protected records whose padding or MAC did not verify.
    pub bad_mac: u64,
    /// Protected records already seen or older than the replay window.
    pub replayed: u64,
    /// Records of an epoch we have no keys for.
    pub wrong_epoch: u64,
    /// Well-formed records that are not expected in the current state (e.g. data before the
    /// client's Finished, alerts, unknown content types).
    pub unexpected: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitHello,
    AwaitFinished,
    Established,
    Failed,
}

struct Keys {
    read: Protection,
    write: Protection,
}

/// A resumption-only DTLS 0.9 server for one session (see the module docs).
pub struct Dtls09Server {
    suite: Dtls09Suite,
    session_id: [u8; APP_ID_LEN],
    /// Needed until the ClientHello arrives; wiped once the keys are derived.
    master: Option<Zeroizing<[u8; MASTER_SECRET_LEN]>>,
    server_random: [u8; 32],
    phase: Phase,
    /// The ClientHello body we answered (to recognise retransmissions).
    hello: Vec<u8>,
    /// Our last flight, resent verbatim.
    flight: Vec<Vec<u8>>,
    client_verify: Zeroizing<[u8; VERIFY_LEN]>,
    keys: Option<Keys>,
    window: ReplayWindow,
    send_seq: u64,
    peer_closed: bool,
    scratch: Vec<u8>,
    stats: Dtls09Stats,
}

impl std::fmt::Debug for Dtls09Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dtls09Server")
            .field("suite", &self.suite)
            .field("phase", &self.phase)
            .field("send_seq", &self.send_seq)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Dtls09Server {
    /// A server for one session. `server_random`: 32 fresh random bytes from the caller.
    pub fn new(
        suite: Dtls09Suite,
        session_id: [u8; APP_ID_LEN],
        master_secret: &[u8; MASTER_SECRET_LEN],
        server_random: [u8; 32],
    ) -> Self {
        Dtls09Server {
            suite,
            session_id,
            master: Some(Zeroizing::new(*master_secret)),
            server_random,
            phase: Phase::AwaitHello,
            hello: Vec::new(),
            flight: Vec::new(),
            client_verify: Zeroizing::new([0; VERIFY_LEN]),
            keys: None,
            window: ReplayWindow::default(),
            send_seq: 0,
            peer_closed: false,
            scratch: Vec::new(),
            stats: Dtls09Stats::default(),
        }
    }

    /// Feeds one received datagram (may hold several records). Handshake answers are appended
    /// to `out` (each element = one datagram to send). Decrypted application-data payloads
    /// (type byte + data) are passed to `deliver` in order. Records that fail authentication,
    /// replays and records from a wrong epoch are dropped silently (counted). Returns how many
    /// records were authenticated in this datagram.
    pub fn handle_datagram(
        &mut self,
        dgram: &[u8],
        out: &mut Vec<Vec<u8>>,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, Dtls09Error> {
        if self.phase == Phase::Failed {
            return Err(Dtls09Error::Failed);
        }
        let mut authenticated = 0;
        let mut records = crate::dtls::header::records(dgram);
        for (header, fragment, _) in &mut records {
            if header.version != VERSION {
                self.stats.malformed += 1;
                continue;
            }
            match header.epoch {
                0 => self.on_plain(&header, fragment, out)?,
                1 => {
                    if self.on_protected(&header, fragment, out, deliver)? {
                        authenticated += 1;
                    }
                }
                _ => self.stats.wrong_epoch += 1,
            }
        }
        if records.truncated() {
            self.stats.malformed += 1;
        }
        Ok(authenticated)
    }

    /// Whether the client's Finished was verified (application data flows both ways).
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Encrypts `payload` (type byte + data) as ONE application-data record into `out` (cleared
    /// first; no allocation when its capacity suffices). `iv`: 16 fresh random bytes.
    pub fn encrypt(
        &mut self,
        payload: &[u8],
        iv: [u8; 16],
        out: &mut Vec<u8>,
    ) -> Result<(), Dtls09Error> {
        let (Phase::Established, Some(keys)) = (self.phase, &self.keys) else {
            return Err(Dtls09Error::NotEstablished);
        };
        if payload.len() > MAX_PLAINTEXT {
            return Err(Dtls09Error::PayloadTooLarge(payload.len()));
        }
        if self.send_seq > MAX_SEQ {
            return Err(Dtls09Error::SequenceExhausted);
        }
        keys.write
            .seal(CT_APP_DATA, 1, self.send_seq, payload, iv, out);
        self.send_seq += 1;
        Ok(())
    }

    /// The suite this server was created for.
    pub fn suite(&self) -> Dtls09Suite {
        self.suite
    }

    /// Whether the peer sent an authenticated alert (close_notify or fatal): the caller should
    /// stop using this association.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Counters of dropped records.
    pub fn stats(&self) -> Dtls09Stats {
        self.stats
    }

    /// An epoch-0 (unprotected) record.
    fn on_plain(
        &mut self,
        header: &Header,
        fragment: &[u8],
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), Dtls09Error> {
        match header.content_type {
            CT_HANDSHAKE => self.on_hello(fragment, out),
            // The client's CCS (`01` + message_seq 1). It carries no authentication: the
            // Finished that follows in epoch 1 is what counts.
            CT_CCS if fragment == [1, 0, 1] => Ok(()),
            _ => {
                self.stats.unexpected += 1;
                Ok(())
            }
        }
    }

    fn on_hello(&mut self, fragment: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Dtls09Error> {
        let msg = parse_handshake(fragment)?;
        if msg.msg_type != HT_CLIENT_HELLO {
            self.stats.unexpected += 1;
            return Ok(());
        }
        match self.phase {
            Phase::Failed => Err(Dtls09Error::Failed),
            Phase::AwaitFinished if msg.body == self.hello.as_slice() => {
                out.extend(self.flight.iter().cloned());
                Ok(())
            }
            Phase::Established if msg.body == self.hello.as_slice() => {
                self.stats.unexpected += 1;
                Ok(())
            }
            Phase::AwaitFinished | Phase::Established => Err(Dtls09Error::UnexpectedClientHello),
            Phase::AwaitHello => {
                self.answer_hello(msg.body)?;
                out.extend(self.flight.iter().cloned());
                Ok(())
            }
        }
    }

    /// Checks the ClientHello, derives the keys and builds our flight
    /// (ServerHello, CCS, Finished: three datagrams, as the GnuTLS server sends them).
    fn answer_hello(&mut self, body: &[u8]) -> Result<(), Dtls09Error> {
        let ch = parse_client_hello(body)?;
        if ch.client_version != VERSION {
            return Err(Dtls09Error::BadVersion(ch.client_version));
        }
        if ch.session_id != self.session_id {
            return Err(Dtls09Error::WrongSessionId);
        }
        if !ch.suites.contains(&self.suite.id()) {
            return Err(Dtls09Error::SuiteNotOffered(self.suite.id()));
        }
        if !ch.null_compression {
            return Err(Dtls09Error::NoNullCompression);
        }
        let master = self.master.take().ok_or(Dtls09Error::Failed)?;
        let kb = KeyBlock::derive(self.suite, &master, &ch.random, &self.server_random);
        let sh = server_hello_body(
            &self.server_random,
            &self.session_id,
            self.suite.id(),
            ch.offers_renegotiation_info,
        );
        let mut transcript = Transcript::default();
        transcript.update(body);
        transcript.update(&sh);
        let server_verify = transcript.verify_data(&master, b"server finished");
        transcript.update(&server_verify);
        *self.client_verify = transcript.verify_data(&master, b"client finished");

        let keys = Keys {
            read: Protection::new(kb.client_mac(), kb.client_key()),
            write: Protection::new(kb.server_mac(), kb.server_key()),
        };
        let mut msg = Vec::with_capacity(HS_HEADER_LEN + sh.len());
        write_handshake(&mut msg, HT_SERVER_HELLO, 0, &sh);
        let mut server_hello = Vec::with_capacity(HEADER_LEN + msg.len());
        record::write_plain(&mut server_hello, CT_HANDSHAKE, 0, &msg);
        let mut ccs = Vec::with_capacity(HEADER_LEN + 3);
        record::write_plain(&mut ccs, CT_CCS, 1, &[1, 0, 1]);
        msg.clear();
        write_handshake(&mut msg, HT_FINISHED, 2, &server_verify);
        let mut finished = Vec::new();
        keys.write
            .seal(CT_HANDSHAKE, 1, 0, &msg, kb.server_iv(), &mut finished);

        self.hello = body.to_vec();
        self.flight = vec![server_hello, ccs, finished];
        self.keys = Some(keys);
        self.send_seq = 1;
        self.phase = Phase::AwaitFinished;
        Ok(())
    }

    /// An epoch-1 record. Returns whether it authenticated.
    fn on_protected(
        &mut self,
        header: &Header,
        fragment: &[u8],
        out: &mut Vec<Vec<u8>>,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, Dtls09Error> {
        let Some(keys) = &self.keys else {
            self.stats.wrong_epoch += 1;
            return Ok(false);
        };
        if !self.window.is_fresh(header.seq) {
            self.stats.replayed += 1;
            return Ok(false);
        }
        let Some(len) = keys.read.open(header, fragment, &mut self.scratch) else {
            self.stats.bad_mac += 1;
            return Ok(false);
        };
        self.window.mark(header.seq);
        let plaintext = self.scratch.get(..len).unwrap_or_default();
        match (header.content_type, self.phase) {
            (CT_APP_DATA, Phase::Established) if !plaintext.is_empty() => deliver(plaintext),
            (CT_APP_DATA, Phase::AwaitFinished) => {
                // The client finished (it sends data) but its Finished was lost. Resending our
                // flight makes it retransmit its last flight (RFC 6347 §4.2.4).
                self.stats.unexpected += 1;
                out.extend(self.flight.iter().cloned());
            }
            (CT_HANDSHAKE, Phase::AwaitFinished) => {
                let verified = match parse_handshake(plaintext) {
                    Ok(msg) if msg.msg_type == HT_FINISHED => {
                        bool::from(msg.body.ct_eq(&self.client_verify[..]))
                    }
                    _ => false,
                };
                if !verified {
                    self.phase = Phase::Failed;
                    self.keys = None;
                    return Err(Dtls09Error::BadFinished);
                }
                self.phase = Phase::Established;
                self.flight.clear();
            }
            (CT_ALERT, _) => {
                self.peer_closed = true;
                self.stats.unexpected += 1;
            }
            _ => self.stats.unexpected += 1,
        }
        Ok(true)
    }
}
