//! DTLS 1.2 record protection with an AEAD suite (RFC 6347 §4.1, AES-GCM per RFC 5288,
//! ChaCha20-Poly1305 per RFC 7905), for associations whose handshake is already done.
//!
//! The handshake stays with OpenSSL; once it completes, the daemon derives the traffic keys from
//! the master secret and both randoms (RFC 5246 §6.3) and protects and opens the application
//! records of the current epoch itself: one AEAD call per record, no record-layer state machine,
//! no copies beyond one into the caller's scratch buffer. Everything else a datagram holds
//! (alerts, handshake retransmissions, other epochs) goes back to the caller untouched, for
//! OpenSSL.
//!
//! Nonces: an AES-GCM record carries `epoch ‖ seq` as its 8-byte explicit nonce (what OpenSSL
//! and GnuTLS send); ChaCha20-Poly1305 XORs `epoch ‖ seq` into the 12-byte IV. Sequence numbers
//! are never reused: the first one is chosen by the caller, far above any OpenSSL can have used
//! in this epoch (see [`Dtls12Records::new`]).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::aead::{Algorithm, CHACHA20_POLY1305};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use zeroize::{Zeroize, Zeroizing};

use super::header::{self, Header, CT_APP_DATA, HEADER_LEN, MAX_PLAINTEXT, MAX_SEQ};
use super::replay::ReplayWindow;
use super::MASTER_SECRET_LEN;
use crate::dtls09::prf::p_hash_xor;

/// Record version of DTLS 1.2.
pub const VERSION: u16 = 0xFEFD;
/// Authentication tag of every suite here.
const TAG_LEN: usize = 16;
/// AEAD nonce length of every suite here.
const NONCE_LEN: usize = 12;
/// AES-GCM's explicit nonce in each record.
const EXPLICIT_NONCE_LEN: usize = 8;
/// Longest key block: two 32-byte keys and two 12-byte IVs (an AEAD suite has no MAC keys).
const KEY_BLOCK_MAX: usize = 2 * 32 + 2 * NONCE_LEN;

/// The record cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    /// AES-128-GCM (RFC 5288).
    Aes128Gcm,
    /// AES-256-GCM (RFC 5288).
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 7905).
    Chacha20Poly1305,
}

/// The hash of the TLS 1.2 PRF that expands the key block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrfHash {
    /// The `_SHA256` suites.
    Sha256,
    /// The `_SHA384` suites.
    Sha384,
}

/// An AEAD cipher suite this record layer implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadSuite {
    /// The record cipher.
    pub aead: Aead,
    /// The hash of the key expansion.
    pub prf: PrfHash,
}

impl AeadSuite {
    /// The suite with TLS id `id`, among those the daemon's DTLS contexts can negotiate;
    /// `None` for the others (CCM suites stay with OpenSSL's record layer).
    pub fn from_id(id: u16) -> Option<AeadSuite> {
        let (aead, prf) = match id {
            // PSK-AES128-GCM-SHA256, AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256
            0x00A8 | 0x009C | 0xC02F => (Aead::Aes128Gcm, PrfHash::Sha256),
            // PSK-AES256-GCM-SHA384, AES256-GCM-SHA384, ECDHE-RSA-AES256-GCM-SHA384
            0x00A9 | 0x009D | 0xC030 => (Aead::Aes256Gcm, PrfHash::Sha384),
            // PSK-CHACHA20-POLY1305
            0xCCAB => (Aead::Chacha20Poly1305, PrfHash::Sha256),
            _ => return None,
        };
        Some(AeadSuite { aead, prf })
    }
}

impl Aead {
    fn algorithm(self) -> &'static Algorithm {
        match self {
            Aead::Aes128Gcm => &AES_128_GCM,
            Aead::Aes256Gcm => &AES_256_GCM,
            Aead::Chacha20Poly1305 => &CHACHA20_POLY1305,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::Chacha20Poly1305 => 32,
        }
    }

    /// The key block's IV: GCM's 4-byte salt, ChaCha20-Poly1305's whole 12-byte nonce mask.
    fn iv_len(self) -> usize {
        match self {
            Aead::Aes128Gcm | Aead::Aes256Gcm => 4,
            Aead::Chacha20Poly1305 => NONCE_LEN,
        }
    }

    fn explicit_len(self) -> usize {
        match self {
            Aead::Aes128Gcm | Aead::Aes256Gcm => EXPLICIT_NONCE_LEN,
            Aead::Chacha20Poly1305 => 0,
        }
    }

    /// Bytes a record adds to its plaintext: header, explicit nonce, tag.
    pub fn record_overhead(self) -> usize {
        HEADER_LEN + self.explicit_len() + TAG_LEN
    }
}

/// Which end of the association this record layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Seals with the server write key, opens with the client's.
    Server,
    /// Seals with the client write key (tests, load generators).
    Client,
}

