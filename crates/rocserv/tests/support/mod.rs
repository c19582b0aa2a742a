//! Helpers for the loopback tests: a `rocserv` child process on a temporary configuration, a
//! TLS client speaking raw HTTP/1.1 bytes, and a hand-written response parser.

#![allow(dead_code, reason = "not every test file uses every helper")]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The password of every account in the test ocpasswd file.
pub const PASSWORD: &str = "Sup3r-Secret-Passw0rd";
/// `alice` can log in with [`PASSWORD`].
pub const USER: &str = "alice";
/// `mallory`'s hash is locked (`!` prefix) though it is a hash of [`PASSWORD`].
pub const LOCKED_USER: &str = "mallory";
/// The `auth-timeout` of the test configuration, in seconds.
pub const AUTH_TIMEOUT_SECS: u64 = 3;

/// Longest a single read waits before a test gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the daemon may take to accept connections after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Test certificates: a CA (trusted by the client) and the server leaf it signed.
pub struct Pki {
    pub ca_der: CertificateDer<'static>,
    pub leaf_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rocserv loopback test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
        Pki {
            ca_der: ca.der().clone(),
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A temporary directory holding a complete configuration: certificate, key, ocpasswd file and
/// `test.conf`.
pub struct TestDir {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pki: Pki,
}

impl TestDir {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate();
        fs::write(dir.path().join("server-cert.pem"), &pki.leaf_pem).unwrap();
        fs::write(dir.path().join("server-key.pem"), &pki.key_pem).unwrap();
        let hash = rocserv_auth::hash_password(PASSWORD).unwrap();
        fs::write(
            dir.path().join("ocpasswd"),
            format!("{USER}:users:{hash}\n{LOCKED_USER}:users:!{hash}\n"),
        )
        .unwrap();
        let t = TestDir {
            dir,
            port: free_port(),
            pki,
        };
        t.write_config(&t.config_lines());
        t
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("test.conf")
    }

    /// The lines of a valid configuration, one option per line (line `i` of the file is
    /// element `i - 1`).
    pub fn config_lines(&self) -> Vec<String> {
        let p = self.path().display();
        vec![
            "# rocserv loopback test".to_owned(),
            format!("auth = \"plain[passwd={p}/ocpasswd]\""),
            format!("tcp-port = {}", self.port),
            "listen-host = 127.0.0.1".to_owned(),
            format!("server-cert = {p}/server-cert.pem"),
            format!("server-key = {p}/server-key.pem"),
            "device = vpns".to_owned(),
            "ipv4-network = 10.99.0.0/24".to_owned(),
            format!("auth-timeout = {AUTH_TIMEOUT_SECS}"),
            "cookie-timeout = 60".to_owned(),
        ]
    }

    pub fn write_config(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(self.config_path(), text).unwrap();
    }

    /// Runs `rocserv -t -c test.conf` to completion (bounded).
    pub fn test_config(&self) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rocserv"))
            .arg("-t")
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                panic!("rocserv -t did not exit within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    pub dir: TestDir,
    child: Child,
    log_path: PathBuf,
    tls: Arc<ClientConfig>,
}

impl Daemon {
    /// Starts `rocserv -f -e -d 3 -c test.conf` and waits until its port accepts connections.
    pub fn start() -> Self {
        let dir = TestDir::new();
        let log_path = dir.path().join("rocserv.log");
        let log = fs::File::create(&log_path).unwrap();
        let out = fs::File::create(dir.path().join("rocserv.stdout")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rocserv"))
            .args(["-f", "-e", "-d", "3", "-c"])
            .arg(dir.config_path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()
            .unwrap();
        let tls = client_config(&dir.pki.ca_der);
        let mut d = Daemon {
            dir,
            child,
            log_path,
            tls,
        };
        d.wait_ready();
        d
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.dir.port))
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("rocserv exited early ({status}); log:\n{}", self.log());
            }
            // Wait for the log line too: the port could belong to someone else.
            let started = self.log().contains("started");
            if started
                && TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok()
            {
                return;
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "rocserv did not accept on {} within {START_TIMEOUT:?}; log:\n{}",
                    self.addr(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the daemon wrote to standard error so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Stops the daemon with SIGTERM (bounded wait, then SIGKILL) and returns its whole log.
    pub fn stop(&mut self) -> String {
        if self.is_running() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let start = Instant::now();
            while self.is_running() && start.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.log()
    }

    /// A plain TCP connection to the daemon.
    pub fn tcp(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr(), READ_TIMEOUT).unwrap();
        s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        s
    }

    /// A TLS connection with a completed handshake.
    pub fn connect(&self) -> Client {
        let conn =
            ClientConnection::new(self.tls.clone(), ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut tls = StreamOwned::new(conn, self.tcp());
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        Client {
            tls,
            buf: Vec::new(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_config(ca: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status line without CRLF, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the `Set-Cookie` for cookie `name` (up to the first `;`).
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers_named("Set-Cookie").find_map(|v| {
            let pair = v.split(';').next()?;
            let (n, val) = pair.split_once('=')?;
            (n.trim() == name).then(|| val.trim())
        })
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The text between `<tag>` and `</tag>` in the body.
    pub fn element(&self, tag: &str) -> Option<String> {
        let body = self.body_str();
        let open = format!("<{tag}>");
        let start = body.find(&open)? + open.len();
        let end = body.get(start..)?.find(&format!("</{tag}>"))? + start;
        body.get(start..end).map(str::to_owned)
    }

    /// Headers with the values of the named headers replaced by `*`, for comparisons that must
    /// ignore legitimately random values.
    pub fn headers_masked(&self, names: &[&str]) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(n, v)| {
                if names.iter().any(|m| n.eq_ignore_ascii_case(m)) {
                    (n.clone(), "*".to_owned())
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect()
    }
}

/// A TLS client connection that writes raw bytes and parses responses by hand.
pub struct Client {
    pub tls: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Client {
    /// Writes `bytes` in one TLS write (a single record when under 16 KiB).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tls.write_all(bytes)?;
        self.tls.flush()
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.tls.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response: status line, headers, and a `Content-Length` body.
    pub fn read_response(&mut self) -> std::io::Result<HttpResponse> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a complete response head (got {:?})",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec())
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let bad = |what: &str| std::io::Error::new(ErrorKind::InvalidData, what.to_owned());
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| bad(&format!("bad header line {line:?}")))?;
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        let mut resp = HttpResponse {
            status_line,
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = match resp.header("Content-Length") {
            Some(v) => v.parse().map_err(|_| bad("bad Content-Length"))?,
            None => return Err(bad("response without Content-Length")),
        };
        let total = head_end + 4 + len;
        while self.buf.len() < total {
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a response body",
                ));
            }
        }
        resp.body = self.buf[head_end + 4..total].to_vec();
        self.buf.drain(..total);
        Ok(resp)
    }

    /// Sends a request and reads its response.
    pub fn exchange(&mut self, request: &[u8]) -> HttpResponse {
        self.send(request).unwrap();
        self.read_response().unwrap()
    }

    /// Whether the server closes the connection within `within` without sending anything more.
    /// A timeout means "still open"; unexpected data is a test failure.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        assert!(
            self.buf.is_empty(),
            "unread data: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.tls.sock.set_read_timeout(Some(within)).unwrap();
        let mut chunk = [0u8; 1024];
        let r = self.tls.read(&mut chunk);
        self.tls.sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        match r {
            Ok(0) => true,
            Ok(n) => panic!(
                "unexpected data instead of a close: {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        }
    }
}

/// The headers openconnect 9.01 sends with its XML POSTs (protocol.md §1.5), plus `extra`.
fn xml_post(path: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\n\
Host: localhost\r\n\
User-Agent: Open AnyConnect VPN Agent v9.01-3\r\n\
Accept: */*\r\n\
Accept-Encoding: identity\r\n\
X-Transcend-Version: 1\r\n\
X-Aggregate-Auth: 1\r\n\
X-Support-HTTP-Auth: true\r\n\
X-Pad: 0000000000000000\r\n\
{extra}\
Content-Type: application/xml; charset=utf-8\r\n\
Content-Length: {}\r\n\
\r\n\
{body}",
        body.len()
    )
    .into_bytes()
}

/// openconnect's first request (protocol.md §1.5).
pub fn init_request() -> Vec<u8> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<config-auth client=\"vpn\" type=\"init\" aggregate-auth-version=\"2\"><version who=\"vpn\">v9.01-3</version><device-id>linux-64</device-id><capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>single-sign-on-external-browser</auth-method></capabilities><group-access>https://localhost/</group-access></config-auth>";
    xml_post("/", body, "")
}

/// An `auth-reply` with a username and password (protocol.md §2.3), echoing the context cookie
/// when given.
pub fn auth_reply(username: &str, password: &str, context: Option<&str>) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<config-auth client=\"vpn\" type=\"auth-reply\" aggregate-auth-version=\"2\"><version who=\"vpn\">v9.01-3</version><device-id>linux-64</device-id><capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>single-sign-on-external-browser</auth-method></capabilities><auth><username>{username}</username><password>{password}</password></auth></config-auth>"
    );
    let cookie = context
        .map(|c| format!("Cookie: webvpncontext={c}\r\n"))
        .unwrap_or_default();
    xml_post("/auth", &body, &cookie)
}

/// A bodiless request.
pub fn simple_request(method: &str, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Open AnyConnect VPN Agent v9.01-3\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Deterministic pseudo-random bytes (xorshift), for garbage inputs.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}
