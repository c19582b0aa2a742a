use proptest::prelude::*;

use super::*;

#[test]
fn header_examples_from_protocol_doc() {
    assert_eq!(
        encode_header(PacketType::DpdReq, 0).unwrap(),
        [0x53, 0x54, 0x46, 0x01, 0x00, 0x00, 0x03, 0x00]
    );
    assert_eq!(
        encode_header(PacketType::Data, 60).unwrap(),
        [0x53, 0x54, 0x46, 0x01, 0x00, 0x3c, 0x00, 0x00]
    );
}

#[test]
fn type_values_round_trip() {
    let known = [
        (PacketType::Data, 0),
        (PacketType::DpdReq, 3),
        (PacketType::DpdResp, 4),
        (PacketType::Disconnect, 5),
        (PacketType::Keepalive, 7),
        (PacketType::Compressed, 8),
        (PacketType::Terminate, 9),
    ];
    for (ty, v) in known {
        assert_eq!(ty.to_u8(), v);
        assert_eq!(PacketType::from_u8(v), ty);
    }
    for v in [1u8, 2, 6, 10, 0xff] {
        assert_eq!(PacketType::from_u8(v), PacketType::Unknown(v));
        assert_eq!(PacketType::from_u8(v).to_u8(), v);
    }
}

#[test]
fn too_long_is_refused() {
    assert_eq!(
        encode_header(PacketType::Data, MAX_PAYLOAD + 1),
        Err(CstpError::TooLong(MAX_PAYLOAD + 1))
    );
    let mut out = vec![1];
    assert!(write_frame(&mut out, PacketType::Data, &vec![0; MAX_PAYLOAD + 1]).is_err());
    assert_eq!(out, vec![1]);
    assert!(write_frame(&mut out, PacketType::Data, &vec![0; MAX_PAYLOAD]).is_ok());
    // From the peer.
    let hdr = [0x53, 0x54, 0x46, 0x01, 0x40, 0x01, 0x00, 0x00];
    assert_eq!(decode_frame(&hdr), Err(CstpError::TooLong(0x4001)));
}

#[test]
fn decode_complete_and_partial() {
    let mut buf = Vec::new();
    write_frame(&mut buf, PacketType::Data, b"\x45abc").unwrap();
    write_frame(&mut buf, PacketType::Keepalive, b"").unwrap();
    let (f, n) = decode_frame(&buf).unwrap().unwrap();
    assert_eq!(f.ty, PacketType::Data);
    assert_eq!(f.payload, b"\x45abc");
    assert_eq!(n, 12);
    let (f, n2) = decode_frame(&buf[n..]).unwrap().unwrap();
    assert_eq!(f.ty, PacketType::Keepalive);
    assert_eq!(f.payload, b"");
    assert_eq!(n2, 8);
    for cut in 0..12 {
        assert_eq!(decode_frame(&buf[..cut]), Ok(None), "cut {cut}");
    }
}

#[test]
fn bad_magic_and_header() {
    assert_eq!(decode_frame(b"GET / HTTP/1.1"), Err(CstpError::BadMagic));
    // Reported as soon as the wrong prefix is visible.
    assert_eq!(decode_frame(b"SX"), Err(CstpError::BadMagic));
    assert_eq!(decode_frame(b"ST"), Ok(None));
    assert_eq!(
        decode_frame(&[0x53, 0x54, 0x46, 0x01, 0, 0, 0, 1]),
        Err(CstpError::BadHeader)
    );
}

