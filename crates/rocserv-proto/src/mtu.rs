//! Link and data (tunnel) MTU arithmetic, protocol.md §6 and ocserv-reference §6.5.
//!
//! ```text
//! data MTU = link MTU − outer IP header − UDP header − DTLS record overhead − 1 (type byte)
//! ```
//! The data MTU is sized for DTLS even when only CSTP is used, because the client uses one
//! tunnel MTU for both channels.

/// Outer IPv4 header.
pub const IPV4_HEADER: u16 = 20;
/// Outer IPv6 header.
pub const IPV6_HEADER: u16 = 40;
/// UDP header.
pub const UDP_HEADER: u16 = 8;

/// DTLS record overhead (header 13 + explicit nonce 8 + tag 16) for AES-GCM and AES-CCM.
pub const AES_GCM_DTLS_OVERHEAD: u16 = 37;
/// AES-CCM with a 16-byte tag: same as AES-GCM.
pub const AES_CCM_DTLS_OVERHEAD: u16 = 37;
/// ChaCha20-Poly1305: header 13 + tag 16, no explicit nonce.
pub const CHACHA20_POLY1305_DTLS_OVERHEAD: u16 = 29;
/// AES-CBC + HMAC-SHA1: header 13 + IV 16 + MAC 20 + worst-case padding 16.
pub const AES_CBC_SHA1_DTLS_OVERHEAD: u16 = 65;
/// 3DES-CBC + HMAC-SHA1: header 13 + IV 8 + MAC 20 + padding 8.
pub const DES3_CBC_SHA1_DTLS_OVERHEAD: u16 = 49;
/// AES-CBC + HMAC-SHA256: header 13 + IV 16 + MAC 32 + padding 16.
pub const AES_CBC_SHA256_DTLS_OVERHEAD: u16 = 77;
/// The costliest record protection in the table above.
pub const WORST_CASE_DTLS_OVERHEAD: u16 = AES_CBC_SHA256_DTLS_OVERHEAD;

/// Device MTU assumed when nothing else is known.
pub const DEFAULT_DEVICE_MTU: u16 = 1500;
/// The link MTU never goes below this.
pub const MIN_LINK_MTU: u16 = 576;
/// Smallest client Base-MTU / MTU honoured when no IPv6 address is assigned.
pub const MIN_CLIENT_MTU_IPV4: u16 = 800;
/// Smallest client Base-MTU / MTU honoured when an IPv6 address is assigned, and the
/// smallest data MTU with which IPv6 may be offered.
pub const MIN_MTU_IPV6: u16 = 1280;
/// Client values above this are ignored.
pub const MAX_CLIENT_MTU: u16 = 16384;

/// The link (base) MTU to use and to advertise in `X-CSTP-Base-MTU`.
///
/// Starts from `configured` (the `mtu` option) or `device_default`; a client `Base-MTU`
/// within [800 (1280 if `ipv6_assigned`), 16384] lowers it; otherwise a client `MTU` in the
/// same range lowers it to `MTU + IPv4 + UDP + worst-case DTLS overhead + 1`. Never below
/// [`MIN_LINK_MTU`].
pub fn link_mtu(
    configured: Option<u16>,
    device_default: u16,
    client_base_mtu: Option<u16>,
    client_mtu: Option<u16>,
    ipv6_assigned: bool,
) -> u16 {
    let min_client = if ipv6_assigned {
        MIN_MTU_IPV6
    } else {
        MIN_CLIENT_MTU_IPV4
    };
    let usable = |v: &u16| (min_client..=MAX_CLIENT_MTU).contains(v);
    let mut link = configured.unwrap_or(device_default);
    if let Some(base) = client_base_mtu.filter(usable) {
        link = link.min(base);
    } else if let Some(mtu) = client_mtu.filter(usable) {
        let implied = mtu
            .saturating_add(IPV4_HEADER + UDP_HEADER + WORST_CASE_DTLS_OVERHEAD)
            .saturating_add(1);
        link = link.min(implied);
    }
    link.max(MIN_LINK_MTU)
}

/// The data (tunnel) MTU for `link_mtu`: link − IP − UDP − `record_overhead` − 1.
/// Saturates at 0 for absurd inputs.
pub fn data_mtu(link_mtu: u16, outer_ipv6: bool, record_overhead: u16) -> u16 {
    let ip = if outer_ipv6 { IPV6_HEADER } else { IPV4_HEADER };
    link_mtu
        .saturating_sub(ip)
        .saturating_sub(UDP_HEADER)
        .saturating_sub(record_overhead)
        .saturating_sub(1)
}

/// Whether IPv6 may be offered with this data MTU (IPv6 needs ≥ 1280).
pub fn ipv6_fits(data_mtu: u16) -> bool {
    data_mtu >= MIN_MTU_IPV6
}

