//! The ocserv.conf parser and the typed configuration built from it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rocserv_config::parse_str(text, std::path::Path::new("fuzz.conf"));
    }
});
