use std::io::Write;

use super::*;
use crate::conversation::{Answers, Failure, FailureReason, Step};
use crate::crypt::{crypt_with_setting, gensalt, hash_password, CRYPT_CALLS};
use crate::Secret;

fn answers(username: Option<&str>, password: Option<&str>) -> Answers {
    Answers {
        username: username.map(str::to_owned),
        password: password.map(|p| Secret::new(p.to_owned())),
        secondary_password: None,
    }
}

fn login(username: &str, password: &str) -> Answers {
    answers(Some(username), Some(password))
}

fn retry_prompt() -> Step {
    Step::Continue(Prompt {
        message: Some("Please enter your username and password.".to_owned()),
        error: Some("Login failed.".to_owned()),
        fields: vec![PromptField::username(), PromptField::password()],
    })
}

fn success(username: &str, groups: &[&str]) -> Step {
    Step::Success(Identity {
        username: username.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    })
}

/// A password file in its own directory (so tests can replace it).
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new(contents: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocpasswd");
        std::fs::write(&path, contents).unwrap();
        Self { _dir: dir, path }
    }

    fn rewrite(&self, contents: &str) {
        // Through a sibling and rename, as ocpasswd does.
        let tmp = self.path.with_extension("tmp");
        let mut file = File::create(&tmp).unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        drop(file);
        std::fs::rename(&tmp, &self.path).unwrap();
    }

    fn backend(&self) -> Arc<PlainBackend> {
        PlainBackend::open_with_check_interval(&self.path, Duration::ZERO).unwrap()
    }
}

fn hash_with(prefix: &str, password: &str) -> String {
    let setting = gensalt(Some(prefix), 0).unwrap();
    crypt_with_setting(password, &setting).unwrap()
}

#[test]
fn every_hash_format_accepts_right_and_rejects_wrong_password() {
    for prefix in ["$1$", "$5$", "$6$", "$2b$", "$y$"] {
        let hash = hash_with(prefix, "s3cret");
        let fx = Fixture::new(&format!("alice:staff,admins:{hash}\n"));
        let backend = fx.backend();

        let mut conv = backend.start();
        assert_eq!(
            conv.answer(login("alice", "wrong")),
            retry_prompt(),
            "{prefix}"
        );
        assert_eq!(
            conv.answer(login("alice", "s3cret")),
            success("alice", &["staff", "admins"]),
            "{prefix}"
        );
    }
}

#[test]
fn hash_password_output_is_accepted_by_the_backend() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("# ocpasswd\n\nbob:*:{hash}\n"));
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("bob", "pw")), success("bob", &[]));
}

#[test]
fn initial_prompt_asks_username_and_password() {
    let fx = Fixture::new("");
    let backend = fx.backend();
    assert_eq!(backend.name(), "plain");
    let prompt = backend.initial_prompt();
    assert_eq!(prompt.message.as_deref(), Some(PROMPT_MESSAGE));
    assert_eq!(prompt.error, None);
    assert_eq!(prompt.fields.len(), 2);
    assert_eq!(prompt.fields[0].name, "username");
    assert!(prompt.fields[0].echo);
    assert_eq!(prompt.fields[1].name, "password");
    assert!(!prompt.fields[1].echo);
}

#[test]
fn locked_account_is_refused_even_with_the_right_password() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("carol:g1:!{hash}\n"));
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("carol", "pw")), retry_prompt());
    let failure = conv.take_failure().unwrap();
    assert_eq!(failure.reason, FailureReason::BadCredentials);
    assert_eq!(failure.log_detail, "account 'carol' is locked");
    assert_eq!(conv.take_failure(), None, "a failure is reported once");
}

#[test]
fn unknown_user_looks_and_costs_like_a_wrong_password() {
    let first = hash_password("a").unwrap();
    let second = hash_password("b").unwrap();
    let fx = Fixture::new(&format!("alice:*:{first}\nbob:*:{second}\n"));
    let backend = fx.backend();

    CRYPT_CALLS.with(|c| c.borrow_mut().clear());
    let mut wrong = backend.start();
    let wrong_step = wrong.answer(login("bob", "nope"));
    let wrong_calls = CRYPT_CALLS.with(|c| c.take());

    let mut unknown = backend.start();
    let unknown_step = unknown.answer(login("mallory", "nope"));
    let unknown_calls = CRYPT_CALLS.with(|c| c.take());

    assert_eq!(wrong_step, unknown_step);
    assert_eq!(unknown_step, retry_prompt());
    // One hash each; the unknown user pays with a real hash from the file.
    assert_eq!(wrong_calls, [second]);
    assert_eq!(unknown_calls, [first]);

    assert_eq!(
        wrong.take_failure().unwrap().log_detail,
        "wrong password for 'bob'"
    );
    assert_eq!(
        unknown.take_failure().unwrap().log_detail,
        "user 'mallory' unknown"
    );
}

