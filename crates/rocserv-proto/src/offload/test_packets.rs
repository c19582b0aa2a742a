//! Test packets for the offload tests: TCP/UDP over IPv4/IPv6 built by hand, and checks of a
//! packet as a receiving kernel would make them.
#![allow(clippy::unwrap_used)]

use super::segment::Segments;
use super::*;

/// RFC 1071 as written: 16-bit words, end-around carry after each addition.
pub(crate) fn reference_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let w = u32::from(pair[0]) << 8 | u32::from(pair.get(1).copied().unwrap_or(0));
        sum += w;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

pub(crate) const SRC4: [u8; 4] = [198, 51, 100, 7];
pub(crate) const DST4: [u8; 4] = [10, 250, 0, 2];
pub(crate) const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
pub(crate) const DST6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// A TCP header of `20 + options` bytes with sequence number `seq` and `flags`.
pub(crate) fn tcp_header(seq: u32, flags: u8, options: usize) -> Vec<u8> {
    let len = 20 + options;
    let mut t = vec![0u8; len];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&5201u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&0x1122_3344u32.to_be_bytes());
    t[12] = ((len / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&512u16.to_be_bytes());
    for (i, b) in t[20..].iter_mut().enumerate() {
        *b = if i % 4 == 3 { 0 } else { 1 }; // NOPs and padding
    }
    t
}

/// An IP packet (v4 or v6) around `l4` (transport header + payload), with the lengths of the
/// whole super-packet and, as the kernel hands them over, a transport checksum that holds only
/// the pseudo-header sum.
pub(crate) fn ip_packet(v6: bool, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = if v6 {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        h[6] = proto;
        h[7] = 64;
        h[8..24].copy_from_slice(&SRC6);
        h[24..40].copy_from_slice(&DST6);
        h
    } else {
        let mut h = vec![0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&0xfff0u16.to_be_bytes());
        h[6] = 0x40; // DF
        h[8] = 64;
        h[9] = proto;
        h[12..16].copy_from_slice(&SRC4);
        h[16..20].copy_from_slice(&DST4);
        let c = !reference_sum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    };
    p.extend_from_slice(l4);
    p
}

pub(crate) fn frame(hdr: VnetHdr, pkt: &[u8]) -> Vec<u8> {
    let mut f = hdr.to_bytes().to_vec();
    f.extend_from_slice(pkt);
    f
}

pub(crate) fn tso(v6: bool, gso_size: u16) -> VnetHdr {
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        gso_size,
        csum_start: if v6 { 40 } else { 20 },
        csum_offset: 16,
        hdr_len: 0,
    }
}

pub(crate) fn all_segments(f: &[u8]) -> Vec<Vec<u8>> {
    let mut segs = Segments::with_vnet_hdr(f).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2000];
    while let Some(n) = segs.next_into(&mut buf).unwrap() {
        out.push(buf[..n].to_vec());
        assert!(out.len() <= 70_000, "no end");
    }
    out
}

/// Checks a segment as the receiving kernel would: IP lengths, IPv4 header checksum,
/// transport checksum over the pseudo-header. Returns (transport offset, transport header
/// length).
pub(crate) fn verify(seg: &[u8], proto: u8) -> (usize, usize) {
    let v6 = seg[0] >> 4 == 6;
    let l4 = if v6 {
        assert_eq!(
            usize::from(u16::from_be_bytes([seg[4], seg[5]])),
            seg.len() - 40
        );
        assert_eq!(seg[6], proto);
        40
    } else {
        let ihl = usize::from(seg[0] & 15) * 4;
        assert_eq!(usize::from(u16::from_be_bytes([seg[2], seg[3]])), seg.len());
        assert_eq!(reference_sum(&seg[..ihl]), 0xffff, "IPv4 header checksum");
        ihl
    };
    let mut pseudo = if v6 {
        seg[8..40].to_vec()
    } else {
        seg[12..20].to_vec()
    };
    let l4_len = seg.len() - l4;
    pseudo.extend_from_slice(&(l4_len as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, proto]);
    let mut all = pseudo;
    all.extend_from_slice(&seg[l4..]);
    assert_eq!(reference_sum(&all), 0xffff, "transport checksum");
    let hl = if proto == PROTO_TCP {
        usize::from(seg[l4 + 12] >> 4) * 4
    } else {
        8
    };
    (l4, hl)
}

pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Cuts a TCP super-packet and checks every segment; returns them.
pub(crate) fn check_tcp(
    v6: bool,
    options: usize,
    flags: u8,
    mss: u16,
    data: &[u8],
) -> Vec<Vec<u8>> {
    let seq0 = 0xffff_f000u32; // wraps within the test
    let mut l4 = tcp_header(seq0, flags, options);
    l4.extend_from_slice(data);
    let pkt = ip_packet(v6, PROTO_TCP, &l4);
    let segs = all_segments(&frame(tso(v6, mss), &pkt));
    let expect = data.len().div_ceil(usize::from(mss)).max(1);
    assert_eq!(segs.len(), expect);
    let mut joined = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let (t, hl) = verify(seg, PROTO_TCP);
        let body = &seg[t + hl..];
        assert!(body.len() <= usize::from(mss));
        let seq = u32::from_be_bytes(seg[t + 4..t + 8].try_into().unwrap());
        assert_eq!(seq, seq0.wrapping_add(joined.len() as u32), "segment {i}");
        // Every header byte but lengths, id, checksums, sequence number and flags is copied.
        assert_eq!(seg[t + 8..t + 12], l4[8..12]);
        assert_eq!(seg[t + 20..t + hl], l4[20..hl]);
        let last = i + 1 == segs.len();
        let f = seg[t + 13];
        assert_eq!(
            f & (TCP_FIN | TCP_PSH),
            if last { flags & (TCP_FIN | TCP_PSH) } else { 0 }
        );
        assert_eq!(f & TCP_CWR, if i == 0 { flags & TCP_CWR } else { 0 });
        assert_eq!(f & 0x10, flags & 0x10, "ACK kept");
        if !v6 {
            assert_eq!(
                u16::from_be_bytes([seg[4], seg[5]]),
                0xfff0u16.wrapping_add(i as u16)
            );
            assert_eq!(seg[6], 0x40, "DF kept");
        }
        joined.extend_from_slice(body);
    }
    assert_eq!(joined, data);
    segs
}