#[test]
fn disconnect_parsing() {
    let (r, t) = parse_disconnect(b"\xb0Aborted by caller");
    assert_eq!(r, DisconnectReason::UserLogout);
    assert_eq!(t, "Aborted by caller");
    assert!(r.invalidates_session());

    let (r, t) = parse_disconnect(b"\x91Reconnecting the VPN tunnel.\n");
    assert_eq!(r, DisconnectReason::Reconnect);
    assert_eq!(t, "Reconnecting the VPN tunnel.");
    assert!(!r.invalidates_session());

    assert_eq!(
        parse_disconnect(b""),
        (DisconnectReason::Empty, String::new())
    );
    assert!(!DisconnectReason::Empty.invalidates_session());
    assert!(DisconnectReason::LocalError.invalidates_session());
    assert_eq!(parse_disconnect(b"\x70").0, DisconnectReason::LocalError);
    assert_eq!(parse_disconnect(b"\xd1").0, DisconnectReason::Pause);
    assert!(!DisconnectReason::Pause.invalidates_session());
    assert_eq!(parse_disconnect(b"\x42x").0, DisconnectReason::Other(0x42));

    let long = [&[0xb0u8][..], &[b'a'; 500][..], b"\x1b[31m\xff"].concat();
    let (_, t) = parse_disconnect(&long);
    assert_eq!(t.chars().count(), MAX_DISCONNECT_TEXT);
    let (_, t) = parse_disconnect(b"\xb0a\x1b[31mb\xffc\0");
    assert_eq!(t, "a[31mb\u{fffd}c");
}

#[test]
fn write_disconnect_frames() {
    let mut out = Vec::new();
    write_disconnect(&mut out, DisconnectReason::Empty, "ignored").unwrap();
    assert_eq!(out, [0x53, 0x54, 0x46, 0x01, 0, 0, 5, 0]);
    out.clear();
    write_disconnect(&mut out, DisconnectReason::UserLogout, "bye").unwrap();
    assert_eq!(out, b"STF\x01\x00\x04\x05\x00\xb0bye");
}

#[test]
fn reader_basic_and_reuse() {
    let mut r = FrameReader::new(0);
    assert!(r.spare().len() >= HEADER_LEN + MAX_PAYLOAD);
    let mut wire = Vec::new();
    write_frame(&mut wire, PacketType::DpdReq, b"probe").unwrap();
    write_frame(&mut wire, PacketType::Data, b"packet").unwrap();
    // Deliver the first frame plus 3 bytes of the second.
    let first = 13 + 3;
    r.spare()[..first].copy_from_slice(&wire[..first]);
    r.filled(first);
    let f = r.next_frame().unwrap().unwrap();
    assert_eq!((f.ty, f.payload), (PacketType::DpdReq, &b"probe"[..]));
    assert_eq!(r.next_frame(), Ok(None));
    assert_eq!(r.buffered(), 3);
    let rest = &wire[first..];
    r.spare()[..rest.len()].copy_from_slice(rest);
    r.filled(rest.len());
    let f = r.next_frame().unwrap().unwrap();
    assert_eq!((f.ty, f.payload), (PacketType::Data, &b"packet"[..]));
    assert_eq!(r.next_frame(), Ok(None));
    assert_eq!(r.buffered(), 0);
}

#[test]
fn reader_always_has_room_for_a_max_frame() {
    let mut r = FrameReader::new(HEADER_LEN + MAX_PAYLOAD);
    let mut wire = Vec::new();
    write_frame(&mut wire, PacketType::Data, &[7; 100]).unwrap();
    write_frame(&mut wire, PacketType::Data, &[9; MAX_PAYLOAD]).unwrap();
    let mut fed = 0;
    let mut got = Vec::new();
    while fed < wire.len() || r.buffered() > 0 {
        let spare = r.spare();
        let n = spare.len().min(wire.len() - fed);
        assert!(n > 0 || fed == wire.len(), "reader stalled");
        spare[..n].copy_from_slice(&wire[fed..fed + n]);
        fed += n;
        r.filled(n);
        while let Some(f) = r.next_frame().unwrap() {
            got.push(f.payload.len());
        }
    }
    assert_eq!(got, vec![100, MAX_PAYLOAD]);
}

