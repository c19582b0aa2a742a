//! The password + OTP flow of `plain[passwd=F,otp=F2]`.

use super::*;
use crate::conversation::{Answers, Failure, FailureReason, Step};
use crate::crypt::hash_password;
use crate::otp::{hotp, parse_usersfile_line, OtpKey};
use crate::Secret;

const KEY_HEX: &str = "3132333435363738393031323334353637383930";

fn key() -> OtpKey {
    OtpKey::from_hex(KEY_HEX).unwrap()
}

fn login(username: &str, password: &str) -> Answers {
    Answers {
        username: Some(username.to_owned()),
        password: Some(Secret::new(password.to_owned())),
        secondary_password: None,
    }
}

fn otp(code: &str) -> Answers {
    Answers {
        username: None,
        password: None,
        secondary_password: Some(Secret::new(code.to_owned())),
    }
}

fn otp_prompt_step() -> Step {
    Step::Continue(Prompt {
        message: Some("Please enter your OTP password.".to_owned()),
        error: None,
        fields: vec![PromptField {
            name: "secondary_password".to_owned(),
            label: "Password1:".to_owned(),
            echo: false,
        }],
    })
}

fn retry_prompt() -> Step {
    Step::Continue(Prompt {
        message: Some(PROMPT_MESSAGE.to_owned()),
        error: Some(LOGIN_FAILED.to_owned()),
        fields: vec![PromptField::username(), PromptField::password()],
    })
}

fn success(username: &str, groups: &[&str]) -> Step {
    Step::Success(Identity {
        username: username.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    })
}

/// An ocpasswd file with alice (password "pw", group staff), an OTP-only user otto, a locked
/// user lock and a user without a token, plus a users file with HOTP tokens for alice, otto
/// and lock.
struct Fixture {
    _dir: tempfile::TempDir,
    passwd: PathBuf,
    otp: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let hash = hash_password("pw").unwrap();
        let passwd = dir.path().join("ocpasswd");
        std::fs::write(
            &passwd,
            format!("alice:staff:{hash}\notto:ops:\nlock:*:!{hash}\nnotoken:*:{hash}\n"),
        )
        .unwrap();
        let otp = dir.path().join("users.oath");
        std::fs::write(
            &otp,
            format!("HOTP alice - {KEY_HEX}\nHOTP otto - {KEY_HEX}\nHOTP lock - {KEY_HEX}\n"),
        )
        .unwrap();
        Self {
            _dir: dir,
            passwd,
            otp,
        }
    }

    fn backend(&self) -> Arc<PlainBackend> {
        PlainBackend::open_with_otp(&self.passwd, &self.otp).unwrap()
    }

    fn counter(&self, username: &str) -> Option<u64> {
        std::fs::read_to_string(&self.otp)
            .unwrap()
            .lines()
            .filter_map(|l| parse_usersfile_line(l).unwrap())
            .find(|e| e.username == username)
            .and_then(|e| e.counter)
    }
}

#[test]
fn password_then_otp() {
    let fx = Fixture::new();
    let backend = fx.backend();
    assert_eq!(backend.otp_path(), Some(fx.otp.as_path()));
    let mut conv = backend.start();
    assert_eq!(conv.answer(login("alice", "pw")), otp_prompt_step());
    assert_eq!(conv.take_failure(), None);
    assert_eq!(
        conv.answer(otp(&hotp(&key(), 0, 6))),
        success("alice", &["staff"])
    );
    assert_eq!(fx.counter("alice"), Some(0), "the use is recorded");
}

#[test]
fn otp_in_the_password_field_is_accepted_too() {
    // Some clients post the single input of a form as `password`.
    let fx = Fixture::new();
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("alice", "pw")), otp_prompt_step());
    let step = conv.answer(Answers {
        username: None,
        password: Some(Secret::new(hotp(&key(), 0, 6))),
        secondary_password: None,
    });
    assert_eq!(step, success("alice", &["staff"]));
}

#[test]
fn a_used_code_does_not_work_twice() {
    let fx = Fixture::new();
    let backend = fx.backend();
    let code = hotp(&key(), 0, 6);
    let mut first = backend.start();
    first.answer(login("alice", "pw"));
    assert_eq!(first.answer(otp(&code)), success("alice", &["staff"]));

    let mut second = backend.start();
    assert_eq!(second.answer(login("alice", "pw")), otp_prompt_step());
    assert_eq!(second.answer(otp(&code)), retry_prompt());
    assert_eq!(
        second.take_failure().unwrap().log_detail,
        "OTP for 'alice' was already used"
    );
    // The next code works, in the same conversation after a new password round.
    assert_eq!(second.answer(login("alice", "pw")), otp_prompt_step());
    assert_eq!(
        second.answer(otp(&hotp(&key(), 1, 6))),
        success("alice", &["staff"])
    );
    assert_eq!(fx.counter("alice"), Some(1));
}

#[test]
fn otp_only_user_needs_only_the_code() {
    let fx = Fixture::new();
    let mut conv = fx.backend().start();
    // An empty (or wrong) first password leads to the OTP form.
    assert_eq!(conv.answer(login("otto", "")), otp_prompt_step());
    assert_eq!(
        conv.answer(otp(&hotp(&key(), 0, 6))),
        success("otto", &["ops"])
    );
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("otto", "anything")), otp_prompt_step());
    assert_eq!(conv.answer(otp("000000")), retry_prompt());
    assert_eq!(
        conv.take_failure().unwrap().log_detail,
        "wrong OTP for 'otto'"
    );
}

