//! The tunnel `CONNECT` (protocol.md §3, §8): the client's request headers, typed, and the
//! hand-written `HTTP/1.1 200 CONNECTED` reply whose `X-CSTP-*` names openconnect matches
//! case-sensitively.

mod request;
mod response;

pub use request::{ConnectRequest, DTLS_MASTER_SECRET_LEN, MAX_HOSTNAME_LEN, MAX_USER_AGENT_LEN};
pub use response::{render_connect_refusal, render_connect_response, RekeyMethod, TunnelParams};

/// The `CONNECT` path: `/CSCOSSLC/tunnel`, or `CSCOSSLC/tunnel` (the Clavister client omits
/// the slash). Anything else gets a 404.
pub fn is_tunnel_path(path: &str) -> bool {
    path == "/CSCOSSLC/tunnel" || path == "CSCOSSLC/tunnel"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_paths() {
        assert!(is_tunnel_path("/CSCOSSLC/tunnel"));
        assert!(is_tunnel_path("CSCOSSLC/tunnel"));
        assert!(!is_tunnel_path("/cscosslc/tunnel"));
        assert!(!is_tunnel_path("/CSCOSSLC/tunnel/"));
        assert!(!is_tunnel_path("/"));
    }
}
