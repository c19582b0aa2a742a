//! Loopback tests of the `rocserv` binary: a child daemon on 127.0.0.1 with a temporary
//! configuration, driven by a rustls client writing raw HTTP/1.1. No root and no TUN device are
//! needed: no CONNECT is ever allowed to succeed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step is a failed test"
)]

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::{
    auth_reply, init_request, noise, simple_request, Client, Daemon, HttpResponse, TestDir,
    AUTH_TIMEOUT_SECS, LOCKED_USER, PASSWORD, USER,
};

/// How long a test waits for the server to close a connection after a final answer.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The answer to a request the server refuses: `status` and then a close; or, when the server
/// closed (even with a reset) before the answer could be read, an error — but never silence.
/// `what` names the request in a failure.
fn expect_refused(c: &mut Client, status: u16, what: &str) {
    match c.read_response() {
        Ok(resp) => {
            assert_eq!(resp.status, status, "{what} {}", resp.status_line);
            assert!(c.closed_within(CLOSE_WAIT), "{what}: not closed");
        }
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{what} no answer and no close: {e}"
        ),
    }
}

fn assert_auth_form(resp: &HttpResponse) {
    assert_eq!(resp.status, 200, "{}", resp.status_line);
    assert_eq!(resp.header("Content-Type"), Some("text/xml"));
    assert_eq!(resp.header("X-Transcend-Version"), Some("1"));
    let body = resp.body_str();
    assert!(body.contains("type=\"auth-request\""), "{body}");
    assert!(
        body.contains("<form method=\"post\" action=\"/auth\">"),
        "{body}"
    );
    assert!(body.contains("name=\"username\""), "{body}");
    assert!(
        body.contains("<input type=\"password\" name=\"password\""),
        "{body}"
    );
}

fn context_of(resp: &HttpResponse) -> String {
    let ctx = resp
        .set_cookie("webvpncontext")
        .unwrap_or_else(|| panic!("no webvpncontext cookie in {:?}", resp.headers));
    assert!(!ctx.is_empty());
    ctx.to_owned()
}

/// Init POST, then returns the connection and the context cookie.
fn start_login(d: &Daemon) -> (Client, String) {
    let mut c = d.connect();
    let form = c.exchange(&init_request());
    assert_auth_form(&form);
    let ctx = context_of(&form);
    (c, ctx)
}

