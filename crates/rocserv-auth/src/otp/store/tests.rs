use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::otp::{parse_usersfile_line, OtpKey};

/// The RFC 4226 / 6238 test key, hex.
const KEY_HEX: &str = "3132333435363738393031323334353637383930";

fn key() -> OtpKey {
    OtpKey::from_hex(KEY_HEX).unwrap()
}

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new(contents: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.oath");
        fs::write(&path, contents).unwrap();
        Self { _dir: dir, path }
    }

    fn store(&self) -> OtpStore {
        OtpStore::open(&self.path).unwrap()
    }

    fn entry(&self, username: &str) -> OtpEntry {
        let text = fs::read_to_string(&self.path).unwrap();
        text.lines()
            .filter_map(|l| parse_usersfile_line(l).unwrap())
            .find(|e| e.username == username)
            .unwrap()
    }
}

#[test]
fn hotp_accepts_next_code_records_it_and_rejects_reuse() {
    let fx = Fixture::new(&format!("HOTP alice - {KEY_HEX}\n"));
    let store = fx.store();
    let code0 = hotp(&key(), 0, 6);
    assert_eq!(
        store.verify("alice", &code0, at(0)).unwrap(),
        OtpVerdict::Accepted
    );
    let entry = fx.entry("alice");
    assert_eq!(entry.counter, Some(0));
    assert_eq!(entry.last_otp.as_deref(), Some(code0.as_str()));
    assert!(entry.last_time.is_some());

    // Same code again: replay.
    assert_eq!(
        store.verify("alice", &code0, at(0)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::Replayed)
    );
    // A fresh store (a restart) reads the recorded counter from the file.
    let store = fx.store();
    assert_eq!(
        store.verify("alice", &code0, at(0)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::Replayed)
    );
    let code1 = hotp(&key(), 1, 6);
    assert_eq!(
        store.verify("alice", &code1, at(0)).unwrap(),
        OtpVerdict::Accepted
    );
    assert_eq!(fx.entry("alice").counter, Some(1));
}

#[test]
fn hotp_look_ahead_window_and_older_codes() {
    let fx = Fixture::new(&format!("HOTP/E/8 bob - {KEY_HEX} 5\n"));
    let store = fx.store();
    // Beyond the window: refused, nothing recorded.
    let far = hotp(&key(), 5 + HOTP_LOOK_AHEAD + 1, 8);
    assert_eq!(
        store.verify("bob", &far, at(0)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::WrongCode)
    );
    assert_eq!(fx.entry("bob").last_otp, None);
    // The edge of the window is fine and moves the counter there.
    let edge = hotp(&key(), 5 + HOTP_LOOK_AHEAD, 8);
    assert_eq!(
        store.verify("bob", &edge, at(0)).unwrap(),
        OtpVerdict::Accepted
    );
    assert_eq!(fx.entry("bob").counter, Some(5 + HOTP_LOOK_AHEAD));
    // Codes skipped over are now in the past.
    let skipped = hotp(&key(), 10, 8);
    assert_eq!(
        store.verify("bob", &skipped, at(0)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::WrongCode)
    );
}

#[test]
fn totp_accepts_one_step_of_skew_and_never_the_same_step_twice() {
    let fx = Fixture::new(&format!("HOTP/T30/8 carol - {KEY_HEX}\n"));
    let store = fx.store();
    let now = 1_111_111_109; // RFC 6238: 07081804 in step 37037036
    let step = totp_step(now, 30);
    assert_eq!(hotp(&key(), step, 8), "07081804");

    // Two steps away: refused.
    let old = hotp(&key(), step - 2, 8);
    assert_eq!(
        store.verify("carol", &old, at(now)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::WrongCode)
    );
    // The previous step (a slow user) is accepted.
    let previous = hotp(&key(), step - 1, 8);
    assert_eq!(
        store.verify("carol", &previous, at(now)).unwrap(),
        OtpVerdict::Accepted
    );
    assert_eq!(fx.entry("carol").counter, Some(step - 1));
    // Reuse is refused, even a bit later within the window.
    assert_eq!(
        store.verify("carol", &previous, at(now + 10)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::Replayed)
    );
    // The current code works once.
    assert_eq!(
        store.verify("carol", "07081804", at(now)).unwrap(),
        OtpVerdict::Accepted
    );
    assert_eq!(
        store.verify("carol", "07081804", at(now + 5)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::Replayed)
    );
    // Once the current step is used, the previous one is refused as well.
    let fx2 = Fixture::new(&format!("HOTP/T30/8 carol - {KEY_HEX}\n"));
    let store2 = fx2.store();
    assert_eq!(
        store2.verify("carol", "07081804", at(now)).unwrap(),
        OtpVerdict::Accepted
    );
    assert_eq!(
        store2.verify("carol", &previous, at(now)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::Replayed)
    );
}

