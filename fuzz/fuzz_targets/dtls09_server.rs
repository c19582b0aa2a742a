//! The DTLS 0.9 server state machine fed a sequence of arbitrary datagrams (split on 0xFF 0xFF):
//! handshake parsing, record decryption, replay window. Nothing may panic and nothing may be
//! delivered before the handshake is complete.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::dtls::Dtls09Suite;
use rocserv_proto::dtls09::Dtls09Server;

fuzz_target!(|data: &[u8]| {
    let suite = if data.first().is_some_and(|b| b & 1 == 1) {
        Dtls09Suite::Aes256Sha
    } else {
        Dtls09Suite::Aes128Sha
    };
    let mut server = Dtls09Server::new(suite, [7; 32], &[9; 48], [3; 32]);
    let mut out = Vec::new();
    for dgram in data.split(|b| *b == 0xFF) {
        let established = server.is_established();
        let mut delivered = 0usize;
        let _ = server.handle_datagram(dgram, &mut out, &mut |_| delivered += 1);
        assert!(established || delivered == 0 || server.is_established());
        out.clear();
    }
});
