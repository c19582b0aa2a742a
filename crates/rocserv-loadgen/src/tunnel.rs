//! The `200 CONNECTED` reply as openconnect reads it (protocol.md §3.3-3.5): header names of
//! `X-CSTP-*` / `X-DTLS-*` are matched case-sensitively, as openconnect does.

use std::net::Ipv4Addr;

use crate::http::ResponseHead;

/// The DTLS part of a reply that selected PSK-NEGOTIATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskDtls {
    /// `X-DTLS-App-ID`, decoded (1..=32 bytes): the ClientHello session_id.
    pub app_id: Vec<u8>,
    /// `X-DTLS-Port`.
    pub port: u16,
    /// `X-DTLS-DPD` (seconds, 0 = none).
    pub dpd: u32,
    /// `X-DTLS-Keepalive` (seconds, 0 = none).
    pub keepalive: u32,
}

/// Everything the load generator uses from the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelParams {
    /// `X-CSTP-Address` (IPv4).
    pub address: Ipv4Addr,
    /// `X-CSTP-Netmask`, when sent.
    pub netmask: Option<Ipv4Addr>,
    /// `X-CSTP-MTU`.
    pub mtu: u16,
    /// `X-CSTP-Base-MTU`, when sent.
    pub base_mtu: Option<u16>,
    /// `X-CSTP-DPD` (seconds, 0 = none).
    pub dpd: u32,
    /// `X-CSTP-Keepalive` (seconds, 0 = none).
    pub keepalive: u32,
    /// PSK DTLS parameters; `None` when the server offered no DTLS or a legacy mode.
    pub dtls: Option<PskDtls>,
    /// `X-DTLS-CipherSuite` / `X-DTLS12-CipherSuite` value when it is not PSK-NEGOTIATE.
    pub other_dtls_cipher: Option<String>,
}

/// Why a CONNECT reply is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Not `HTTP/1.1 200`; carries the status and `X-Reason`.
    #[error("CONNECT refused: {status} {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Reason phrase or `X-Reason`.
        reason: String,
    },
    /// No IPv4 `X-CSTP-Address`.
    #[error("no IPv4 X-CSTP-Address")]
    NoAddress,
    /// No usable `X-CSTP-MTU` ("No MTU received").
    #[error("no MTU received")]
    NoMtu,
    /// A header value that does not parse.
    #[error("bad {0}")]
    BadValue(&'static str),
}

/// Case-sensitive lookup: the last value wins, as in openconnect's loop.
fn get<'a>(head: &'a ResponseHead, name: &str) -> Option<&'a str> {
    head.headers
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn num<T: std::str::FromStr>(
    head: &ResponseHead,
    name: &'static str,
) -> Result<Option<T>, ReplyError> {
    get(head, name)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| ReplyError::BadValue(name))
        })
        .transpose()
}

/// Hex string (even length) to bytes.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses the CONNECT reply head.
pub fn parse_connect_reply(head: &ResponseHead) -> Result<TunnelParams, ReplyError> {
    if head.status != 200 {
        return Err(ReplyError::Refused {
            status: head.status,
            reason: head
                .header("X-Reason")
                .unwrap_or(head.reason.as_str())
                .to_owned(),
        });
    }
    let address = head
        .headers
        .iter()
        .filter(|(n, _)| n == "X-CSTP-Address")
        .find_map(|(_, v)| v.trim().parse::<Ipv4Addr>().ok())
        .ok_or(ReplyError::NoAddress)?;
    let netmask = get(head, "X-CSTP-Netmask").and_then(|v| v.trim().parse().ok());
    let mtu = num::<u16>(head, "X-CSTP-MTU")?
        .filter(|m| *m >= 68)
        .ok_or(ReplyError::NoMtu)?;
    let base_mtu = num::<u16>(head, "X-CSTP-Base-MTU")?;
    let dpd = num::<u32>(head, "X-CSTP-DPD")?.unwrap_or(0);
    let keepalive = num::<u32>(head, "X-CSTP-Keepalive")?.unwrap_or(0);
    let cipher = get(head, "X-DTLS-CipherSuite").or_else(|| get(head, "X-DTLS12-CipherSuite"));
    let mut dtls = None;
    let mut other_dtls_cipher = None;
    match cipher {
        Some("PSK-NEGOTIATE") => {
            let app_id = get(head, "X-DTLS-App-ID")
                .and_then(|v| decode_hex(v.trim()))
                .filter(|id| (1..=32).contains(&id.len()))
                .ok_or(ReplyError::BadValue("X-DTLS-App-ID"))?;
            let port = num::<u16>(head, "X-DTLS-Port")?
                .filter(|p| *p != 0)
                .ok_or(ReplyError::BadValue("X-DTLS-Port"))?;
            dtls = Some(PskDtls {
                app_id,
                port,
                dpd: num::<u32>(head, "X-DTLS-DPD")?.unwrap_or(dpd),
                keepalive: num::<u32>(head, "X-DTLS-Keepalive")?.unwrap_or(keepalive),
            });
        }
        Some(other) => other_dtls_cipher = Some(other.to_owned()),
        None => {}
    }
    Ok(TunnelParams {
        address,
        netmask,
        mtu,
        base_mtu,
        dpd,
        keepalive,
        dtls,
        other_dtls_cipher,
    })
}

#[cfg(test)]
#[path = "tunnel_tests.rs"]
mod tests;