/// The DTLS record overhead of a cipher-suite name as it appears in `X-DTLS-CipherSuite` /
/// `X-DTLS12-CipherSuite` (`PSK-NEGOTIATE` is sized as AES-GCM). `None` for unknown names.
pub fn dtls_overhead_for_suite(name: &str) -> Option<u16> {
    match name {
        "PSK-NEGOTIATE"
        | "OC-DTLS1_2-AES128-GCM"
        | "OC-DTLS1_2-AES256-GCM"
        | "ECDHE-RSA-AES256-GCM-SHA384"
        | "ECDHE-RSA-AES128-GCM-SHA256"
        | "ECDHE-ECDSA-AES256-GCM-SHA384"
        | "ECDHE-ECDSA-AES128-GCM-SHA256"
        | "AES256-GCM-SHA384"
        | "AES128-GCM-SHA256" => Some(AES_GCM_DTLS_OVERHEAD),
        "OC2-DTLS1_2-CHACHA20-POLY1305" => Some(CHACHA20_POLY1305_DTLS_OVERHEAD),
        "AES128-SHA" | "AES256-SHA" | "DHE-RSA-AES128-SHA" | "DHE-RSA-AES256-SHA" => {
            Some(AES_CBC_SHA1_DTLS_OVERHEAD)
        }
        "DES-CBC3-SHA" => Some(DES3_CBC_SHA1_DTLS_OVERHEAD),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_numbers() {
        // openconnect 9.01 sends Base-MTU 1500; ocserv answered 1434 (GCM/PSK) and 1406
        // (AES128-SHA) over IPv4.
        let link = link_mtu(None, DEFAULT_DEVICE_MTU, Some(1500), Some(1390), true);
        assert_eq!(link, 1500);
        assert_eq!(data_mtu(link, false, AES_GCM_DTLS_OVERHEAD), 1434);
        assert_eq!(data_mtu(link, false, AES_CBC_SHA1_DTLS_OVERHEAD), 1406);
        assert_eq!(data_mtu(link, false, DES3_CBC_SHA1_DTLS_OVERHEAD), 1422);
        assert_eq!(data_mtu(link, false, AES_CBC_SHA256_DTLS_OVERHEAD), 1394);
        assert_eq!(data_mtu(link, false, CHACHA20_POLY1305_DTLS_OVERHEAD), 1442);
        assert_eq!(data_mtu(link, true, AES_GCM_DTLS_OVERHEAD), 1414);
    }

    #[test]
    fn client_base_mtu_lowers_only() {
        assert_eq!(link_mtu(None, 1500, Some(1400), None, false), 1400);
        assert_eq!(link_mtu(None, 1500, Some(9000), None, false), 1500);
        assert_eq!(link_mtu(Some(1300), 1500, Some(1400), None, false), 1300);
        assert_eq!(link_mtu(Some(9000), 1500, None, None, false), 9000);
    }

    #[test]
    fn client_base_mtu_bounds() {
        // Below 800 (IPv4 only) or 1280 (IPv6 assigned) is ignored.
        assert_eq!(link_mtu(None, 1500, Some(799), None, false), 1500);
        assert_eq!(link_mtu(None, 1500, Some(800), None, false), 800);
        assert_eq!(link_mtu(None, 1500, Some(1279), None, true), 1500);
        assert_eq!(link_mtu(None, 1500, Some(1280), None, true), 1280);
        // Above 16384 is ignored.
        assert_eq!(link_mtu(Some(20000), 1500, Some(16385), None, false), 20000);
        assert_eq!(link_mtu(Some(20000), 1500, Some(16384), None, false), 16384);
    }

    #[test]
    fn client_mtu_used_without_base() {
        // 1200 + 20 + 8 + 77 + 1 = 1306
        assert_eq!(link_mtu(None, 1500, None, Some(1200), false), 1306);
        // A usable Base-MTU takes precedence over MTU.
        assert_eq!(link_mtu(None, 1500, Some(1450), Some(1000), false), 1450);
        // An unusable Base-MTU falls back to MTU.
        assert_eq!(link_mtu(None, 1500, Some(100), Some(1000), false), 1106);
        assert_eq!(link_mtu(None, 1500, None, Some(500), false), 1500);
    }

    #[test]
    fn floor_is_576() {
        assert_eq!(link_mtu(Some(100), 1500, None, None, false), MIN_LINK_MTU);
        assert_eq!(link_mtu(None, 0, None, None, false), MIN_LINK_MTU);
        assert_eq!(data_mtu(10, true, 77), 0);
    }

    #[test]
    fn ipv6_threshold_and_suites() {
        assert!(ipv6_fits(1280));
        assert!(!ipv6_fits(1279));
        assert_eq!(dtls_overhead_for_suite("PSK-NEGOTIATE"), Some(37));
        assert_eq!(dtls_overhead_for_suite("AES128-SHA"), Some(65));
        assert_eq!(dtls_overhead_for_suite("AES256-GCM-SHA384"), Some(37));
        assert_eq!(
            dtls_overhead_for_suite("OC2-DTLS1_2-CHACHA20-POLY1305"),
            Some(29)
        );
        assert_eq!(dtls_overhead_for_suite("NULL"), None);
    }
}
