#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::offload::test_packets::*;
use crate::offload::*;

#[test]
fn checksum_matches_rfc1071() {
    for len in 0..40 {
        let d = payload(len);
        assert_eq!(fold(sum_bytes(0, &d)), reference_sum(&d), "len {len}");
    }
    assert_eq!(fold(sum_bytes(0, &[0xff; 64])), 0xffff);
}

#[test]
fn tcp_v4_super_packet_is_cut_like_the_kernel_would() {
    let segs = check_tcp(false, 12, 0x10 | TCP_PSH | TCP_CWR, 1388, &payload(64_000));
    assert_eq!(segs.len(), 47);
    assert_eq!(segs[0].len(), 20 + 32 + 1388);
}

#[test]
fn tcp_v6_super_packet_is_cut_like_the_kernel_would() {
    check_tcp(true, 12, 0x10 | TCP_FIN | TCP_PSH, 1368, &payload(30_001));
}

#[test]
fn one_segment_and_empty_payload() {
    check_tcp(false, 0, 0x10 | TCP_FIN, 1400, &payload(100));
    check_tcp(true, 0, 0x10 | TCP_FIN, 1400, &[]);
    check_tcp(false, 0, 0x10, 1, &payload(5));
}

#[test]
fn udp_super_packet_gets_lengths_and_checksums() {
    for v6 in [false, true] {
        let data = payload(5000);
        let mut l4 = vec![0x13, 0x88, 0x30, 0x39, 0, 0, 0, 0];
        l4.extend_from_slice(&data);
        let pkt = ip_packet(v6, PROTO_UDP, &l4);
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_UDP_L4,
            gso_size: 1200,
            csum_start: if v6 { 40 } else { 20 },
            csum_offset: 6,
            hdr_len: 0,
        };
        let segs = all_segments(&frame(hdr, &pkt));
        assert_eq!(segs.len(), 5);
        let mut joined = Vec::new();
        for seg in &segs {
            let (u, _) = verify(seg, PROTO_UDP);
            assert_eq!(
                usize::from(u16::from_be_bytes([seg[u + 4], seg[u + 5]])),
                seg.len() - u
            );
            assert_eq!(seg[u..u + 4], l4[..4]);
            joined.extend_from_slice(&seg[u + 8..]);
        }
        assert_eq!(joined, data);
    }
}

#[test]
fn needs_csum_packet_gets_its_checksum_completed() {
    // As the kernel hands it over: the field holds the pseudo-header sum, not complemented.
    let data = payload(333);
    let mut l4 = vec![0x13, 0x88, 0x30, 0x39, 0, 0, 0, 0];
    l4[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    l4.extend_from_slice(&data);
    let mut pkt = ip_packet(false, PROTO_UDP, &l4);
    let pseudo = fold(pseudo_header_sum(&pkt, L3::V4, PROTO_UDP, l4.len()));
    pkt[26..28].copy_from_slice(&pseudo.to_be_bytes());
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 6,
        ..VnetHdr::default()
    };
    let segs = all_segments(&frame(hdr, &pkt));
    assert_eq!(segs.len(), 1);
    verify(&segs[0], PROTO_UDP);
    assert_eq!(segs[0][..26], pkt[..26]);
    assert_eq!(segs[0][28..], pkt[28..]);
}

#[test]
fn plain_packets_are_copied_unchanged() {
    let pkt = ip_packet(false, PROTO_UDP, &payload(50));
    let hdr = VnetHdr {
        flags: 2, // DATA_VALID: nothing to do
        ..VnetHdr::default()
    };
    assert_eq!(all_segments(&frame(hdr, &pkt)), vec![pkt.clone()]);
    let mut s = Segments::plain(&pkt);
    let mut out = [0u8; 100];
    assert_eq!(s.next_into(&mut out).unwrap(), Some(pkt.len()));
    assert_eq!(s.next_into(&mut out).unwrap(), None);
}

#[test]
fn header_round_trips() {
    let h = VnetHdr {
        flags: 1,
        gso_type: GSO_TCPV4 | GSO_ECN,
        hdr_len: 66,
        gso_size: 1448,
        csum_start: 20,
        csum_offset: 16,
    };
    assert_eq!(VnetHdr::parse(&h.to_bytes()), Some(h));
    assert_eq!(VnetHdr::parse(&[0; 9]), None);
}

#[test]
fn malformed_frames_are_refused() {
    let tcp = {
        let mut l4 = tcp_header(1, 0x10, 0);
        l4.extend_from_slice(&payload(3000));
        ip_packet(false, PROTO_TCP, &l4)
    };
    let err = |f: &[u8]| Segments::with_vnet_hdr(f).unwrap_err();
    assert_eq!(err(&[0; 5]), OffloadError::NoHeader(5));
    assert_eq!(
        err(&frame(
            VnetHdr {
                gso_type: 3,
                gso_size: 8,
                ..VnetHdr::default()
            },
            &tcp
        )),
        OffloadError::GsoType(3)
    );
    assert_eq!(
        err(&frame(tso(false, 0), &tcp)),
        OffloadError::ZeroSegmentSize
    );
    assert_eq!(
        err(&frame(tso(true, 1000), &tcp)),
        OffloadError::Malformed("IP")
    );
    assert_eq!(
        err(&frame(tso(false, 1000), &tcp[..30])),
        OffloadError::Malformed("TCP")
    );
    assert_eq!(
        err(&frame(tso(false, 1000), &tcp[..10])),
        OffloadError::Malformed("IPv4")
    );
    let mut bad_off = tcp.clone();
    bad_off[32] = 0x40; // data offset 16 bytes
    assert_eq!(
        err(&frame(tso(false, 1000), &bad_off)),
        OffloadError::Malformed("TCP")
    );
    let udp = ip_packet(false, PROTO_UDP, &payload(100));
    assert_eq!(
        err(&frame(tso(false, 1000), &udp)),
        OffloadError::Malformed("TCP")
    );
    let csum = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 200,
        ..VnetHdr::default()
    };
    assert!(matches!(
        err(&frame(csum, &udp)),
        OffloadError::ChecksumRange { .. }
    ));
}

#[test]
fn too_small_output_is_an_error_not_a_truncation() {
    let mut l4 = tcp_header(1, 0x10, 0);
    l4.extend_from_slice(&payload(3000));
    let f = frame(tso(false, 1400), &ip_packet(false, PROTO_TCP, &l4));
    let mut s = Segments::with_vnet_hdr(&f).unwrap();
    let mut small = [0u8; 1000];
    assert_eq!(
        s.next_into(&mut small),
        Err(OffloadError::OutputTooSmall {
            need: 1440,
            have: 1000
        })
    );
    assert_eq!(s.next_into(&mut small), Ok(None));
}

proptest! {
    #[test]
    fn checksum_equals_reference(d in proptest::collection::vec(any::<u8>(), 0..3000)) {
        prop_assert_eq!(fold(sum_bytes(0, &d)), reference_sum(&d));
    }

    #[test]
    fn any_tcp_super_packet_reassembles(
        v6 in any::<bool>(),
        options in 0usize..=10,
        flags in any::<u8>(),
        mss in 1u16..=1460,
        len in 0usize..=20_000,
    ) {
        check_tcp(v6, options * 4, flags, mss, &payload(len));
    }

    #[test]
    fn arbitrary_frames_never_panic(f in proptest::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok(mut s) = Segments::with_vnet_hdr(&f) {
            let mut out = [0u8; 1600];
            let mut n = 0;
            while let Ok(Some(_)) = s.next_into(&mut out) {
                n += 1;
                prop_assert!(n <= f.len() + 1);
            }
        }
    }
}
