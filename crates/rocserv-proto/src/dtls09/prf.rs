//! The TLS 1.0 PRF (RFC 2246 §5: `P_MD5(S1) ⊕ P_SHA1(S2)`), the key block and `verify_data`
//! exactly as DTLS 0.9 uses them (protocol.md §5.3).

use hmac::digest::generic_array::GenericArray;
use hmac::digest::{Digest, KeyInit};
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::dtls::{Dtls09Suite, MASTER_SECRET_LEN};

/// HMAC key block size of both MD5 and SHA-1.
const HMAC_BLOCK: usize = 64;
/// HMAC-SHA1 output and key length.
pub(crate) const MAC_LEN: usize = 20;
/// AES block (and explicit IV) length.
pub(crate) const BLOCK: usize = 16;
/// `verify_data` length of the Finished message.
pub(crate) const VERIFY_LEN: usize = 12;
/// Longest key block we derive: two MAC keys, two AES-256 keys, two IVs.
const KEY_BLOCK_MAX: usize = 2 * MAC_LEN + 2 * 32 + 2 * BLOCK;

/// Keys an HMAC with a key of at most 64 bytes. HMAC zero-pads short keys to the block size,
/// so keying with the padded array is the same function and cannot fail. Longer keys never
/// occur here (at most 24 bytes for the PRF halves, 20 for MAC keys); they are truncated.
pub(crate) fn hmac_with<M>(key: &[u8]) -> M
where
    M: KeyInit<KeySize = hmac::digest::consts::U64>,
{
    let mut padded = Zeroizing::new([0u8; HMAC_BLOCK]);
    for (dst, src) in padded.iter_mut().zip(key) {
        *dst = *src;
    }
    M::new(GenericArray::from_slice(&padded[..]))
}

/// XORs `P_hash(secret, label ‖ seed)` into `out` (RFC 2246 §5, RFC 5246 §5); `keyed` is the
/// HMAC already keyed with the secret.
pub(crate) fn p_hash_xor<M>(keyed: &M, label: &[u8], seed: &[u8], out: &mut [u8])
where
    M: Mac + Clone,
{
    // A(1) = HMAC(secret, label ‖ seed)
    let mut a = {
        let mut m = keyed.clone();
        m.update(label);
        m.update(seed);
        m.finalize().into_bytes()
    };
    let mut filled = 0;
    while filled < out.len() {
        let mut m = keyed.clone();
        m.update(&a);
        m.update(label);
        m.update(seed);
        let block = m.finalize().into_bytes();
        for (dst, src) in out[filled..].iter_mut().zip(block.iter()) {
            *dst ^= *src;
        }
        filled += block.len();
        let mut m = keyed.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

/// TLS 1.0 PRF: `P_MD5(S1, label ‖ seed) ⊕ P_SHA1(S2, label ‖ seed)`, where S1 and S2 are the
/// first and last `ceil(len / 2)` bytes of the secret. Fills `out` completely.
pub fn prf(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    out.fill(0);
    let half = secret.len().div_ceil(2);
    let s1 = secret.get(..half).unwrap_or(secret);
    let s2 = secret.get(secret.len() - half..).unwrap_or(secret);
    p_hash_xor(&hmac_with::<Hmac<Md5>>(s1), label, seed, out);
    p_hash_xor(&hmac_with::<Hmac<Sha1>>(s2), label, seed, out);
}

/// The traffic keys of one direction pair, from the key block
/// `PRF(master, "key expansion", server_random ‖ client_random)`.
pub(crate) struct KeyBlock {
    bytes: Zeroizing<[u8; KEY_BLOCK_MAX]>,
    key_len: usize,
}

impl KeyBlock {
    pub(crate) fn derive(
        suite: Dtls09Suite,
        master: &[u8; MASTER_SECRET_LEN],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Self {
        let key_len = suite.key_len();
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let mut bytes = Zeroizing::new([0u8; KEY_BLOCK_MAX]);
        let used = 2 * MAC_LEN + 2 * key_len + 2 * BLOCK;
        prf(master, b"key expansion", &seed, &mut bytes[..used]);
        KeyBlock { bytes, key_len }
    }

    pub(crate) fn client_mac(&self) -> &[u8] {
        &self.bytes[..MAC_LEN]
    }
    pub(crate) fn server_mac(&self) -> &[u8] {
        &self.bytes[MAC_LEN..2 * MAC_LEN]
    }
    pub(crate) fn client_key(&self) -> &[u8] {
        &self.bytes[2 * MAC_LEN..2 * MAC_LEN + self.key_len]
    }
    pub(crate) fn server_key(&self) -> &[u8] {
        let start = 2 * MAC_LEN + self.key_len;
        &self.bytes[start..start + self.key_len]
    }
    /// The server write IV of the key block. Explicit-IV CBC does not need it as an IV; we use
    /// it as the (secret, unpredictable) explicit IV of our Finished record, because the
    /// constructor takes no other randomness than the server random.
    pub(crate) fn server_iv(&self) -> [u8; BLOCK] {
        let start = 2 * MAC_LEN + 2 * self.key_len + BLOCK;
        let mut iv = [0u8; BLOCK];
        iv.copy_from_slice(&self.bytes[start..start + BLOCK]);
        iv
    }
}

/// Running handshake hash: DTLS 0.9 hashes handshake message bodies only (no 12-byte headers).
#[derive(Clone, Default)]
pub(crate) struct Transcript {
    md5: Md5,
    sha1: Sha1,
}

impl Transcript {
    pub(crate) fn update(&mut self, body: &[u8]) {
        Digest::update(&mut self.md5, body);
        Digest::update(&mut self.sha1, body);
    }

    /// `PRF(master, label, MD5(hs) ‖ SHA1(hs))[0..12]` over the bodies hashed so far.
    pub(crate) fn verify_data(
        &self,
        master: &[u8; MASTER_SECRET_LEN],
        label: &[u8],
    ) -> [u8; VERIFY_LEN] {
        let mut seed = [0u8; 36];
        seed[..16].copy_from_slice(&self.md5.clone().finalize());
        seed[16..].copy_from_slice(&self.sha1.clone().finalize());
        let mut out = [0u8; VERIFY_LEN];
        prf(master, label, &seed, &mut out);
        out
    }
}
