//! The ClientHello peek that routes a new DTLS association, fed arbitrary datagrams.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::dtls::peek_client_hello;

fuzz_target!(|data: &[u8]| {
    if let Some(hello) = peek_client_hello(data) {
        assert!(hello.session_id.len() <= 32);
    }
});