/// Why a payload was not sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// More than 2^14 bytes of plaintext.
    #[error("payload of {0} bytes does not fit one DTLS record (at most 16384)")]
    TooLong(usize),
    /// Every sequence number of the epoch was used (2^48 records).
    #[error("DTLS sequence numbers exhausted")]
    SequenceExhausted,
    /// The AEAD refused (never expected).
    #[error("AEAD seal failed")]
    Crypto,
}

/// One direction's key and IV.
struct Direction {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
}

impl Drop for Direction {
    fn drop(&mut self) {
        self.iv.zeroize();
    }
}

impl Direction {
    fn new(aead: Aead, key: &[u8], iv: &[u8]) -> Option<Direction> {
        let key = LessSafeKey::new(UnboundKey::new(aead.algorithm(), key).ok()?);
        let mut full = [0u8; NONCE_LEN];
        for (dst, src) in full.iter_mut().zip(iv) {
            *dst = *src;
        }
        Some(Direction { key, iv: full })
    }

    /// GCM: salt ‖ explicit nonce. ChaCha20-Poly1305: IV ⊕ (0⁴ ‖ explicit).
    fn nonce(&self, aead: Aead, explicit: [u8; EXPLICIT_NONCE_LEN]) -> Nonce {
        let mut n = self.iv;
        let tail = n.iter_mut().skip(NONCE_LEN - EXPLICIT_NONCE_LEN);
        match aead {
            Aead::Aes128Gcm | Aead::Aes256Gcm => {
                for (dst, src) in tail.zip(explicit) {
                    *dst = src;
                }
            }
            Aead::Chacha20Poly1305 => {
                for (dst, src) in tail.zip(explicit) {
                    *dst ^= src;
                }
            }
        }
        Nonce::assume_unique_for_key(n)
    }
}

/// The additional data: `seq_num ‖ type ‖ version ‖ plaintext length`.
fn aad(seq_num: u64, content_type: u8, len: u16) -> Aad<[u8; 13]> {
    let mut a = [0u8; 13];
    let parts = seq_num
        .to_be_bytes()
        .into_iter()
        .chain([content_type])
        .chain(VERSION.to_be_bytes())
        .chain(len.to_be_bytes());
    for (dst, src) in a.iter_mut().zip(parts) {
        *dst = src;
    }
    Aad::from(a)
}

