//! DTLS 0.9 record layer: the 13-byte header, and AES-CBC with an explicit per-record IV over
//! `plaintext ‖ HMAC-SHA1 ‖ padding` (MAC-then-encrypt, protocol.md §5.3).

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes256};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};

use super::prf::{hmac_with, BLOCK, MAC_LEN};

/// Record and hello version of DTLS 0.9 ("DTLS1_BAD_VER").
pub const VERSION: u16 = 0x0100;
pub use crate::dtls::header::{
    Header, CT_ALERT, CT_APP_DATA, CT_CCS, CT_HANDSHAKE, HEADER_LEN, MAX_PLAINTEXT, MAX_SEQ,
};

/// Appends a DTLS 0.9 record header to `out`.
pub fn write_header(out: &mut Vec<u8>, content_type: u8, epoch: u16, seq: u64, len: u16) {
    let header = Header {
        content_type,
        version: VERSION,
        epoch,
        seq,
    };
    crate::dtls::header::write_header(out, &header, len);
}

/// Appends a plaintext record (epoch 0) to `out`.
pub fn write_plain(out: &mut Vec<u8>, content_type: u8, seq: u64, fragment: &[u8]) {
    let len = u16::try_from(fragment.len()).unwrap_or(u16::MAX);
    write_header(out, content_type, 0, seq, len);
    out.extend_from_slice(fragment);
}

enum AesKey {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
}

impl AesKey {
    fn new(key: &[u8]) -> Self {
        if key.len() == 32 {
            AesKey::Aes256(Box::new(Aes256::new(GenericArray::from_slice(key))))
        } else {
            let mut k = [0u8; 16];
            for (d, s) in k.iter_mut().zip(key) {
                *d = *s;
            }
            AesKey::Aes128(Box::new(Aes128::new(&GenericArray::from(k))))
        }
    }

    /// CBC-encrypts `data` (a whole number of blocks) in place.
    fn cbc_encrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) {
        let mut prev = *iv;
        for chunk in data.chunks_exact_mut(BLOCK) {
            for (c, p) in chunk.iter_mut().zip(prev.iter()) {
                *c ^= *p;
            }
            let block = GenericArray::from_mut_slice(chunk);
            match self {
                AesKey::Aes128(k) => k.encrypt_block(block),
                AesKey::Aes256(k) => k.encrypt_block(block),
            }
            prev.copy_from_slice(chunk);
        }
    }

    /// CBC-decrypts `data` (a whole number of blocks) in place.
    fn cbc_decrypt(&self, iv: &[u8; BLOCK], data: &mut [u8]) {
        let mut prev = *iv;
        for chunk in data.chunks_exact_mut(BLOCK) {
            let mut saved = [0u8; BLOCK];
            saved.copy_from_slice(chunk);
            let block = GenericArray::from_mut_slice(chunk);
            match self {
                AesKey::Aes128(k) => k.decrypt_block(block),
                AesKey::Aes256(k) => k.decrypt_block(block),
            }
            for (c, p) in chunk.iter_mut().zip(prev.iter()) {
                *c ^= *p;
            }
            prev = saved;
        }
    }
}

/// One direction's record protection: MAC key and cipher key.
pub struct Protection {
    mac: Hmac<Sha1>,
    cipher: AesKey,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Protection { .. }")
    }
}

/// Length of the protected fragment for a plaintext of `len` bytes: IV, then the plaintext,
/// the MAC and 1..=16 bytes of padding rounded up to whole blocks.
pub fn protected_len(len: usize) -> usize {
    BLOCK + (len + MAC_LEN + 1).div_ceil(BLOCK) * BLOCK
}

impl Protection {
    pub fn new(mac_key: &[u8], cipher_key: &[u8]) -> Self {
        Protection {
            mac: hmac_with(mac_key),
            cipher: AesKey::new(cipher_key),
        }
    }

    fn mac(&self, content_type: u8, epoch: u16, seq: u64, plaintext: &[u8]) -> [u8; MAC_LEN] {
        let mut m = self.mac.clone();
        m.update(&epoch.to_be_bytes());
        m.update(&seq.to_be_bytes()[2..]);
        m.update(&[content_type]);
        m.update(&VERSION.to_be_bytes());
        let len = u16::try_from(plaintext.len()).unwrap_or(u16::MAX);
        m.update(&len.to_be_bytes());
        m.update(plaintext);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    }

    /// Writes one protected record into `out` (cleared first). The caller guarantees
    /// `plaintext.len() <= MAX_PLAINTEXT`.
    pub fn seal(
        &self,
        content_type: u8,
        epoch: u16,
        seq: u64,
        plaintext: &[u8],
        iv: [u8; BLOCK],
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let frag_len = protected_len(plaintext.len());
        out.reserve(HEADER_LEN + frag_len);
        let len = u16::try_from(frag_len).unwrap_or(u16::MAX);
        write_header(out, content_type, epoch, seq, len);
        out.extend_from_slice(&iv);
        let start = out.len();
        out.extend_from_slice(plaintext);
        out.extend_from_slice(&self.mac(content_type, epoch, seq, plaintext));
        let pad = frag_len - BLOCK - plaintext.len() - MAC_LEN; // 1..=16
        let pad_byte = u8::try_from(pad - 1).unwrap_or(0);
        out.resize(out.len() + pad, pad_byte);
        if let Some(body) = out.get_mut(start..) {
            self.cipher.cbc_encrypt(&iv, body);
        }
    }

    /// Decrypts and authenticates one record fragment into `scratch` (cleared first). Returns the
    /// plaintext length (the plaintext is `scratch[..len]`), or `None` if the record is not
    /// authentic. Padding and MAC are both always checked and combined in constant time, so a
    /// bad padding is indistinguishable from a bad MAC (no padding oracle).
    pub fn open(&self, header: &Header, fragment: &[u8], scratch: &mut Vec<u8>) -> Option<usize> {
        let (iv_bytes, body) = fragment.split_at_checked(BLOCK)?;
        // Length checks depend only on public lengths.
        if body.len() < (MAC_LEN + 1).div_ceil(BLOCK) * BLOCK || body.len() % BLOCK != 0 {
            return None;
        }
        let mut iv = [0u8; BLOCK];
        iv.copy_from_slice(iv_bytes);
        scratch.clear();
        scratch.extend_from_slice(body);
        self.cipher.cbc_decrypt(&iv, scratch);

        let total = scratch.len() as u64;
        let pad = u64::from(*scratch.last()?);
        // good = pad + 1 + MAC_LEN <= total
        let mut good = !(total.ct_lt(&(pad + 1 + MAC_LEN as u64)));
        // Every padding byte must equal `pad`; scan the largest possible padding (256 bytes or
        // the whole body) regardless of `pad`.
        let scan = scratch.len().min(256);
        for (i, b) in scratch.iter().rev().take(scan).enumerate() {
            let in_pad = (i as u64).ct_lt(&(pad + 1));
            let differs = !u64::from(*b).ct_eq(&pad);
            good &= !(in_pad & differs);
        }
        let pad_len = u64::conditional_select(&0, &(pad + 1), good);
        // With bad padding, MAC everything but the last MAC_LEN bytes (the usual mitigation).
        let data_len = usize::try_from(total - MAC_LEN as u64 - pad_len).ok()?;
        let plaintext = scratch.get(..data_len)?;
        let received = scratch.get(data_len..data_len + MAC_LEN)?;
        let expected = self.mac(header.content_type, header.epoch, header.seq, plaintext);
        let mac_ok: Choice = expected.ct_eq(received);
        if bool::from(good & mac_ok) {
            Some(data_len)
        } else {
            None
        }
    }
}