#[test]
fn locked_account_costs_one_hash_of_its_own() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("carol:*:!{hash}\n"));
    let mut conv = fx.backend().start();
    CRYPT_CALLS.with(|c| c.borrow_mut().clear());
    let _ = conv.answer(login("carol", "x"));
    assert_eq!(CRYPT_CALLS.with(|c| c.take()), [hash]);
}

#[test]
fn unknown_user_with_no_hash_in_the_file_still_costs_a_hash() {
    let fx = Fixture::new("# empty\n");
    let mut conv = fx.backend().start();
    CRYPT_CALLS.with(|c| c.borrow_mut().clear());
    assert_eq!(conv.answer(login("x", "y")), retry_prompt());
    assert_eq!(CRYPT_CALLS.with(|c| c.take()), [FALLBACK_DUMMY_HASH]);
}

#[test]
fn third_failure_ends_the_conversation() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("alice:*:{hash}\n"));
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("alice", "1")), retry_prompt());
    assert_eq!(conv.answer(login("nobody", "2")), retry_prompt());
    let Step::Failure(Failure { reason, log_detail }) = conv.answer(login("alice", "3")) else {
        panic!("third failure must end the conversation");
    };
    assert_eq!(reason, FailureReason::TooManyAttempts);
    assert_eq!(log_detail, "wrong password for 'alice'; 3 failed attempts");
    // Even the right password is refused now.
    assert!(matches!(
        conv.answer(login("alice", "pw")),
        Step::Failure(_)
    ));
}

#[test]
fn success_after_two_failures() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("alice:grp:{hash}\n"));
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(login("alice", "1")), retry_prompt());
    assert_eq!(conv.answer(login("alice", "2")), retry_prompt());
    assert_eq!(
        conv.answer(login("alice", "pw")),
        success("alice", &["grp"])
    );
}

#[test]
fn missing_fields_count_as_failures() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("alice:*:{hash}\n"));
    let mut conv = fx.backend().start();
    assert_eq!(conv.answer(answers(None, Some("pw"))), retry_prompt());
    assert_eq!(
        conv.take_failure().unwrap().log_detail,
        "missing user name or password (no user name)"
    );
    assert_eq!(conv.answer(answers(Some("alice"), None)), retry_prompt());
    assert_eq!(
        conv.take_failure().unwrap().log_detail,
        "missing user name or password ('alice')"
    );
    assert!(matches!(
        conv.answer(answers(Some(""), Some("pw"))),
        Step::Failure(Failure {
            reason: FailureReason::TooManyAttempts,
            ..
        })
    ));
}

#[test]
fn log_detail_escapes_hostile_user_names() {
    let fx = Fixture::new("");
    let mut conv = fx.backend().start();
    let name = format!("evil'\n{}", "x".repeat(100));
    let _ = conv.answer(login(&name, "pw"));
    let detail = conv.take_failure().unwrap().log_detail;
    assert!(!detail.contains('\n'), "{detail}");
    assert!(detail.starts_with("user 'evil\\'\\nxx"), "{detail}");
    assert!(detail.ends_with("...' unknown"), "{detail}");
    assert!(!detail.contains("pw"));
}

#[test]
fn first_line_for_a_user_wins() {
    let first = hash_password("one").unwrap();
    let second = hash_password("two").unwrap();
    let fx = Fixture::new(&format!("dup:a1:{first}\ndup:b2:{second}\n"));
    let backend = fx.backend();
    assert_eq!(backend.lookup_groups("dup"), Some(vec!["a1".to_owned()]));
    assert_eq!(
        backend.start().answer(login("dup", "one")),
        success("dup", &["a1"])
    );
    assert_eq!(backend.start().answer(login("dup", "two")), retry_prompt());
}

#[test]
fn lookup_groups_of_known_and_unknown_users() {
    let fx = Fixture::new("a:g1, g2:$1$x$y\nb:*:$1$x$y\nc::!$1$x$y\n");
    let backend = fx.backend();
    assert_eq!(
        backend.lookup_groups("a"),
        Some(vec!["g1".to_owned(), "g2".to_owned()])
    );
    assert_eq!(backend.lookup_groups("b"), Some(vec![]));
    assert_eq!(backend.lookup_groups("c"), Some(vec![]));
    assert_eq!(backend.lookup_groups("d"), None);
}

#[test]
fn all_groups_lists_every_group_of_the_file_once() {
    let fx = Fixture::new("a:g2, g1:$1$x$y\nb:*:$1$x$y\nc:g1,ops:!$1$x$y\n# z:zz:$1$x$y\n");
    let backend = fx.backend();
    assert_eq!(backend.all_groups(), ["g1", "g2", "ops"]);
    // Re-read with the file.
    fx.rewrite("d:dev:$1$x$y\n");
    assert_eq!(backend.all_groups(), ["dev"]);
    fx.rewrite("e:*:$1$x$y\n");
    assert!(backend.all_groups().is_empty());
}

