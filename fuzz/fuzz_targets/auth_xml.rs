//! The authentication request parser (XML and urlencoded), under both content types.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rocserv_proto::auth_xml::parse_client_auth;

fuzz_target!(|data: &[u8]| {
    let _ = parse_client_auth(Some("application/xml; charset=utf-8"), data);
    let _ = parse_client_auth(Some("application/x-www-form-urlencoded"), data);
    let _ = parse_client_auth(None, data);
});
