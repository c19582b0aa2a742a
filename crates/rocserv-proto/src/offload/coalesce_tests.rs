#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::offload::test_packets::*;
use crate::offload::{GSO_TCPV4, PROTO_UDP};

const ACK: u8 = 0x10;

/// Pushes every packet, flushes, and returns what came out as (header, packet) frames.
fn coalesce(pkts: &[Vec<u8>]) -> Vec<([u8; VNET_HDR_LEN], Vec<u8>)> {
    let mut c = Coalescer::new();
    let mut out = Vec::new();
    let mut emit = |h: &[u8; VNET_HDR_LEN], p: &[u8]| out.push((*h, p.to_vec()));
    for p in pkts {
        c.push(p, &mut emit);
    }
    c.flush(&mut emit);
    assert!(!c.is_holding());
    out
}

/// `a` then `b` come out as they went in, not joined.
fn assert_not_joined(a: &[u8], b: &[u8]) {
    assert_eq!(
        coalesce(&[a.to_vec(), b.to_vec()]),
        vec![(PLAIN, a.to_vec()), (PLAIN, b.to_vec())]
    );
}

/// The packets the kernel makes of emitted frames (a plain frame is its packet).
fn resegment(frames: &[([u8; VNET_HDR_LEN], Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut pkts = Vec::new();
    for (h, p) in frames {
        let mut f = h.to_vec();
        f.extend_from_slice(p);
        pkts.extend(all_segments(&f));
    }
    pkts
}

/// A segment of `data` at sequence number `seq` of the test flow, checksums complete; over
/// IPv4 its identification is the flow's first plus `seq / 1000` (the tests' segments carry
/// 1,000 bytes or less, so consecutive ones have consecutive identifications).
fn segment(v6: bool, seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut l4 = tcp_header(seq, flags, 12);
    l4.extend_from_slice(data);
    let mut p = ip_packet(v6, PROTO_TCP, &l4);
    if !v6 {
        let id = u16::from_be_bytes([p[4], p[5]]).wrapping_add((seq / 1000) as u16);
        p[4..6].copy_from_slice(&id.to_be_bytes());
    }
    rechecksum(&p, if v6 { 40 + 32 } else { 20 + 32 })
}

/// `pkt` (headers `hdr_len` long) with its checksums computed again.
fn rechecksum(pkt: &[u8], hdr_len: usize) -> Vec<u8> {
    let mss = (pkt.len() - hdr_len).max(1) as u16;
    let mut f = tso(pkt[0] >> 4 == 6, mss).to_bytes().to_vec();
    f.extend_from_slice(pkt);
    all_segments(&f).remove(0)
}

#[test]
fn a_run_becomes_one_super_packet_that_cuts_back_into_the_same_segments() {
    for v6 in [false, true] {
        let segs = check_tcp(v6, 12, ACK | TCP_PSH, 1200, &payload(30_000));
        let frames = coalesce(&segs);
        assert_eq!(frames.len(), 1, "one super-packet");
        let h = VnetHdr::parse(&frames[0].0).unwrap();
        let l4_off = if v6 { 40 } else { 20 };
        assert_eq!(
            h,
            VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                hdr_len: (l4_off + 32) as u16,
                gso_size: 1200,
                csum_start: l4_off as u16,
                csum_offset: 16,
            }
        );
        assert_eq!(frames[0].1.len(), l4_off + 32 + 30_000);
        assert_eq!(resegment(&frames), segs);
    }
}

#[test]
fn a_lone_segment_goes_out_unchanged() {
    let s = segment(false, 1000, ACK, &payload(700));
    assert_eq!(coalesce(std::slice::from_ref(&s)), vec![(PLAIN, s)]);
}

#[test]
fn what_cannot_join_passes_through_in_order() {
    let a = segment(false, 0, ACK, &payload(1000));
    let b = segment(false, 1000, ACK, &payload(1000));
    let pure_ack = segment(false, 2000, ACK, &[]);
    let c = segment(false, 2000, ACK, &payload(1000));
    let frames = coalesce(&[a.clone(), b.clone(), pure_ack.clone(), c.clone()]);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1], (PLAIN, pure_ack));
    assert_eq!(frames[2], (PLAIN, c));
    assert_eq!(resegment(&frames[..1]), vec![a, b]);
}

