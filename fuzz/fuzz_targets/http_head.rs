//! The HTTP request-head parser and everything derived from a parsed head (CONNECT headers, cookies).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::connect::ConnectRequest;
use rocserv_proto::http::parse_request_head;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((head, used))) = parse_request_head(data) {
        assert!(used <= data.len());
        let _ = head.content_length();
        let _ = head.cookie("webvpn");
        let _ = head.wants_close();
        let _ = ConnectRequest::from_head(&head);
    }
});
