//! The cutting of TUN frames (virtio-net header + packet or TSO/USO super-packet) into
//! packets, fed arbitrary frames: every packet fits the buffer, and a frame yields at most one
//! packet per payload byte (plus one).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::offload::Segments;

fuzz_target!(|data: &[u8]| {
    let Ok(mut segments) = Segments::with_vnet_hdr(data) else { return };
    let mut out = [0u8; 1600];
    let mut count = 0usize;
    while let Ok(Some(n)) = segments.next_into(&mut out) {
        assert!(n <= out.len());
        count += 1;
        assert!(count <= data.len() + 1);
    }
});
