//! Handshake messages of the resumption-only DTLS 0.9 handshake: the 12-byte handshake header,
//! ClientHello parsing and ServerHello / Finished rendering (protocol.md §5.3, Appendix B.2).

use super::record::VERSION;
use super::Dtls09Error;

/// Handshake header length: type, length(3), message_seq(2), fragment_offset(3), fragment_length(3).
pub const HS_HEADER_LEN: usize = 12;
pub const HT_CLIENT_HELLO: u8 = 1;
pub const HT_SERVER_HELLO: u8 = 2;
pub const HT_FINISHED: u8 = 20;
/// renegotiation_info extension and its signalling suite (RFC 5746).
const EXT_RENEGOTIATION_INFO: u16 = 0xFF01;
const SCSV_RENEGOTIATION: u16 = 0x00FF;

/// One unfragmented handshake message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeMsg<'a> {
    pub msg_type: u8,
    pub message_seq: u16,
    pub body: &'a [u8],
}

fn u24(b: &[u8]) -> Option<usize> {
    Some(
        (usize::from(*b.first()?) << 16) | (usize::from(*b.get(1)?) << 8) | usize::from(*b.get(2)?),
    )
}

/// Parses the first handshake message of a record fragment. Fragmented messages (offset != 0 or
/// fragment shorter than the message) are refused: our peers never fragment these small messages.
pub fn parse_handshake(fragment: &[u8]) -> Result<HandshakeMsg<'_>, Dtls09Error> {
    const WHAT: &str = "truncated handshake header";
    let mut r = Reader { buf: fragment };
    let msg_type = r.u8(WHAT)?;
    let length = u24(r.take(3, WHAT)?).ok_or(Dtls09Error::MalformedHandshake(WHAT))?;
    let message_seq = r.u16(WHAT)?;
    let offset = u24(r.take(3, WHAT)?).ok_or(Dtls09Error::MalformedHandshake(WHAT))?;
    let frag_len = u24(r.take(3, WHAT)?).ok_or(Dtls09Error::MalformedHandshake(WHAT))?;
    if offset != 0 || frag_len != length {
        return Err(Dtls09Error::FragmentedHandshake);
    }
    let body = r.take(length, "handshake body shorter than announced")?;
    Ok(HandshakeMsg {
        msg_type,
        message_seq,
        body,
    })
}

/// Appends an unfragmented handshake message (header + body) to `out`.
pub fn write_handshake(out: &mut Vec<u8>, msg_type: u8, message_seq: u16, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    out.push(msg_type);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&message_seq.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(body);
}

/// What the server needs from a ClientHello body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub client_version: u16,
    pub random: [u8; 32],
    pub session_id: &'a [u8],
    /// Offered cipher suite ids, in order.
    pub suites: Vec<u16>,
    pub null_compression: bool,
    /// The client offered secure renegotiation (extension 0xFF01 or the SCSV).
    pub offers_renegotiation_info: bool,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Dtls09Error> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or(Dtls09Error::MalformedHandshake(what))?;
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, Dtls09Error> {
        Ok(*self
            .take(1, what)?
            .first()
            .ok_or(Dtls09Error::MalformedHandshake(what))?)
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, Dtls09Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([
            *b.first().ok_or(Dtls09Error::MalformedHandshake(what))?,
            *b.get(1).ok_or(Dtls09Error::MalformedHandshake(what))?,
        ]))
    }
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], Dtls09Error> {
        let n = usize::from(self.u8(what)?);
        self.take(n, what)
    }
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], Dtls09Error> {
        let n = usize::from(self.u16(what)?);
        self.take(n, what)
    }
}

/// Parses a ClientHello body (DTLS layout: session_id, then cookie, suites, compression,
/// optional extensions).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello<'_>, Dtls09Error> {
    let mut r = Reader { buf: body };
    let client_version = r.u16("client_version")?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.take(32, "random")?);
    let session_id = r.vec8("session_id")?;
    if session_id.len() > 32 {
        return Err(Dtls09Error::MalformedHandshake(
            "session_id longer than 32 bytes",
        ));
    }
    let _cookie = r.vec8("cookie")?;
    let suite_bytes = r.vec16("cipher_suites")?;
    if suite_bytes.len() % 2 != 0 {
        return Err(Dtls09Error::MalformedHandshake("odd cipher_suites length"));
    }
    let suites: Vec<u16> = suite_bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let compression = r.vec8("compression_methods")?;
    let null_compression = compression.contains(&0);
    let mut offers_renegotiation_info = suites.contains(&SCSV_RENEGOTIATION);
    if !r.buf.is_empty() {
        let mut exts = Reader {
            buf: r.vec16("extensions")?,
        };
        while !exts.buf.is_empty() {
            let ext_type = exts.u16("extension type")?;
            let _data = exts.vec16("extension data")?;
            if ext_type == EXT_RENEGOTIATION_INFO {
                offers_renegotiation_info = true;
            }
        }
    }
    Ok(ClientHello {
        client_version,
        random,
        session_id,
        suites,
        null_compression,
        offers_renegotiation_info,
    })
}

/// Renders the ServerHello body: version 0x0100, our random, the echoed session id, the suite,
/// null compression and, only if the client offered it, an empty renegotiation_info (the one
/// extension that is harmless here; never extended_master_secret, encrypt_then_mac or tickets).
pub fn server_hello_body(
    server_random: &[u8; 32],
    session_id: &[u8; 32],
    suite: u16,
    renegotiation_info: bool,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(2 + 32 + 1 + 32 + 2 + 1 + 7);
    b.extend_from_slice(&VERSION.to_be_bytes());
    b.extend_from_slice(server_random);
    b.push(32);
    b.extend_from_slice(session_id);
    b.extend_from_slice(&suite.to_be_bytes());
    b.push(0);
    if renegotiation_info {
        // extensions length 5: type ff01, length 1, renegotiated_connection = empty
        b.extend_from_slice(&[0x00, 0x05, 0xFF, 0x01, 0x00, 0x01, 0x00]);
    }
    b
}
