//! An OpenSSL DTLS client over a non-blocking std UDP socket, driven step by step by the tests
//! (openconnect's OpenSSL backend sets up its legacy sessions the same way).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, UdpSocket};

use openssl::ssl::{
    ErrorCode, Ssl, SslContextBuilder, SslMethod, SslOptions, SslSession, SslStream, SslVerifyMode,
    SslVersion,
};

pub(super) struct ClientIo {
    pub(super) sock: UdpSocket,
    /// When set, written datagrams are kept in `captured` instead of being sent.
    pub(super) capture: bool,
    pub(super) captured: Vec<Vec<u8>>,
    /// A datagram to read before the socket's.
    pub(super) injected: Option<Vec<u8>>,
}

impl Read for ClientIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = self.injected.take() {
            let n = d.len().min(buf.len());
            buf.get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(d.get(..n).unwrap_or_default());
            return Ok(n);
        }
        self.sock.recv(buf)
    }
}

impl Write for ClientIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.capture {
            self.captured.push(buf.to_vec());
        } else {
            self.sock.send(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(super) struct Client {
    pub(super) stream: SslStream<ClientIo>,
    pub(super) done: bool,
    pub(super) failed: Option<String>,
}

fn socket(server: SocketAddr) -> UdpSocket {
    let sock = match UdpSocket::bind("127.0.0.1:0") {
        Ok(s) => s,
        Err(e) => panic!("bind: {e}"),
    };
    if let Err(e) = sock
        .connect(server)
        .and_then(|()| sock.set_nonblocking(true))
    {
        panic!("connect: {e}");
    }
    sock
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("client setup: {e}"),
    }
}

fn builder() -> SslContextBuilder {
    let mut b = ok(SslContextBuilder::new(SslMethod::dtls_client()));
    ok(b.set_min_proto_version(Some(SslVersion::DTLS1_2)));
    ok(b.set_max_proto_version(Some(SslVersion::DTLS1_2)));
    b.set_verify(SslVerifyMode::NONE);
    b
}

fn finish(b: SslContextBuilder, session: Option<&SslSession>, server: SocketAddr) -> Client {
    let ctx = b.build();
    let mut ssl = ok(Ssl::new(&ctx));
    ok(ssl.set_mtu(1500));
    if let Some(s) = session {
        // SAFETY: a DER-built session belongs to no context.
        ok(unsafe { ssl.set_session(s) });
    }
    ssl.set_connect_state();
    let io = ClientIo {
        sock: socket(server),
        capture: false,
        captured: Vec::new(),
        injected: None,
    };
    Client {
        stream: ok(SslStream::new(ssl, io)),
        done: false,
        failed: None,
    }
}

/// openconnect-like PSK client: identity "psk", OpenSSL's PSK cipher list; with `app_id`, the
/// ClientHello carries it as session_id (openconnect's OpenSSL backend does it with a fake
/// session, as here).
pub(super) fn psk_client(key: [u8; 32], app_id: Option<[u8; 32]>, server: SocketAddr) -> Client {
    let mut b = builder();
    ok(b.set_cipher_list("PSK"));
    b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
    b.set_psk_client_callback(move |_ssl, _hint, identity, psk| {
        if let Some(id) = identity.get_mut(..4) {
            id.copy_from_slice(b"psk\0");
        }
        if let Some(dst) = psk.get_mut(..32) {
            dst.copy_from_slice(&key);
        }
        Ok(32)
    });
    let session = app_id.map(|id| {
        ok(crate::dtls::session_der::build_session(
            crate::dtls::session_der::DTLS1_2_VERSION,
            0x00A9,
            &id,
            &[0u8; 48],
        ))
    });
    finish(b, session.as_ref(), server)
}

/// openconnect-like legacy client: resumes `session` (if any) offering only `cipher`, without
/// EMS and encrypt-then-MAC.
pub(super) fn legacy_client(
    cipher: &str,
    session: Option<&SslSession>,
    server: SocketAddr,
) -> Client {
    let mut b = builder();
    ok(b.set_cipher_list(cipher));
    b.set_options(
        SslOptions::NO_QUERY_MTU
            | SslOptions::NO_TICKET
            | SslOptions::from_bits_retain((1 << 0) | (1 << 19)),
    );
    finish(b, session, server)
}

impl Client {
    /// Advances the handshake with whatever datagrams arrived.
    pub(super) fn step(&mut self) {
        if self.done || self.failed.is_some() {
            return;
        }
        match self.stream.connect() {
            Ok(()) => self.done = true,
            Err(e) if e.code() == ErrorCode::WANT_READ => {}
            Err(e) => self.failed = Some(e.to_string()),
        }
    }

    pub(super) fn send(&mut self, payload: &[u8]) {
        if let Err(e) = self.stream.ssl_write(payload) {
            panic!("client write: {e}");
        }
    }

    /// Every payload that arrived (non-blocking).
    pub(super) fn recv_all(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 17000];
        while let Ok(n) = self.stream.ssl_read(&mut buf) {
            out.push(buf.get(..n).unwrap_or_default().to_vec());
        }
        out
    }

    pub(super) fn cipher(&self) -> String {
        self.stream
            .ssl()
            .current_cipher()
            .map_or_else(String::new, |c| c.name().to_owned())
    }
}

/// openconnect-like DTLS 0.9 client (OpenSSL's DTLS1_BAD_VER, client side only): resumes
/// `session` offering only `cipher`.
pub(super) fn dtls09_client(cipher: &str, session: &SslSession, server: SocketAddr) -> Client {
    /// `DTLS1_BAD_VER` cannot be expressed as an `SslVersion`.
    const DTLS1_BAD_VER: libc::c_long = 0x0100;
    const SSL_CTRL_SET_MIN_PROTO_VERSION: libc::c_int = 123;
    const SSL_CTRL_SET_MAX_PROTO_VERSION: libc::c_int = 124;
    let mut b = ok(SslContextBuilder::new(SslMethod::dtls_client()));
    for cmd in [
        SSL_CTRL_SET_MIN_PROTO_VERSION,
        SSL_CTRL_SET_MAX_PROTO_VERSION,
    ] {
        // SAFETY: a live SSL_CTX; these ctrls take an integer version and no pointer.
        let r = unsafe {
            openssl_sys::SSL_CTX_ctrl(b.as_ptr(), cmd, DTLS1_BAD_VER, std::ptr::null_mut())
        };
        assert_eq!(r, 1, "DTLS1_BAD_VER not accepted");
    }
    b.set_verify(SslVerifyMode::NONE);
    ok(b.set_cipher_list(&format!("{cipher}:@SECLEVEL=0")));
    b.set_options(
        SslOptions::NO_QUERY_MTU
            | SslOptions::NO_TICKET
            | SslOptions::from_bits_retain((1 << 0) | (1 << 19) | (1 << 15)),
    );
    finish(b, Some(session), server)
}
