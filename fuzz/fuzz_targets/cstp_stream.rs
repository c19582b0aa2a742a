//! The CSTP stream reader fed in chunks whose sizes come from the input itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::cstp::{self, FrameReader};

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut reader = FrameReader::new(2 * (cstp::HEADER_LEN + cstp::MAX_PAYLOAD));
    for chunk in rest.chunks(step) {
        let spare = reader.spare();
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