#[test]
fn open_errors_name_file_and_line() {
    let fx = Fixture::new("# header\nalice:*:$1$x$y\nbroken\n");
    let Err(error) = PlainBackend::open(&fx.path) else {
        panic!("malformed file must not open");
    };
    assert!(matches!(
        error,
        AuthError::Parse {
            line: 3,
            kind: LineError::MissingField,
            ..
        }
    ));
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{}:3: ", fx.path.display())),
        "{text}"
    );

    let missing = fx.path.with_file_name("absent");
    let Err(error) = PlainBackend::open(&missing) else {
        panic!("missing file must not open");
    };
    assert!(matches!(error, AuthError::Io { .. }));
    assert!(error.to_string().contains("absent"), "{error}");
}

#[test]
fn changed_file_is_picked_up_without_restart() {
    let alice = hash_password("a").unwrap();
    let fx = Fixture::new(&format!("alice:*:{alice}\n"));
    let backend = fx.backend();
    assert_eq!(backend.start().answer(login("dave", "d")), retry_prompt());

    let dave = hash_password("d").unwrap();
    fx.rewrite(&format!("alice:*:{alice}\ndave:ops:{dave}\n"));
    assert_eq!(
        backend.start().answer(login("dave", "d")),
        success("dave", &["ops"])
    );
    assert_eq!(backend.lookup_groups("dave"), Some(vec!["ops".to_owned()]));

    // In-place rewrite (same inode) that removes a user.
    std::fs::write(&fx.path, format!("dave:ops:{dave}\n")).unwrap();
    assert_eq!(backend.start().answer(login("alice", "a")), retry_prompt());
}

#[test]
fn checks_for_changes_at_most_once_per_interval() {
    let fx = Fixture::new("a:*:$1$x$y\n");
    let backend = PlainBackend::open(&fx.path).unwrap();
    fx.rewrite("a:*:$1$x$y\nb:*:$1$x$y\n");
    // Opened a moment ago: the change is not looked at yet.
    assert_eq!(backend.lookup_groups("b"), None);
    assert_eq!(
        backend.reload_if_changed().unwrap(),
        ReloadOutcome::Reloaded
    );
    assert_eq!(backend.lookup_groups("b"), Some(vec![]));
    assert_eq!(
        backend.reload_if_changed().unwrap(),
        ReloadOutcome::Unchanged
    );
}

#[test]
fn broken_file_on_reload_keeps_previous_contents() {
    let hash = hash_password("pw").unwrap();
    let fx = Fixture::new(&format!("alice:*:{hash}\n"));
    let backend = fx.backend();

    fx.rewrite(&format!("alice:*:{hash}\nthis line is broken\n"));
    // Verification goes on with the old contents.
    assert_eq!(
        backend.start().answer(login("alice", "pw")),
        success("alice", &[])
    );
    // The broken version is reported once (here: it was already seen above).
    assert_eq!(
        backend.reload_if_changed().unwrap(),
        ReloadOutcome::Unchanged
    );

    fx.rewrite("second:broken");
    let Err(AuthError::Parse { line: 1, .. }) = backend.reload_if_changed() else {
        panic!("a newly broken file must be reported");
    };
    assert_eq!(
        backend.reload_if_changed().unwrap(),
        ReloadOutcome::Unchanged
    );
    let Err(AuthError::Parse { .. }) = backend.reload() else {
        panic!("a forced reload reports the error again");
    };
    assert_eq!(backend.lookup_groups("alice"), Some(vec![]));

    // A vanished file also keeps the contents.
    std::fs::remove_file(&fx.path).unwrap();
    assert!(matches!(
        backend.reload_if_changed(),
        Err(AuthError::Io { .. })
    ));
    assert_eq!(
        backend.reload_if_changed().unwrap(),
        ReloadOutcome::Unchanged
    );
    assert_eq!(
        backend.start().answer(login("alice", "pw")),
        success("alice", &[])
    );

    // Fixed: the new contents are used.
    fx.rewrite(&format!("bob:*:{hash}\n"));
    assert_eq!(
        backend.reload_if_changed().unwrap(),
        ReloadOutcome::Reloaded
    );
    assert_eq!(backend.lookup_groups("alice"), None);
    assert_eq!(
        backend.start().answer(login("bob", "pw")),
        success("bob", &[])
    );
}

#[test]
fn debug_output_never_shows_passwords() {
    let answers = Answers {
        username: Some("alice".to_owned()),
        password: Some(Secret::new("hunter2-primary".to_owned())),
        secondary_password: Some(Secret::new("hunter2-otp".to_owned())),
    };
    let debug = format!("{answers:?} {:#?}", answers);
    assert!(debug.contains("alice"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    let secret = Secret::new("hunter2".to_owned());
    assert!(!format!("{secret:?}").contains("hunter2"));
}
