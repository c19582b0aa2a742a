//! PAM conversations against real PAM modules, with service files in a temporary directory
//! (`pam_start_confdir`), so no root is needed: pam_permit, pam_deny, pam_echo, pam_exec and,
//! when installed, pam_oath. The system-wide variant with pam_unix and a real user is
//! `tests/pam_system.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::*;
use crate::conversation::{Answers, Failure, FailureReason, Identity, PromptField, Step};
use crate::otp::{hotp, OtpKey};
use crate::Secret;

/// The tests share the process-wide thread counter: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/security";
const KEY_HEX: &str = "3132333435363738393031323334353637383930";

fn module_present(name: &str) -> bool {
    let found = Path::new(MODULE_DIR).join(name).exists()
        || Path::new("/lib/x86_64-linux-gnu/security")
            .join(name)
            .exists();
    if !found {
        eprintln!("skipping: PAM module {name} is not installed");
    }
    found
}

struct Service {
    dir: tempfile::TempDir,
}

impl Service {
    fn new(stack: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rocserv-test"), stack).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn backend(&self, tweak: impl FnOnce(&mut PamOptions)) -> Arc<PamBackend> {
        let mut options = PamOptions::service("rocserv-test");
        options.config_dir = Some(self.dir.path().to_owned());
        tweak(&mut options);
        PamBackend::new(options).unwrap()
    }
}

fn login(username: &str, password: &str) -> Answers {
    Answers {
        username: Some(username.to_owned()),
        password: Some(Secret::new(password.to_owned())),
        secondary_password: None,
    }
}

fn secondary(value: &str) -> Answers {
    Answers {
        secondary_password: Some(Secret::new(value.to_owned())),
        ..Answers::default()
    }
}

fn retry_prompt() -> Step {
    Step::Continue(crate::attempts::credentials_prompt(Some("Login failed.")))
}

