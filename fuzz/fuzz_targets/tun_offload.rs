//! The TUN offload code, fed arbitrary bytes: (1) as a frame read from the device, cut into
//! packets: every packet fits the buffer and there are at most one per byte (plus one);
//! (2) as a sequence of packets (split at 0xA5 bytes) pushed through the coalescer: every
//! frame it emits is one the device-side cutting accepts, and every packet pushed comes out
//! exactly once (a run of n packets is cut back into n).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::offload::{Coalescer, Segments, VNET_HDR_LEN};

fn cut(frame: &[u8]) -> Result<usize, rocserv_proto::offload::OffloadError> {
    let mut segments = Segments::with_vnet_hdr(frame)?;
    let mut out = [0u8; 1600];
    let mut count = 0usize;
    while let Some(n) = segments.next_into(&mut out)? {
        assert!(n <= out.len());
        count += 1;
        assert!(count <= frame.len() + 1);
    }
    Ok(count)
}

fuzz_target!(|data: &[u8]| {
    let _ = cut(data);

    let mut c = Coalescer::new();
    let mut pushed = 0usize;
    let mut emitted = 0usize;
    let mut emit = |h: &[u8; VNET_HDR_LEN], p: &[u8]| {
        if h.iter().all(|b| *b == 0) {
            emitted += 1;
        } else {
            let mut f = h.to_vec();
            f.extend_from_slice(p);
            let mut out = vec![0u8; 65_536];
            let mut segs = Segments::with_vnet_hdr(&f).expect("a joined frame is always cut");
            while let Some(_) = segs.next_into(&mut out).expect("a joined segment always fits") {
                emitted += 1;
            }
        }
    };
    for pkt in data.split(|b| *b == 0xA5) {
        pushed += 1;
        c.push(pkt, &mut emit);
    }
    c.flush(&mut emit);
    assert_eq!(emitted, pushed, "every packet pushed comes out once");
});
