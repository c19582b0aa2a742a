//! DTLS mode selection from the client's CONNECT headers (protocol.md §5.1, ocserv's rules).

use super::{Dtls09Suite, DtlsMode, HeaderFamily, Legacy12Suite};
use crate::connect::ConnectRequest;

/// Which DTLS modes the server allows (`dtls-psk`, `dtls-legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtlsPolicy {
    /// PSK-NEGOTIATE allowed.
    pub psk: bool,
    /// Legacy (master-secret) resumption allowed: DTLS 1.2 `OC-DTLS1_2-*` / `X-DTLS12` names and
    /// DTLS 0.9.
    pub legacy: bool,
}

const PSK_NEGOTIATE: &str = "PSK-NEGOTIATE";

/// Preference order for the legacy modes: AES-256-GCM > AES-128-GCM > AES256-SHA > AES128-SHA
/// (ocserv's order; 3DES is never offered).
#[derive(Clone, Copy)]
enum Candidate {
    L12(Legacy12Suite),
    D09(Dtls09Suite),
}

fn rank(c: Candidate) -> u8 {
    match c {
        Candidate::L12(s) if s.is_aes256() => 0,
        Candidate::L12(_) => 1,
        Candidate::D09(Dtls09Suite::Aes256Sha) => 2,
        Candidate::D09(Dtls09Suite::Aes128Sha) => 3,
    }
}

/// Names accepted in `X-DTLS-CipherSuite`.
fn dtls_name(name: &str) -> Option<Candidate> {
    Some(match name {
        "OC-DTLS1_2-AES256-GCM" => Candidate::L12(Legacy12Suite::Aes256GcmSha384),
        "OC-DTLS1_2-AES128-GCM" => Candidate::L12(Legacy12Suite::Aes128GcmSha256),
        "AES256-SHA" => Candidate::D09(Dtls09Suite::Aes256Sha),
        "AES128-SHA" => Candidate::D09(Dtls09Suite::Aes128Sha),
        _ => return None,
    })
}

/// Names accepted in `X-DTLS12-CipherSuite` (DTLS 1.2 AEAD only).
fn dtls12_name(name: &str) -> Option<Legacy12Suite> {
    Some(match name {
        "AES256-GCM-SHA384" => Legacy12Suite::Aes256GcmSha384,
        "AES128-GCM-SHA256" => Legacy12Suite::Aes128GcmSha256,
        "ECDHE-RSA-AES256-GCM-SHA384" => Legacy12Suite::EcdheRsaAes256GcmSha384,
        "ECDHE-RSA-AES128-GCM-SHA256" => Legacy12Suite::EcdheRsaAes128GcmSha256,
        _ => return None,
    })
}

/// Picks the DTLS mode for a CONNECT, or `None` (no DTLS headers: the client stays on CSTP).
///
/// 1. `PSK-NEGOTIATE` listed (in either header) and allowed → PSK.
/// 2. Legacy allowed and a 48-byte master secret sent → the best legacy suite, preferring an
///    `X-DTLS12-CipherSuite` match, echoing the name in the family it came from.
pub fn select_mode(req: &ConnectRequest, policy: DtlsPolicy) -> Option<DtlsMode> {
    let offered_psk = req
        .dtls_ciphersuites
        .iter()
        .chain(req.dtls12_ciphersuites.iter())
        .any(|n| n == PSK_NEGOTIATE);
    if policy.psk && offered_psk {
        return Some(DtlsMode::Psk);
    }
    if !policy.legacy || req.dtls_master_secret.is_none() {
        return None;
    }
    let best12 = req
        .dtls12_ciphersuites
        .iter()
        .filter_map(|n| dtls12_name(n).map(|s| (s, n)))
        .min_by_key(|(s, _)| rank(Candidate::L12(*s)));
    if let Some((suite, name)) = best12 {
        return Some(DtlsMode::Legacy12 {
            suite,
            name: name.clone(),
            family: HeaderFamily::Dtls12CipherSuite,
        });
    }
    let best = req
        .dtls_ciphersuites
        .iter()
        .filter_map(|n| dtls_name(n).map(|c| (c, n)))
        .min_by_key(|(c, _)| rank(*c))?;
    Some(match best {
        (Candidate::L12(suite), name) => DtlsMode::Legacy12 {
            suite,
            name: name.clone(),
            family: HeaderFamily::DtlsCipherSuite,
        },
        (Candidate::D09(suite), name) => DtlsMode::Dtls09 {
            suite,
            name: name.clone(),
        },
    })
}