#[test]
fn totp_line_written_by_liboath_is_protected_by_its_last_code() {
    // liboath's TOTP counter is not a time step; the last code's step is found instead.
    let now = 1_234_567_890;
    let step = totp_step(now, 30);
    let last = hotp(&key(), step, 6);
    let fx = Fixture::new(&format!(
        "HOTP/T30 dave - {KEY_HEX} 0 {last} 2009-02-13T23:31:30L\n"
    ));
    let store = fx.store();
    let previous = hotp(&key(), step - 1, 6);
    assert_eq!(
        store.verify("dave", &previous, at(now)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::Replayed)
    );
    let next = hotp(&key(), step + 1, 6);
    assert_eq!(
        store.verify("dave", &next, at(now + 30)).unwrap(),
        OtpVerdict::Accepted
    );
}

#[test]
fn unknown_user_wrong_format_and_second_token() {
    let fx = Fixture::new(&format!(
        "# two tokens for erin\nHOTP erin - 00112233\nHOTP erin - {KEY_HEX} 3\n"
    ));
    let store = fx.store();
    assert_eq!(
        store.verify("nobody", "123456", at(0)).unwrap(),
        OtpVerdict::Rejected(OtpRejection::NoToken)
    );
    for bad in ["", "12345", "1234567", "12345a", "+23456"] {
        assert_eq!(
            store.verify("erin", bad, at(0)).unwrap(),
            OtpVerdict::Rejected(OtpRejection::WrongCode),
            "{bad:?}"
        );
    }
    assert!(store.has_token("erin").unwrap());
    assert!(!store.has_token("nobody").unwrap());
    // The second token's code is accepted and only its line changes; comments stay.
    let code = hotp(&key(), 4, 6);
    assert_eq!(
        store.verify("erin", &code, at(0)).unwrap(),
        OtpVerdict::Accepted
    );
    let text = fs::read_to_string(&fx.path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# two tokens for erin");
    assert_eq!(lines[1], "HOTP erin - 00112233");
    assert!(
        lines[2].starts_with(&format!("HOTP\terin\t-\t{KEY_HEX}\t4\t{code}\t")),
        "{}",
        lines[2]
    );
}

#[test]
fn rewrite_keeps_the_file_mode_and_leaves_no_temporary_file() {
    let fx = Fixture::new(&format!("HOTP alice - {KEY_HEX}\n"));
    fs::set_permissions(&fx.path, fs::Permissions::from_mode(0o640)).unwrap();
    let store = fx.store();
    assert_eq!(
        store.verify("alice", &hotp(&key(), 0, 6), at(0)).unwrap(),
        OtpVerdict::Accepted
    );
    let mode = fs::metadata(&fx.path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert!(!sibling(&fx.path, ".new").exists());
}

#[test]
fn concurrent_logins_with_one_code_accept_it_once() {
    let fx = Fixture::new(&format!("HOTP alice - {KEY_HEX}\n"));
    let store = Arc::new(fx.store());
    let code = hotp(&key(), 0, 6);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let code = code.clone();
            std::thread::spawn(move || store.verify("alice", &code, at(0)).unwrap())
        })
        .collect();
    let verdicts: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let accepted = verdicts
        .iter()
        .filter(|v| **v == OtpVerdict::Accepted)
        .count();
    assert_eq!(accepted, 1, "{verdicts:?}");
}

#[test]
fn broken_or_missing_file_is_an_error_not_an_acceptance() {
    let fx = Fixture::new("HOTP alice - 00\nnot a token line\n");
    let Err(AuthError::OtpParse { line: 2, .. }) = OtpStore::open(&fx.path) else {
        panic!("malformed file must not open");
    };
    let fx = Fixture::new(&format!("HOTP alice - {KEY_HEX}\n"));
    let store = fx.store();
    fs::write(&fx.path, "garbage\n").unwrap();
    assert!(matches!(
        store.verify("alice", &hotp(&key(), 0, 6), at(0)),
        Err(AuthError::OtpParse { line: 1, .. })
    ));
    fs::remove_file(&fx.path).unwrap();
    let error = store.verify("alice", "123456", at(0)).unwrap_err();
    assert!(matches!(error, AuthError::OtpIo { .. }));
    assert!(error.to_string().contains("users.oath"), "{error}");
}

#[test]
fn local_time_has_liboath_shape() {
    let text = local_time(1_700_000_000);
    assert_eq!(text.len(), 20, "{text}");
    assert!(text.ends_with('L') && text.as_bytes()[10] == b'T', "{text}");
    assert!(parse_usersfile_line(&format!("HOTP a - 00 1 123456 {text}")).is_ok());
}