#[test]
fn otp_only_user_may_type_the_code_in_the_first_form() {
    let fx = Fixture::new();
    let mut conv = fx.backend().start();
    assert_eq!(
        conv.answer(login("otto", &hotp(&key(), 0, 6))),
        success("otto", &["ops"])
    );
    // the code is used up
    let mut conv = fx.backend().start();
    assert_eq!(
        conv.answer(login("otto", &hotp(&key(), 0, 6))),
        otp_prompt_step()
    );
    // a user with a password does not get this shortcut
    let mut conv = fx.backend().start();
    assert_eq!(
        conv.answer(login("alice", &hotp(&key(), 1, 6))),
        otp_prompt_step()
    );
}

#[test]
fn wrong_password_unknown_user_and_locked_account_look_like_everyone_else() {
    let fx = Fixture::new();
    let backend = fx.backend();
    let good_code = hotp(&key(), 0, 6);
    for (user, password, detail) in [
        ("alice", "wrong", "wrong password for 'alice'"),
        ("mallory", "pw", "user 'mallory' unknown"),
        ("lock", "pw", "account 'lock' is locked"),
    ] {
        let mut conv = backend.start();
        assert_eq!(
            conv.answer(login(user, password)),
            otp_prompt_step(),
            "{user}"
        );
        assert_eq!(conv.take_failure(), None, "{user}: nothing told yet");
        // Even the right code does not help, and it is not consumed.
        assert_eq!(conv.answer(otp(&good_code)), retry_prompt(), "{user}");
        assert_eq!(conv.take_failure().unwrap().log_detail, detail);
    }
    assert_eq!(fx.counter("alice"), None);
    assert_eq!(fx.counter("lock"), None);
}

#[test]
fn user_without_a_token_cannot_log_in() {
    let fx = Fixture::new();
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("notoken", "pw")), otp_prompt_step());
    assert_eq!(conv.answer(otp("123456")), retry_prompt());
    assert_eq!(
        conv.take_failure().unwrap().log_detail,
        "user 'notoken' has no OTP token"
    );
}

#[test]
fn three_failed_rounds_end_the_conversation() {
    let fx = Fixture::new();
    let mut conv = fx.backend().start();
    for _ in 0..2 {
        assert_eq!(conv.answer(login("alice", "pw")), otp_prompt_step());
        assert_eq!(conv.answer(otp("999999")), retry_prompt());
    }
    assert_eq!(conv.answer(login("alice", "pw")), otp_prompt_step());
    let Step::Failure(Failure { reason, log_detail }) = conv.answer(otp("999999")) else {
        panic!("third failure must end the conversation");
    };
    assert_eq!(reason, FailureReason::TooManyAttempts);
    assert_eq!(log_detail, "wrong OTP for 'alice'; 3 failed attempts");
}

#[test]
fn missing_code_is_a_failed_round() {
    let fx = Fixture::new();
    let mut conv = fx.backend().start();
    conv.answer(login("alice", "pw"));
    assert_eq!(conv.answer(Answers::default()), retry_prompt());
    assert_eq!(
        conv.take_failure().unwrap().log_detail,
        "no OTP given for 'alice'"
    );
}

#[test]
fn broken_otp_file_is_a_backend_error_and_accepts_nothing() {
    let fx = Fixture::new();
    let backend = fx.backend();
    let mut conv = backend.start();
    conv.answer(login("alice", "pw"));
    std::fs::write(&fx.otp, "garbage\n").unwrap();
    let Step::Failure(Failure { reason, log_detail }) = conv.answer(otp(&hotp(&key(), 0, 6)))
    else {
        panic!("an unreadable OTP file must end the login");
    };
    assert_eq!(reason, FailureReason::BackendError);
    assert!(log_detail.contains("users.oath:1"), "{log_detail}");
}

#[test]
fn open_reports_a_malformed_otp_file() {
    let fx = Fixture::new();
    std::fs::write(&fx.otp, "HOTP alice - 00\nHOTP bob - xyz\n").unwrap();
    let Err(error) = PlainBackend::open_with_otp(&fx.passwd, &fx.otp) else {
        panic!("malformed OTP file must not open");
    };
    assert!(
        matches!(error, AuthError::OtpParse { line: 2, .. }),
        "{error}"
    );
    let missing = fx.otp.with_file_name("absent");
    assert!(matches!(
        PlainBackend::open_with_otp(&fx.passwd, &missing),
        Err(AuthError::OtpIo { .. })
    ));
}

#[test]
fn without_otp_an_empty_hash_never_logs_in() {
    let fx = Fixture::new();
    let backend = PlainBackend::open(&fx.passwd).unwrap();
    assert_eq!(backend.otp_path(), None);
    let mut conv = backend.start();
    assert_eq!(conv.answer(login("otto", "")), retry_prompt());
    assert!(conv
        .take_failure()
        .unwrap()
        .log_detail
        .contains("no OTP file is configured"));
}