#[test]
fn growable_reader_grows_only_for_a_larger_frame() {
    let mut r = FrameReader::growable(64);
    assert_eq!(r.spare().len(), 64);
    let mut wire = Vec::new();
    write_frame(&mut wire, PacketType::Data, &[1; 40]).unwrap();
    write_frame(&mut wire, PacketType::Data, &[2; MAX_PAYLOAD]).unwrap();
    write_frame(&mut wire, PacketType::DpdReq, b"x").unwrap();
    let mut fed = 0;
    let mut got = Vec::new();
    let mut largest = 0;
    while fed < wire.len() {
        let spare = r.spare();
        largest = largest.max(spare.len());
        let n = spare.len().min(wire.len() - fed);
        assert!(n > 0, "reader stalled");
        spare[..n].copy_from_slice(&wire[fed..fed + n]);
        fed += n;
        r.filled(n);
        while let Some(f) = r.next_frame().unwrap() {
            got.push(f.payload.len());
        }
    }
    assert_eq!(got, vec![40, MAX_PAYLOAD, 1]);
    assert!(largest <= HEADER_LEN + MAX_PAYLOAD, "{largest}");
}

#[test]
fn growable_reader_with_a_tiny_buffer_still_reads_headers() {
    let mut r = FrameReader::growable(0);
    let mut wire = Vec::new();
    write_frame(&mut wire, PacketType::Data, b"abc").unwrap();
    let mut fed = 0;
    let mut got = Vec::new();
    while fed < wire.len() {
        let spare = r.spare();
        let n = spare.len().min(1).min(wire.len() - fed);
        assert!(n > 0, "reader stalled");
        spare[..n].copy_from_slice(&wire[fed..fed + n]);
        fed += n;
        r.filled(n);
        while let Some(f) = r.next_frame().unwrap() {
            got.push(f.payload.to_vec());
        }
    }
    assert_eq!(got, vec![b"abc".to_vec()]);
}

#[test]
fn reader_reports_bad_magic() {
    let mut r = FrameReader::new(0);
    r.spare()[..4].copy_from_slice(b"HTTP");
    r.filled(4);
    assert_eq!(r.next_frame(), Err(CstpError::BadMagic));
    // Over-reporting a fill is clamped, not a panic.
    r.filled(usize::MAX);
    assert_eq!(r.next_frame(), Err(CstpError::BadMagic));
}

fn frame_strategy() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (
        prop_oneof![
            Just(0u8),
            Just(3),
            Just(4),
            Just(5),
            Just(7),
            Just(9),
            any::<u8>()
        ],
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 1400..1500),
            prop::collection::vec(any::<u8>(), MAX_PAYLOAD..=MAX_PAYLOAD),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn frames_survive_arbitrary_splits(
        frames in prop::collection::vec(frame_strategy(), 0..8),
        chunks in prop::collection::vec(1usize..5000, 1..64),
        small_start in any::<bool>(),
        start_len in 0usize..3000,
    ) {
        let mut wire = Vec::new();
        for (ty, payload) in &frames {
            write_frame(&mut wire, PacketType::from_u8(*ty), payload).unwrap();
        }
        let mut reader = if small_start {
            FrameReader::growable(start_len)
        } else {
            FrameReader::new(HEADER_LEN + MAX_PAYLOAD)
        };
        let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        while fed < wire.len() {
            let want = *sizes.next().unwrap();
            let spare = reader.spare();
            let n = want.min(spare.len()).min(wire.len() - fed);
            prop_assert!(n > 0);
            spare[..n].copy_from_slice(&wire[fed..fed + n]);
            reader.filled(n);
            fed += n;
            while let Some(f) = reader.next_frame().unwrap() {
                got.push((f.ty.to_u8(), f.payload.to_vec()));
            }
        }
        prop_assert_eq!(reader.buffered(), 0);
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn garbage_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..40000),
        chunk in 1usize..3000,
        valid_prefix in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        if valid_prefix {
            write_frame(&mut wire, PacketType::Data, b"ok").unwrap();
            wire.extend_from_slice(&MAGIC);
        }
        wire.extend_from_slice(&bytes);
        let _ = decode_frame(&wire);
        let mut reader = FrameReader::new(0);
        let mut fed = 0;
        'outer: while fed < wire.len() {
            let spare = reader.spare();
            let n = chunk.min(spare.len()).min(wire.len() - fed);
            spare[..n].copy_from_slice(&wire[fed..fed + n]);
            reader.filled(n);
            fed += n;
            loop {
                match reader.next_frame() {
                    Ok(Some(f)) => prop_assert!(f.payload.len() <= MAX_PAYLOAD),
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
    }
}
