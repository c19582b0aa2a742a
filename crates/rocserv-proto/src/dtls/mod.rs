//! The DTLS channel's wire-level decisions (protocol.md §5): which DTLS mode a CONNECT gets, the
//! reply parameters, the ClientHello peek that routes a new association to its session, and the
//! per-mode record overhead for the MTU. The DTLS handshakes themselves live elsewhere (OpenSSL in
//! the daemon for DTLS 1.2, [`crate::dtls09`] for Cisco's pre-standard DTLS 0.9).

pub(crate) mod header;
mod hello;
pub mod record12;
pub(crate) mod replay;
mod select;
pub mod session_der;

pub use hello::{peek_client_hello, ClientHelloInfo};
pub use select::{select_mode, DtlsPolicy};

use crate::mtu;

/// Length of the App-ID (PSK mode) and Session-ID (legacy modes) the server announces.
pub const APP_ID_LEN: usize = 32;
/// Length of `X-DTLS-Master-Secret` once decoded.
pub const MASTER_SECRET_LEN: usize = 48;

/// Legacy DTLS 1.2 resumption suites (`OC-DTLS1_2-*` and `X-DTLS12-CipherSuite` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Legacy12Suite {
    /// `AES128-GCM-SHA256` (TLS_RSA_WITH_AES_128_GCM_SHA256, 0x009C).
    Aes128GcmSha256,
    /// `AES256-GCM-SHA384` (TLS_RSA_WITH_AES_256_GCM_SHA384, 0x009D).
    Aes256GcmSha384,
    /// `ECDHE-RSA-AES128-GCM-SHA256` (0xC02F); resumed, so no key exchange happens.
    EcdheRsaAes128GcmSha256,
    /// `ECDHE-RSA-AES256-GCM-SHA384` (0xC030).
    EcdheRsaAes256GcmSha384,
}

impl Legacy12Suite {
    /// The OpenSSL cipher name.
    pub fn openssl_name(self) -> &'static str {
        match self {
            Legacy12Suite::Aes128GcmSha256 => "AES128-GCM-SHA256",
            Legacy12Suite::Aes256GcmSha384 => "AES256-GCM-SHA384",
            Legacy12Suite::EcdheRsaAes128GcmSha256 => "ECDHE-RSA-AES128-GCM-SHA256",
            Legacy12Suite::EcdheRsaAes256GcmSha384 => "ECDHE-RSA-AES256-GCM-SHA384",
        }
    }

    /// The TLS cipher suite id.
    pub fn id(self) -> u16 {
        match self {
            Legacy12Suite::Aes128GcmSha256 => 0x009C,
            Legacy12Suite::Aes256GcmSha384 => 0x009D,
            Legacy12Suite::EcdheRsaAes128GcmSha256 => 0xC02F,
            Legacy12Suite::EcdheRsaAes256GcmSha384 => 0xC030,
        }
    }

    /// Whether the suite uses AES-256.
    pub fn is_aes256(self) -> bool {
        matches!(
            self,
            Legacy12Suite::Aes256GcmSha384 | Legacy12Suite::EcdheRsaAes256GcmSha384
        )
    }
}

/// DTLS 0.9 suites (AES-CBC with HMAC-SHA1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtls09Suite {
    /// `AES128-SHA` (0x002F).
    Aes128Sha,
    /// `AES256-SHA` (0x0035).
    Aes256Sha,
}

impl Dtls09Suite {
    /// The TLS cipher suite id.
    pub fn id(self) -> u16 {
        match self {
            Dtls09Suite::Aes128Sha => 0x002F,
            Dtls09Suite::Aes256Sha => 0x0035,
        }
    }

    /// AES key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Dtls09Suite::Aes128Sha => 16,
            Dtls09Suite::Aes256Sha => 32,
        }
    }

    /// The header name of the suite.
    pub fn name(self) -> &'static str {
        match self {
            Dtls09Suite::Aes128Sha => "AES128-SHA",
            Dtls09Suite::Aes256Sha => "AES256-SHA",
        }
    }
}

/// Which reply header carries the chosen legacy cipher name: the same family it was offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFamily {
    /// `X-DTLS-CipherSuite`.
    DtlsCipherSuite,
    /// `X-DTLS12-CipherSuite`.
    Dtls12CipherSuite,
}

impl HeaderFamily {
    /// The reply header name.
    pub fn header_name(self) -> &'static str {
        match self {
            HeaderFamily::DtlsCipherSuite => "X-DTLS-CipherSuite",
            HeaderFamily::Dtls12CipherSuite => "X-DTLS12-CipherSuite",
        }
    }
}

/// The DTLS mode chosen for one CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsMode {
    /// PSK-NEGOTIATE: DTLS 1.2 keyed from the TLS exporter (§5.2).
    Psk,
    /// Legacy DTLS 1.2 resumption keyed by the client's master secret (§5.3).
    Legacy12 {
        /// The suite.
        suite: Legacy12Suite,
        /// The name exactly as the client offered it (echoed in the reply).
        name: String,
        /// The header family it came from.
        family: HeaderFamily,
    },
    /// Cisco's DTLS 0.9 resumption (§5.3).
    Dtls09 {
        /// The suite.
        suite: Dtls09Suite,
        /// The name exactly as the client offered it.
        name: String,
    },
}

impl DtlsMode {
    /// Whether the mode resumes a session keyed by `X-DTLS-Master-Secret` (and announces
    /// `X-DTLS-Session-ID` rather than `X-DTLS-App-ID`).
    pub fn is_legacy(&self) -> bool {
        !matches!(self, DtlsMode::Psk)
    }
}

/// DTLS record overhead of a mode, for the tunnel MTU (protocol.md §6.1). PSK is sized for the
/// costliest suite we negotiate there (AES-GCM).
pub fn record_overhead(mode: &DtlsMode) -> u16 {
    match mode {
        DtlsMode::Psk | DtlsMode::Legacy12 { .. } => mtu::AES_GCM_DTLS_OVERHEAD,
        DtlsMode::Dtls09 { .. } => mtu::AES_CBC_SHA1_DTLS_OVERHEAD,
    }
}

/// What the `200 CONNECTED` reply announces about DTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsParams {
    /// `X-DTLS-Port`.
    pub port: u16,
    /// `X-DTLS-App-ID` (PSK) or `X-DTLS-Session-ID` (legacy): 32 random bytes, sent as hex.
    pub id: [u8; APP_ID_LEN],
    /// The chosen mode.
    pub mode: DtlsMode,
    /// `X-DTLS-DPD`, seconds.
    pub dpd: u32,
    /// `X-DTLS-Keepalive`, seconds.
    pub keepalive: u32,
    /// `X-DTLS-MTU` (sent in the legacy modes only, as ocserv).
    pub mtu: u16,
}

/// Lower-case hex of an id.
pub fn hex_id(id: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(id.len() * 2);
    for b in id {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests;