/// `PRF(master, "key expansion", server_random ‖ client_random)` (RFC 5246 §6.3), `used` bytes.
fn key_block(
    suite: AeadSuite,
    master: &[u8; MASTER_SECRET_LEN],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<Zeroizing<[u8; KEY_BLOCK_MAX]>> {
    let used = 2 * suite.aead.key_len() + 2 * suite.aead.iv_len();
    let mut seed = [0u8; 64];
    for (dst, src) in seed
        .iter_mut()
        .zip(server_random.iter().chain(client_random))
    {
        *dst = *src;
    }
    let mut block = Zeroizing::new([0u8; KEY_BLOCK_MAX]);
    let out = block.get_mut(..used)?;
    let label = b"key expansion";
    match suite.prf {
        PrfHash::Sha256 => {
            let keyed = <Hmac<Sha256> as Mac>::new_from_slice(master).ok()?;
            p_hash_xor(&keyed, label, &seed, out);
        }
        PrfHash::Sha384 => {
            let keyed = <Hmac<Sha384> as Mac>::new_from_slice(master).ok()?;
            p_hash_xor(&keyed, label, &seed, out);
        }
    }
    Some(block)
}

/// The application records of one epoch of an established DTLS 1.2 association: sealing with
/// this side's write key, opening with the peer's, and the peer's replay window.
pub struct Dtls12Records {
    aead: Aead,
    epoch: u16,
    seal: Direction,
    open: Direction,
    window: ReplayWindow,
    next_seq: u64,
}

impl std::fmt::Debug for Dtls12Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dtls12Records")
            .field("aead", &self.aead)
            .field("epoch", &self.epoch)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl Dtls12Records {
    /// Keys from the handshake's master secret and randoms. `first_seq` is the first sequence
    /// number this side sends in `epoch`: it must be above every one the handshake library used
    /// or may still use there (its Finished, retransmissions of it, alerts), or a nonce would
    /// repeat. `None` only if the AEAD refuses a key (never expected).
    pub fn new(
        side: Side,
        suite: AeadSuite,
        master: &[u8; MASTER_SECRET_LEN],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        epoch: u16,
        first_seq: u64,
    ) -> Option<Dtls12Records> {
        let block = key_block(suite, master, client_random, server_random)?;
        let (k, i) = (suite.aead.key_len(), suite.aead.iv_len());
        let client_key = block.get(..k)?;
        let server_key = block.get(k..2 * k)?;
        let client_iv = block.get(2 * k..2 * k + i)?;
        let server_iv = block.get(2 * k + i..2 * k + 2 * i)?;
        let client = Direction::new(suite.aead, client_key, client_iv)?;
        let server = Direction::new(suite.aead, server_key, server_iv)?;
        let (seal, open) = match side {
            Side::Server => (server, client),
            Side::Client => (client, server),
        };
        Some(Dtls12Records {
            aead: suite.aead,
            epoch,
            seal,
            open,
            window: ReplayWindow::default(),
            next_seq: first_seq,
        })
    }

    /// Bytes a record adds to its payload.
    pub fn record_overhead(&self) -> usize {
        self.aead.record_overhead()
    }

    /// Opens every record of `dgram`. Authentic, fresh application records of the epoch go to
    /// `deliver` (the plaintext, in `scratch`); every other record (alerts, handshake messages,
    /// other epochs), header included, goes to `other`; forged, replayed and malformed
    /// application records are dropped, and so is a truncated tail. Returns the number of
    /// records delivered.
    pub fn open_datagram<'d>(
        &mut self,
        dgram: &'d [u8],
        scratch: &mut Vec<u8>,
        deliver: &mut dyn FnMut(&[u8]),
        other: &mut dyn FnMut(&'d [u8]),
    ) -> usize {
        let mut delivered = 0;
        for (h, fragment, record) in header::records(dgram) {
            if h.content_type != CT_APP_DATA || h.epoch != self.epoch {
                other(record);
                continue;
            }
            if h.version != VERSION || !self.window.is_fresh(h.seq) {
                continue;
            }
            if let Some(len) = self.open_record(&h, fragment, scratch) {
                self.window.mark(h.seq);
                delivered += 1;
                deliver(scratch.get(..len).unwrap_or_default());
            }
        }
        delivered
    }

    /// Decrypts one application record into `scratch`; the plaintext length, or `None` if the
    /// record is malformed or not authentic.
    fn open_record(&self, h: &Header, fragment: &[u8], scratch: &mut Vec<u8>) -> Option<usize> {
        let (explicit, sealed) = match self.aead {
            Aead::Aes128Gcm | Aead::Aes256Gcm => {
                let (e, s) = fragment.split_first_chunk::<EXPLICIT_NONCE_LEN>()?;
                (*e, s)
            }
            Aead::Chacha20Poly1305 => (h.seq_num().to_be_bytes(), fragment),
        };
        let len = sealed.len().checked_sub(TAG_LEN)?;
        if len > MAX_PLAINTEXT {
            return None;
        }
        let len16 = u16::try_from(len).ok()?;
        scratch.clear();
        scratch.extend_from_slice(sealed);
        let nonce = self.open.nonce(self.aead, explicit);
        let plain = self
            .open
            .key
            .open_in_place(nonce, aad(h.seq_num(), CT_APP_DATA, len16), scratch)
            .ok()?;
        Some(plain.len())
    }

    /// Marks the application records of the epoch in `dgram` as seen, without opening them: for
    /// the records the handshake library already delivered before this layer took over.
    pub fn mark_seen(&mut self, dgram: &[u8]) {
        for (h, _, _) in header::records(dgram) {
            if h.content_type == CT_APP_DATA && h.epoch == self.epoch && h.version == VERSION {
                self.window.mark(h.seq);
            }
        }
    }

    /// Seals `payload` as one application record into `out` (cleared first).
    pub fn seal(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        let len = u16::try_from(payload.len())
            .ok()
            .filter(|_| payload.len() <= MAX_PLAINTEXT)
            .ok_or(SealError::TooLong(payload.len()))?;
        if self.next_seq > MAX_SEQ {
            return Err(SealError::SequenceExhausted);
        }
        let h = Header {
            content_type: CT_APP_DATA,
            version: VERSION,
            epoch: self.epoch,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let explicit = h.seq_num().to_be_bytes();
        let explicit_len = self.aead.explicit_len();
        let fragment_len = explicit_len + payload.len() + TAG_LEN;
        out.clear();
        out.reserve(HEADER_LEN + fragment_len);
        header::write_header(out, &h, u16::try_from(fragment_len).unwrap_or(u16::MAX));
        out.extend_from_slice(explicit.get(..explicit_len).unwrap_or_default());
        let start = out.len();
        out.extend_from_slice(payload);
        let nonce = self.seal.nonce(self.aead, explicit);
        let body = out.get_mut(start..).ok_or(SealError::Crypto)?;
        let tag = self
            .seal
            .key
            .seal_in_place_separate_tag(nonce, aad(h.seq_num(), CT_APP_DATA, len), body)
            .map_err(|_| SealError::Crypto)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }
}

#[cfg(test)]
#[path = "record12_tests.rs"]
mod tests;
