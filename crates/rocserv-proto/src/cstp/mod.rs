//! CSTP framing (protocol.md §4): the 8-byte `STF\x01` header that carries every packet on the
//! TLS stream after `200 CONNECTED`.
//!
//! ```text
//! 0x53 0x54 0x46 0x01 | length (BE16, payload only) | type | 0x00 | payload
//! ```
//!
//! Send one complete frame per TLS write (the client requires one frame per record); receive
//! as a byte stream with [`FrameReader`].

mod disconnect;
mod reader;

pub use disconnect::{parse_disconnect, write_disconnect, DisconnectReason, MAX_DISCONNECT_TEXT};
pub use reader::FrameReader;

/// Size of the CSTP header.
pub const HEADER_LEN: usize = 8;
/// Largest payload accepted from the peer or encoded.
pub const MAX_PAYLOAD: usize = 16384;
/// The first four header bytes.
pub const MAGIC: [u8; 4] = [0x53, 0x54, 0x46, 0x01];

/// The packet type in header byte 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0x00`: one IP packet.
    Data,
    /// `0x03`: dead-peer-detection request; answer with [`PacketType::DpdResp`] and the same
    /// payload.
    DpdReq,
    /// `0x04`: dead-peer-detection response.
    DpdResp,
    /// `0x05`: disconnect, payload = reason byte + text (see [`parse_disconnect`]).
    Disconnect,
    /// `0x07`: keepalive. Never answered.
    Keepalive,
    /// `0x08`: compressed data (never negotiated by rocserv).
    Compressed,
    /// `0x09`: server terminate.
    Terminate,
    /// Any other value: log and ignore when received; never send.
    Unknown(u8),
}

impl PacketType {
    /// Maps the wire value to a type.
    pub fn from_u8(value: u8) -> Self {
        match value {
            0x00 => PacketType::Data,
            0x03 => PacketType::DpdReq,
            0x04 => PacketType::DpdResp,
            0x05 => PacketType::Disconnect,
            0x07 => PacketType::Keepalive,
            0x08 => PacketType::Compressed,
            0x09 => PacketType::Terminate,
            other => PacketType::Unknown(other),
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            PacketType::Data => 0x00,
            PacketType::DpdReq => 0x03,
            PacketType::DpdResp => 0x04,
            PacketType::Disconnect => 0x05,
            PacketType::Keepalive => 0x07,
            PacketType::Compressed => 0x08,
            PacketType::Terminate => 0x09,
            PacketType::Unknown(v) => v,
        }
    }
}

/// A fatal framing error: the stream cannot be resynchronised, close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CstpError {
    /// The first four bytes are not `STF\x01`.
    #[error("bad CSTP magic")]
    BadMagic,
    /// Header byte 7 is not zero.
    #[error("bad CSTP header")]
    BadHeader,
    /// A payload longer than [`MAX_PAYLOAD`].
    #[error("CSTP payload of {0} bytes exceeds {MAX_PAYLOAD}")]
    TooLong(usize),
}

/// One decoded frame, borrowing its payload from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The packet type.
    pub ty: PacketType,
    /// The payload (without header).
    pub payload: &'a [u8],
}

/// The 8-byte header for a payload of `payload_len` bytes.
pub fn encode_header(ty: PacketType, payload_len: usize) -> Result<[u8; HEADER_LEN], CstpError> {
    if payload_len > MAX_PAYLOAD {
        return Err(CstpError::TooLong(payload_len));
    }
    let len = u16::try_from(payload_len).map_err(|_| CstpError::TooLong(payload_len))?;
    let [hi, lo] = len.to_be_bytes();
    let [m0, m1, m2, m3] = MAGIC;
    Ok([m0, m1, m2, m3, hi, lo, ty.to_u8(), 0])
}

/// Appends a complete frame (header + payload) to `out`. On error `out` is unchanged.
pub fn write_frame(out: &mut Vec<u8>, ty: PacketType, payload: &[u8]) -> Result<(), CstpError> {
    let header = encode_header(ty, payload.len())?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(())
}

/// Validates the header at the start of `buf`. `Ok(None)` when fewer than [`HEADER_LEN`]
/// bytes are available (a wrong magic prefix is reported as soon as it is visible).
fn decode_header(buf: &[u8]) -> Result<Option<(PacketType, usize)>, CstpError> {
    let seen = buf.len().min(MAGIC.len());
    if buf.get(..seen) != MAGIC.get(..seen) {
        return Err(CstpError::BadMagic);
    }
    let Some(&[_, _, _, _, hi, lo, ty, zero]) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    if zero != 0 {
        return Err(CstpError::BadHeader);
    }
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_PAYLOAD {
        return Err(CstpError::TooLong(len));
    }
    Ok(Some((PacketType::from_u8(ty), len)))
}

/// Decodes one frame from the start of `buf`. `Ok(None)`: need more bytes. The `usize` is the
/// number of bytes the frame occupies (header + payload).
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, CstpError> {
    let Some((ty, len)) = decode_header(buf)? else {
        return Ok(None);
    };
    let total = HEADER_LEN + len;
    Ok(buf
        .get(HEADER_LEN..total)
        .map(|payload| (Frame { ty, payload }, total)))
}

#[cfg(test)]
mod tests;