fn assert_complete(resp: &HttpResponse) -> String {
    assert_eq!(
        resp.status,
        200,
        "{}: {}",
        resp.status_line,
        resp.body_str()
    );
    let body = resp.body_str();
    assert!(body.contains("type=\"complete\""), "{body}");
    let cookie = resp
        .set_cookie("webvpn")
        .unwrap_or_else(|| panic!("no webvpn cookie in {:?}", resp.headers))
        .to_owned();
    assert_eq!(cookie.len(), 44, "{cookie}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&cookie)
        .unwrap();
    assert_eq!(raw.len(), 32);
    assert_eq!(resp.element("session-token").as_deref(), Some(&*cookie));
    cookie
}

// 1.
#[test]
fn init_post_returns_the_login_form() {
    let d = Daemon::start();
    let (_c, ctx) = start_login(&d);
    assert!(ctx.len() >= 16, "context too short to be random: {ctx}");
}

// 2.
#[test]
fn right_password_completes_and_secrets_stay_out_of_the_log() {
    let mut d = Daemon::start();
    let (mut c, ctx) = start_login(&d);
    let resp = c.exchange(&auth_reply(USER, PASSWORD, Some(&ctx)));
    let cookie = assert_complete(&resp);
    // The context is spent.
    assert!(resp
        .headers_named("Set-Cookie")
        .any(|v| v.starts_with("webvpncontext=;")));
    drop(c);
    let log = d.stop();
    assert!(log.contains("user authenticated"), "{log}");
    assert!(!log.contains(PASSWORD), "password in the log:\n{log}");
    assert!(!log.contains(&cookie), "cookie in the log:\n{log}");
}

// 3.
#[test]
fn three_wrong_passwords_end_with_401_and_close() {
    let d = Daemon::start();
    let (mut c, ctx) = start_login(&d);
    for round in 1..=2 {
        let resp = c.exchange(&auth_reply(USER, "wrong-password", Some(&ctx)));
        assert_auth_form(&resp);
        assert!(
            resp.body_str().contains("Login failed"),
            "round {round}: {}",
            resp.body_str()
        );
    }
    let resp = c.exchange(&auth_reply(USER, "wrong-password", Some(&ctx)));
    assert_eq!(resp.status, 401, "{}", resp.status_line);
    assert!(
        c.closed_within(CLOSE_WAIT),
        "connection left open after 401"
    );
}

/// The first failure answer for `user`/`password` on a fresh login.
fn first_failure(d: &Daemon, user: &str, password: &str) -> HttpResponse {
    let (mut c, ctx) = start_login(d);
    let resp = c.exchange(&auth_reply(user, password, Some(&ctx)));
    assert_auth_form(&resp);
    assert!(resp.body_str().contains("Login failed"), "{user}");
    resp
}

#[test]
fn unknown_and_locked_users_look_like_a_wrong_password() {
    let d = Daemon::start();
    let wrong = first_failure(&d, USER, "wrong-password");
    let unknown = first_failure(&d, "nobody", PASSWORD);
    let locked = first_failure(&d, LOCKED_USER, PASSWORD);
    assert_eq!(unknown.body, wrong.body, "unknown user vs wrong password");
    assert_eq!(locked.body, wrong.body, "locked user vs wrong password");
    // Whole responses match too, once the random context value is masked.
    let masked = |r: &HttpResponse| (r.status_line.clone(), r.headers_masked(&["Set-Cookie"]));
    assert_eq!(masked(&unknown), masked(&wrong));
    assert_eq!(masked(&locked), masked(&wrong));
}

// 4.
#[test]
fn legacy_form_flow() {
    let d = Daemon::start();
    let mut c = d.connect();
    let form = c.exchange(&simple_request(
        "GET",
        "/",
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n",
    ));
    assert_auth_form(&form);
    let body = format!("username={USER}&password={PASSWORD}");
    let req = format!(
        "POST /auth HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Open AnyConnect VPN Agent v9.01-3\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let resp = c.exchange(req.as_bytes());
    assert_complete(&resp);
}

// 5.
#[test]
fn head_of_exactly_16_kib_without_end_gets_431() {
    let d = Daemon::start();
    let mut c = d.connect();
    let mut req = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Fill: ".to_vec();
    req.resize(16 * 1024, b'a');
    c.send(&req).unwrap();
    let resp = c.read_response().unwrap();
    assert_eq!(resp.status, 431, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn head_over_16_kib_gets_431_or_close() {
    let d = Daemon::start();
    let mut c = d.connect();
    let mut req = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Fill: ".to_vec();
    req.resize(20 * 1024, b'a');
    req.extend_from_slice(b"\r\n\r\n");
    // The server may close (even with a reset) before all of it is written.
    let _ = c.send(&req);
    expect_refused(&mut c, 431, "20 KiB head:");
}

#[test]
fn body_over_256_kib_gets_413_and_close() {
    let d = Daemon::start();
    let mut c = d.connect();
    let resp = c.exchange(&simple_request(
        "POST",
        "/",
        "Content-Type: application/xml\r\nContent-Length: 262145\r\n",
    ));
    assert_eq!(resp.status, 413, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn pipelined_requests_are_refused() {
    let d = Daemon::start();
    let mut c = d.connect();
    let mut two = simple_request("GET", "/", "");
    two.extend_from_slice(&simple_request("GET", "/", ""));
    let resp = c.exchange(&two);
    assert_eq!(resp.status, 400, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn seventeenth_request_is_refused() {
    let d = Daemon::start();
    let mut c = d.connect();
    for i in 1..=16 {
        let resp = c.exchange(&simple_request("GET", "/", ""));
        assert_eq!(resp.status, 200, "request {i}: {}", resp.status_line);
    }
    c.send(&simple_request("GET", "/", "")).unwrap();
    expect_refused(&mut c, 429, "request 17:");
}

#[test]
fn silent_connection_is_closed_after_auth_timeout() {
    let d = Daemon::start();
    let mut c = d.connect();
    let start = Instant::now();
    let limit = Duration::from_secs(AUTH_TIMEOUT_SECS + 3);
    assert!(
        c.closed_within(limit),
        "still open after {limit:?} of silence"
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(AUTH_TIMEOUT_SECS * 1000 - 500),
        "closed too early, after {waited:?}"
    );
}

#[test]
fn too_many_headers_get_431() {
    let d = Daemon::start();
    let mut c = d.connect();
    let extra: String = (0..80).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = c.exchange(&simple_request("GET", "/", &extra));
    assert_eq!(resp.status, 431, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn chunked_body_gets_501() {
    let d = Daemon::start();
    let mut c = d.connect();
    let mut req = simple_request("POST", "/", "Transfer-Encoding: chunked\r\n");
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = c.exchange(&req);
    assert_eq!(resp.status, 501, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

/// Well under `auth-timeout`, so that a close is the server honouring the request and not its
/// timeout.
const PROMPT_CLOSE: Duration = Duration::from_millis(1500);

#[test]
fn connection_close_request_header_is_honoured() {
    let d = Daemon::start();
    let mut c = d.connect();
    let resp = c.exchange(&simple_request("GET", "/", "Connection: close\r\n"));
    assert_auth_form(&resp);
    assert!(
        c.closed_within(PROMPT_CLOSE),
        "connection kept open after answering a request with Connection: close"
    );
}

#[test]
fn http_1_0_request_without_keep_alive_is_closed() {
    let d = Daemon::start();
    let mut c = d.connect();
    let resp = c.exchange(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
    assert_auth_form(&resp);
    assert!(
        c.closed_within(PROMPT_CLOSE),
        "HTTP/1.0 connection kept open without Connection: keep-alive"
    );
}

// 6.
#[test]
fn unknown_url_gets_404_and_close() {
    let d = Daemon::start();
    let mut c = d.connect();
    let resp = c.exchange(&simple_request("GET", "/nonexistent", ""));
    assert_eq!(resp.status, 404, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

// 7.
fn connect_request(path: &str, cookie: Option<&str>) -> Vec<u8> {
    let cookie = cookie
        .map(|c| format!("Cookie: webvpn={c}\r\n"))
        .unwrap_or_default();
    simple_request(
        "CONNECT",
        path,
        &format!(
            "{cookie}X-CSTP-Version: 1\r\nX-CSTP-Hostname: testhost\r\nX-CSTP-Base-MTU: 1500\r\n\
X-CSTP-Address-Type: IPv6,IPv4\r\nX-CSTP-Full-IPv6-Capability: true\r\n"
        ),
    )
}

#[test]
fn connect_without_cookie_is_refused() {
    let d = Daemon::start();
    let mut c = d.connect();
    let resp = c.exchange(&connect_request("/CSCOSSLC/tunnel", None));
    assert_eq!(resp.status_line, "HTTP/1.1 401 Cookie is not acceptable");
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn connect_with_unknown_cookie_is_refused() {
    let d = Daemon::start();
    let mut c = d.connect();
    let cookie = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    assert_eq!(cookie.len(), 44);
    let resp = c.exchange(&connect_request("/CSCOSSLC/tunnel", Some(&cookie)));
    assert_eq!(resp.status_line, "HTTP/1.1 401 Cookie is not acceptable");
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn connect_to_a_wrong_path_is_404() {
    let d = Daemon::start();
    let mut c = d.connect();
    let resp = c.exchange(&connect_request("/wrong/path", None));
    assert_eq!(resp.status, 404, "{}", resp.status_line);
    assert!(c.closed_within(CLOSE_WAIT));
}

// 8.
#[test]
fn test_config_accepts_a_valid_file() {
    let t = TestDir::new();
    let out = t.test_config();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("is valid"), "{stdout}");
}

#[test]
fn test_config_names_file_line_and_key_of_a_bad_value() {
    let t = TestDir::new();
    let mut lines = t.config_lines();
    lines.insert(3, "dpd = soon".to_owned());
    let line_no = 4;
    t.write_config(&lines);
    let out = t.test_config();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let file = t.config_path().display().to_string();
    assert!(stderr.contains(&file), "no file name: {stderr}");
    assert!(
        stderr.contains(&format!("{file}:{line_no}"))
            || stderr.contains(&format!("line {line_no}")),
        "no line number {line_no}: {stderr}"
    );
    assert!(stderr.contains("dpd"), "no key: {stderr}");
}

#[test]
fn test_config_names_a_missing_device() {
    let t = TestDir::new();
    let lines: Vec<String> = t
        .config_lines()
        .into_iter()
        .filter(|l| !l.starts_with("device"))
        .collect();
    t.write_config(&lines);
    let out = t.test_config();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("device"), "{stderr}");
}

// 9.
#[test]
fn garbage_does_not_disturb_the_server() {
    let mut d = Daemon::start();

    // Plain HTTP and binary noise where a TLS ClientHello is expected.
    let mut tcp = d.tcp();
    let mut junk = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    junk.extend_from_slice(&noise(512, 0x1234_5678_9abc_def1));
    let _ = tcp.write_all(&junk);
    let mut sink = Vec::new();
    // The server ends the connection (maybe after a TLS alert); a timeout would fail here.
    let r = tcp.read_to_end(&mut sink);
    assert!(
        !matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "non-TLS connection left open: {r:?}"
    );
    drop(tcp);

    // Random bytes inside a good TLS connection.
    let mut c = d.connect();
    let mut bytes = noise(600, 0x0f0f_1234_dead_beef);
    bytes.extend_from_slice(b"\r\n\r\n");
    c.send(&bytes).unwrap();
    expect_refused(&mut c, 400, "noise:");
    drop(c);

    assert!(d.is_running(), "daemon died; log:\n{}", d.log());
    let (_c, _ctx) = start_login(&d);
}
