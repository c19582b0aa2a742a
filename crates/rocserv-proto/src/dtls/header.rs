//! The 13-byte DTLS record header (RFC 4347 §4.1 / RFC 6347 §4.1), the same for DTLS 0.9 and
//! DTLS 1.2: content type, version, epoch, 48-bit sequence number, fragment length.

/// Record header length.
pub const HEADER_LEN: usize = 13;
/// Largest sequence number of an epoch (48 bits).
pub const MAX_SEQ: u64 = (1 << 48) - 1;
/// Largest plaintext of one record (2^14).
pub const MAX_PLAINTEXT: usize = 1 << 14;

/// Content types.
pub const CT_CCS: u8 = 20;
pub const CT_ALERT: u8 = 21;
pub const CT_HANDSHAKE: u8 = 22;
pub const CT_APP_DATA: u8 = 23;

/// A parsed record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub content_type: u8,
    pub version: u16,
    pub epoch: u16,
    pub seq: u64,
}

impl Header {
    /// The 64-bit `seq_num` of the AEAD additional data and of the MAC: epoch ‖ sequence number.
    pub fn seq_num(&self) -> u64 {
        (u64::from(self.epoch) << 48) | self.seq
    }
}

/// Splits the first record off `buf`: its header, its fragment and the rest of the datagram.
/// `None` if the header or the announced fragment is truncated.
pub fn split(buf: &[u8]) -> Option<(Header, &[u8], &[u8])> {
    let head = buf.get(..HEADER_LEN)?;
    let mut seq = 0u64;
    for b in head.get(5..11)? {
        seq = (seq << 8) | u64::from(*b);
    }
    let header = Header {
        content_type: *head.first()?,
        version: u16::from_be_bytes([*head.get(1)?, *head.get(2)?]),
        epoch: u16::from_be_bytes([*head.get(3)?, *head.get(4)?]),
        seq,
    };
    let len = usize::from(u16::from_be_bytes([*head.get(11)?, *head.get(12)?]));
    let rest = buf.get(HEADER_LEN..)?;
    let fragment = rest.get(..len)?;
    let tail = rest.get(len..)?;
    Some((header, fragment, tail))
}

/// The records of a datagram, in order: header, fragment and the whole record (header included).
/// Ends at the end of the datagram or at a truncated record ([`Records::truncated`]).
pub fn records(dgram: &[u8]) -> Records<'_> {
    Records {
        rest: dgram,
        truncated: false,
    }
}

/// Iterator of [`records`].
#[derive(Debug)]
pub struct Records<'d> {
    rest: &'d [u8],
    truncated: bool,
}

impl Records<'_> {
    /// Whether the iteration stopped at a truncated record rather than at the end.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl<'d> Iterator for Records<'d> {
    type Item = (Header, &'d [u8], &'d [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let Some((header, fragment, tail)) = split(rest) else {
            self.truncated = true;
            self.rest = &[];
            return None;
        };
        self.rest = tail;
        let whole = rest.get(..rest.len() - tail.len()).unwrap_or_default();
        Some((header, fragment, whole))
    }
}

/// Appends a record header to `out` (the low 48 bits of `seq` are written).
pub fn write_header(out: &mut Vec<u8>, header: &Header, len: u16) {
    out.push(header.content_type);
    out.extend_from_slice(&header.version.to_be_bytes());
    out.extend_from_slice(&header.epoch.to_be_bytes());
    out.extend_from_slice(&header.seq.to_be_bytes()[2..]);
    out.extend_from_slice(&len.to_be_bytes());
}
