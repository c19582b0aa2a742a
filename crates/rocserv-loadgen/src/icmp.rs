//! Hand-built IPv4 + ICMP echo packets for the tunnel (no TUN device on the client side).

use std::net::Ipv4Addr;

/// IPv4 header (20 bytes, no options) + ICMP echo header (8 bytes).
const HEADERS: usize = 28;
/// Payload bytes after the ICMP header (like `ping -s 56`).
pub const PAYLOAD: usize = 56;

/// RFC 1071 checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request from `src` to `dst`.
pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Vec<u8> {
    let total = HEADERS + PAYLOAD;
    let mut p = vec![0u8; total];
    let [tl_hi, tl_lo] = (total as u16).to_be_bytes();
    let [id_hi, id_lo] = id.to_be_bytes();
    let [sq_hi, sq_lo] = seq.to_be_bytes();
    let mut ip = [
        0x45, 0, tl_hi, tl_lo, id_hi, id_lo, 0x40, 0, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    if let (Some(s), Some(d)) = (ip.get_mut(12..16), Some(dst.octets())) {
        s.copy_from_slice(&src.octets());
        if let Some(dd) = ip.get_mut(16..20) {
            dd.copy_from_slice(&d);
        }
    }
    let [c_hi, c_lo] = checksum(&ip).to_be_bytes();
    ip[10] = c_hi;
    ip[11] = c_lo;
    let mut icmp = vec![8, 0, 0, 0, id_hi, id_lo, sq_hi, sq_lo];
    icmp.extend((0..PAYLOAD).map(|i| i as u8));
    let [k_hi, k_lo] = checksum(&icmp).to_be_bytes();
    icmp[2] = k_hi;
    icmp[3] = k_lo;
    if let Some(dst) = p.get_mut(..20) {
        dst.copy_from_slice(&ip);
    }
    if let Some(dst) = p.get_mut(20..) {
        dst.copy_from_slice(&icmp);
    }
    p
}

/// `Some(id)` when `pkt` is an ICMP echo reply addressed to `to`.
pub fn echo_reply_id(pkt: &[u8], to: Ipv4Addr) -> Option<u16> {
    let first = *pkt.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0F) * 4;
    if ihl < 20 || *pkt.get(9)? != 1 || pkt.get(16..20)? != to.octets() {
        return None;
    }
    let icmp = pkt.get(ihl..)?;
    if *icmp.first()? != 0 {
        return None;
    }
    Some(u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_checksums_verify_and_fields_are_set() {
        let src = Ipv4Addr::new(10, 253, 0, 7);
        let dst = Ipv4Addr::new(10, 252, 0, 2);
        let p = echo_request(src, dst, 0x1234, 9);
        assert_eq!(p.len(), 84);
        assert_eq!(checksum(p.get(..20).unwrap_or_default()), 0);
        assert_eq!(checksum(p.get(20..).unwrap_or_default()), 0);
        assert_eq!(p.get(12..16), Some(&src.octets()[..]));
        assert_eq!(p.get(16..20), Some(&dst.octets()[..]));
        assert_eq!(p.get(20), Some(&8));
        assert_eq!(p.get(24..28), Some(&[0x12, 0x34, 0, 9][..]));
    }

    #[test]
    fn replies_are_recognised_and_others_not() {
        let me = Ipv4Addr::new(10, 253, 0, 7);
        let lan = Ipv4Addr::new(10, 252, 0, 2);
        // the reply the LAN host would send: swapped addresses, type 0
        let mut r = echo_request(lan, me, 77, 1);
        r[20] = 0;
        assert_eq!(echo_reply_id(&r, me), Some(77));
        assert_eq!(echo_reply_id(&r, lan), None);
        let req = echo_request(lan, me, 77, 1);
        assert_eq!(echo_reply_id(&req, me), None);
        for junk in [
            &[][..],
            &[0x45][..],
            &[0x60; 40][..],
            r.get(..22).unwrap_or_default(),
        ] {
            assert_eq!(echo_reply_id(junk, me), None);
        }
    }
}