fn wait_for_no_transactions() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while active_transactions() > 0 {
        assert!(Instant::now() < deadline, "a PAM thread did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn options_are_checked() {
    for bad in ["", "..", "a/b", "nul\0"] {
        assert!(
            matches!(
                PamBackend::new(PamOptions::service(bad)),
                Err(AuthError::PamConfig(_))
            ),
            "{bad:?}"
        );
    }
    let backend = PamBackend::new(PamOptions::default()).unwrap();
    assert_eq!(backend.options().service, "ocserv");
    assert_eq!(backend.name(), "pam");
    let prompt = backend.initial_prompt();
    assert_eq!(
        prompt.fields,
        vec![PromptField::username(), PromptField::password()]
    );
}

#[test]
fn permit_stack_logs_in_with_unix_groups() {
    let _serial = serial();
    if !module_present("pam_permit.so") {
        return;
    }
    let service = Service::new("auth required pam_permit.so\naccount required pam_permit.so\n");
    let backend = service.backend(|_| {});
    let mut conv = backend.start();
    let Step::Success(Identity { username, groups }) = conv.answer(login("root", "x")) else {
        panic!("pam_permit must accept");
    };
    assert_eq!(username, "root");
    assert_eq!(groups.first().map(String::as_str), Some("root"));
    // gid-min filters gid 0 out.
    let backend = service.backend(|o| o.gid_min = Some(1));
    let Step::Success(identity) = backend.start().answer(login("root", "x")) else {
        panic!("pam_permit must accept");
    };
    assert!(
        !identity.groups.contains(&"root".to_owned()),
        "{identity:?}"
    );
    wait_for_no_transactions();
}

#[test]
fn deny_stack_retries_three_times() {
    let _serial = serial();
    if !module_present("pam_deny.so") {
        return;
    }
    let service = Service::new("auth required pam_deny.so\naccount required pam_permit.so\n");
    let mut conv = service.backend(|_| {}).start();
    assert_eq!(conv.answer(login("root", "a")), retry_prompt());
    let failure = conv.take_failure().unwrap();
    assert_eq!(failure.reason, FailureReason::BadCredentials);
    assert!(
        failure
            .log_detail
            .starts_with("PAM pam_authenticate for 'root' failed"),
        "{}",
        failure.log_detail
    );
    // An unknown user gets exactly the same answer.
    assert_eq!(
        conv.answer(login("no-such-user-rocserv", "b")),
        retry_prompt()
    );
    let Step::Failure(Failure { reason, .. }) = conv.answer(login("root", "c")) else {
        panic!("third failure ends the login");
    };
    assert_eq!(reason, FailureReason::TooManyAttempts);
    wait_for_no_transactions();
}

#[test]
fn account_stack_is_checked() {
    let _serial = serial();
    if !module_present("pam_deny.so") {
        return;
    }
    let service = Service::new("auth required pam_permit.so\naccount required pam_deny.so\n");
    let mut conv = service.backend(|_| {}).start();
    assert_eq!(conv.answer(login("root", "a")), retry_prompt());
    assert!(conv
        .take_failure()
        .unwrap()
        .log_detail
        .contains("pam_acct_mgmt"));
    wait_for_no_transactions();
}

#[test]
fn account_check_follows_the_account_stack() {
    if !module_present("pam_deny.so") || !module_present("pam_echo.so") {
        return;
    }
    // Only the `account` lines matter: `auth` denies, so a check that ran pam_authenticate
    // would fail.
    let permit = Service::new("auth required pam_deny.so\naccount required pam_permit.so\n");
    let dir = Some(permit.dir.path());
    assert_eq!(
        account_check_in(dir, "rocserv-test", "anyone", Some("192.0.2.7")),
        Ok(())
    );
    let deny = Service::new(
        "auth required pam_permit.so\n\
         account required pam_echo.so account for %u from %H\n\
         account required pam_deny.so\n",
    );
    let refused = account_check_in(
        Some(deny.dir.path()),
        "rocserv-test",
        "bob",
        Some("192.0.2.7"),
    );
    let Err(AccountCheckError::Refused {
        username,
        code,
        text,
    }) = refused
    else {
        panic!("pam_deny must refuse: {refused:?}");
    };
    assert_eq!(username, "bob");
    assert_eq!(code, ffi::PAM_AUTH_ERR, "pam_deny's account verdict");
    // pam_echo's info message is tolerated and kept for the log, with PAM_RHOST set.
    assert!(text.contains("account for bob from 192.0.2.7"), "{text}");
}

#[test]
fn account_check_errors() {
    let empty = tempfile::tempdir().unwrap();
    let missing = account_check_in(Some(empty.path()), "rocserv-absent", "root", None);
    assert!(
        matches!(
            missing,
            Err(AccountCheckError::Start { .. } | AccountCheckError::Refused { .. })
        ),
        "{missing:?}"
    );
    for (service, user) in [
        ("", "u"),
        ("a/b", "u"),
        ("..", "u"),
        ("s", ""),
        ("s", "n\0l"),
    ] {
        assert!(
            matches!(
                account_check(service, user, None),
                Err(AccountCheckError::InvalidInput(_))
            ),
            "{service:?} {user:?}"
        );
    }
    assert!(matches!(
        account_check("s", "u", Some("nul\0")),
        Err(AccountCheckError::InvalidInput(_))
    ));
}

#[test]
fn missing_service_is_a_backend_error() {
    let _serial = serial();
    let service = Service::new("");
    let backend = service.backend(|o| o.service = "absent-service".to_owned());
    let Step::Failure(Failure { reason, log_detail }) = backend.start().answer(login("root", "x"))
    else {
        panic!("a missing service must fail");
    };
    assert_eq!(reason, FailureReason::BackendError, "{log_detail}");
    wait_for_no_transactions();
}

/// pam_exec checks the first password (pam_deny turns its failure, a PAM_SYSTEM_ERR, into
/// an authentication error) (given by the login form, not asked again), pam_echo
/// adds an info text, pam_oath asks a second question.
fn two_round_service() -> Option<Service> {
    if !module_present("pam_exec.so")
        || !module_present("pam_deny.so")
        || !module_present("pam_oath.so")
        || !module_present("pam_echo.so")
    {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\npw=$(tr -d '\\000')\n[ \"$pw\" = \"s3cret\" ]\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let users = dir.path().join("users.oath");
    std::fs::write(&users, format!("HOTP root - {KEY_HEX}\n")).unwrap();
    let stack = format!(
        "auth [success=1 default=ignore] pam_exec.so expose_authtok quiet {}\n\
         auth requisite pam_deny.so\n\
         auth optional pam_echo.so Second factor for %u\n\
         auth required pam_oath.so usersfile={} window=5\n\
         account required pam_permit.so\n",
        script.display(),
        users.display()
    );
    std::fs::write(dir.path().join("rocserv-test"), stack).unwrap();
    Some(Service { dir })
}

#[test]
fn two_round_conversation_with_info_text() {
    let _serial = serial();
    let Some(service) = two_round_service() else {
        return;
    };
    let backend = service.backend(|_| {});
    let mut conv = backend.start();
    let Step::Continue(prompt) = conv.answer(login("root", "s3cret")) else {
        panic!("the OTP question must come next");
    };
    assert_eq!(prompt.fields.len(), 1);
    assert_eq!(prompt.fields[0].name, "secondary_password");
    assert_eq!(prompt.fields[0].label, "Password1:");
    assert!(!prompt.fields[0].echo);
    let message = prompt.message.unwrap();
    assert!(message.starts_with("Second factor for root\n"), "{message}");
    assert!(message.contains("One-time password"), "{message}");

    let key = OtpKey::from_hex(KEY_HEX).unwrap();
    let Step::Success(identity) = conv.answer(secondary(&hotp(&key, 0, 6))) else {
        panic!("the right OTP must log in");
    };
    assert_eq!(identity.username, "root");
    assert!(std::fs::read_to_string(service.path("users.oath"))
        .unwrap()
        .contains(&hotp(&key, 0, 6)));

    // A wrong first password fails before any OTP question.
    let mut conv = backend.start();
    assert_eq!(conv.answer(login("root", "wrong")), retry_prompt());
    // A wrong OTP fails the transaction and the login form comes back.
    assert!(matches!(
        conv.answer(login("root", "s3cret")),
        Step::Continue(_)
    ));
    assert_eq!(conv.answer(secondary("000000")), retry_prompt());
    wait_for_no_transactions();
}

#[test]
fn abandoned_login_ends_its_pam_thread() {
    let _serial = serial();
    let Some(service) = two_round_service() else {
        return;
    };
    let backend = service.backend(|_| {});
    let mut conv = backend.start();
    assert!(matches!(
        conv.answer(login("root", "s3cret")),
        Step::Continue(_)
    ));
    assert_eq!(active_transactions(), 1, "the thread waits for the OTP");
    drop(conv);
    wait_for_no_transactions();
}

#[test]
fn unanswered_prompt_times_out_and_ends_the_thread() {
    let _serial = serial();
    let Some(service) = two_round_service() else {
        return;
    };
    let backend = service.backend(|o| o.answer_timeout = Duration::from_millis(200));
    let mut conv = backend.start();
    assert!(matches!(
        conv.answer(login("root", "s3cret")),
        Step::Continue(_)
    ));
    wait_for_no_transactions();
    // The late answer meets the transaction's verdict: a failed round.
    assert_eq!(conv.answer(secondary("123456")), retry_prompt());
}

#[test]
fn transaction_cap_is_enforced() {
    let _serial = serial();
    let Some(service) = two_round_service() else {
        return;
    };
    let backend = service.backend(|o| o.max_transactions = 1);
    let mut first = backend.start();
    assert!(matches!(
        first.answer(login("root", "s3cret")),
        Step::Continue(_)
    ));
    let Step::Failure(Failure { reason, .. }) = backend.start().answer(login("root", "s3cret"))
    else {
        panic!("a second transaction must be refused");
    };
    assert_eq!(reason, FailureReason::BackendError);
    drop(first);
    wait_for_no_transactions();
}
