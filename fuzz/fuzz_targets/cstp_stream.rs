//! The CSTP stream reader fed in chunks whose sizes come from the input itself; an odd step
//! byte uses the growable reader (the daemon's), starting as small as the step.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::cstp::{self, FrameReader};

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let growable = step & 1 == 1;
    let step = usize::from(step).max(1);
    let mut reader = if growable {
        FrameReader::growable(step)
    } else {
        FrameReader::new(2 * (cstp::HEADER_LEN + cstp::MAX_PAYLOAD))
    };
    for chunk in rest.chunks(step) {
        let spare = reader.spare();
        // Complete frames are always taken below, so there is room for more input.
        assert!(!spare.is_empty(), "reader stalled");
        let n = chunk.len().min(spare.len());
        spare[..n].copy_from_slice(&chunk[..n]);
        reader.filled(n);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => assert!(frame.payload.len() <= cstp::MAX_PAYLOAD),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