#[test]
fn a_gap_another_flow_or_other_flags_start_a_new_run() {
    let a = segment(false, 0, ACK, &payload(1000));
    let gap = segment(false, 1500, ACK, &payload(1000));
    assert_not_joined(&a, &gap);
    let mut other = segment(false, 1000, ACK, &payload(1000));
    other[21] ^= 1; // source port
    let other = rechecksum(&other, 20 + 32);
    let c = coalesce(&[a.clone(), other.clone()]);
    assert_eq!(c, vec![(PLAIN, a.clone()), (PLAIN, other)]);
    let ece = segment(false, 1000, ACK | 0x40, &payload(1000));
    assert_not_joined(&a, &ece);
    let fin = segment(false, 1000, ACK | 0x01, &payload(1000));
    assert_not_joined(&a, &fin);
    let v6 = segment(true, 1000, ACK, &payload(1000));
    assert_not_joined(&a, &v6);
}

#[test]
fn ipv4_identifications_must_follow_on() {
    let a = segment(false, 0, ACK, &payload(1000));
    let mut b = segment(false, 1000, ACK, &payload(1000));
    b[5] = b[5].wrapping_add(1);
    let b = rechecksum(&b, 20 + 32);
    assert_not_joined(&a, &b);
}

#[test]
fn a_corrupt_segment_is_not_hidden_in_a_super_packet() {
    let a = segment(false, 0, ACK, &payload(1000));
    let mut b = segment(false, 1000, ACK, &payload(1000));
    let last = b.len() - 1;
    b[last] ^= 0x55; // payload changed, checksum not
    assert_not_joined(&a, &b);
    let mut bad_ip = segment(false, 1000, ACK, &payload(1000));
    bad_ip[8] -= 1; // TTL changed, header checksum not
    assert_not_joined(&a, &bad_ip);
}

#[test]
fn a_short_segment_or_psh_ends_the_run() {
    let a = segment(false, 0, ACK, &payload(1000));
    let short = segment(false, 1000, ACK, &payload(400));
    let after = segment(false, 1400, ACK, &payload(1000));
    let frames = coalesce(&[a.clone(), short.clone(), after.clone()]);
    assert_eq!(frames.len(), 2);
    assert_eq!(resegment(&frames[..1]), vec![a.clone(), short]);
    assert_eq!(frames[1], (PLAIN, after));

    let psh = segment(false, 1000, ACK | TCP_PSH, &payload(1000));
    let after = segment(false, 2000, ACK, &payload(1000));
    let frames = coalesce(&[a.clone(), psh.clone(), after.clone()]);
    assert_eq!(frames.len(), 2);
    assert_eq!(resegment(&frames[..1]), vec![a, psh]);
    // A PSH segment on its own is not held.
    let lone_psh = segment(false, 0, ACK | TCP_PSH, &payload(10));
    let mut c = Coalescer::new();
    let mut n = 0;
    c.push(&lone_psh, &mut |_, _| n += 1);
    assert_eq!(n, 1);
    assert!(!c.is_holding());
}

#[test]
fn non_tcp_and_garbage_pass_through() {
    let udp = ip_packet(false, PROTO_UDP, &payload(100));
    let junk = vec![0x45, 0, 0];
    assert_eq!(
        coalesce(&[udp.clone(), junk.clone(), vec![]]),
        vec![(PLAIN, udp), (PLAIN, junk), (PLAIN, vec![])]
    );
}

proptest! {
    #[test]
    fn any_run_cuts_back_into_the_same_segments(
        v6 in any::<bool>(),
        options in 0usize..=10,
        psh in any::<bool>(),
        mss in 1u16..=1460,
        len in 1usize..=20_000,
    ) {
        let flags = if psh { ACK | TCP_PSH } else { ACK };
        let segs = check_tcp(v6, options * 4, flags, mss, &payload(len));
        let frames = coalesce(&segs);
        prop_assert!(frames.len() <= segs.len());
        prop_assert_eq!(resegment(&frames), segs);
    }
}
