//! The `pam` backend against the system's PAM with pam_unix and a real user.
//!
//! Runs only as root (it creates a user, a group and service files in /etc/pam.d, and removes
//! them afterwards, also when an assertion fails); otherwise it prints why and passes. The
//! two-round part needs pam_oath (Debian package libpam-oath) and is skipped without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rocserv_auth::otp::{hotp, OtpKey};
use rocserv_auth::pam::active_transactions;
use rocserv_auth::{
    Answers, AuthBackend, Failure, FailureReason, PamBackend, PamOptions, Secret, Step,
};

const PASSWORD: &str = "Rocserv-Test-pw1";
const KEY_HEX: &str = "3132333435363738393031323334353637383930";

fn module_present(name: &str) -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/x86_64-linux-gnu/security",
        "/lib/security",
    ]
    .iter()
    .any(|dir| Path::new(dir).join(name).exists())
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// Removes what the test created, whatever happens.
struct Cleanup {
    user: String,
    group: String,
    services: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for service in &self.services {
            let _ = std::fs::remove_file(service);
        }
        let _ = Command::new("userdel").arg(&self.user).status();
        let _ = Command::new("groupdel").arg(&self.user).status();
        let _ = Command::new("groupdel").arg(&self.group).status();
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

fn is_retry(step: &Step) -> bool {
    matches!(step, Step::Continue(p)
        if p.error.as_deref() == Some("Login failed.") && p.fields.len() == 2)
}

fn wait_for_no_transactions() {
    let deadline = Instant::now() + Duration::from_secs(15);
    while active_transactions() > 0 {
        assert!(Instant::now() < deadline, "a PAM thread did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pam_unix_user_and_two_round_stack() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping pam_system: needs root (creates a user and /etc/pam.d files)");
        return;
    }
    if !module_present("pam_unix.so") || !Path::new("/usr/sbin/useradd").exists() {
        eprintln!("skipping pam_system: pam_unix.so or useradd missing");
        return;
    }
    let id = std::process::id() % 100_000;
    let user = format!("rsvt{id}");
    let group = format!("rsvtg{id}");
    let plain_service = format!("rocserv-test-{id}");
    let otp_service = format!("rocserv-test-{id}-otp");
    let cleanup = Cleanup {
        user: user.clone(),
        group: group.clone(),
        services: vec![
            Path::new("/etc/pam.d").join(&plain_service),
            Path::new("/etc/pam.d").join(&otp_service),
        ],
    };
    run("groupadd", &[&group], None);
    run(
        "useradd",
        &["-M", "-U", "-G", &group, "-s", "/usr/sbin/nologin", &user],
        None,
    );
    run("chpasswd", &[], Some(&format!("{user}:{PASSWORD}\n")));
    std::fs::write(
        &cleanup.services[0],
        "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
    )
    .unwrap();

    // One round: right password, groups from /etc/group.
    let backend = PamBackend::new(PamOptions::service(&plain_service)).unwrap();
    let Step::Success(identity) = backend.start().answer(login(&user, PASSWORD)) else {
        panic!("the right password must log in");
    };
    assert_eq!(identity.username, user);
    assert!(identity.groups.contains(&user), "{identity:?}");
    assert!(identity.groups.contains(&group), "{identity:?}");

    // gid-min above every gid: no groups.
    let mut options = PamOptions::service(&plain_service);
    options.gid_min = Some(u32::MAX);
    let Step::Success(identity) = PamBackend::new(options)
        .unwrap()
        .start()
        .answer(login(&user, PASSWORD))
    else {
        panic!("the right password must log in");
    };
    assert!(identity.groups.is_empty(), "{identity:?}");

    // Wrong password and unknown user get the same retry; the third failure ends the login.
    let mut conv = backend.start();
    let wrong = conv.answer(login(&user, "nope"));
    assert!(is_retry(&wrong), "{wrong:?}");
    let unknown = conv.answer(login("rsvt-no-such-user", "nope"));
    assert_eq!(wrong, unknown);
    let Step::Failure(Failure { reason, .. }) = conv.answer(login(&user, "nope")) else {
        panic!("third failure ends the login");
    };
    assert_eq!(reason, FailureReason::TooManyAttempts);

    // Success after a failure in the same login.
    let mut conv = backend.start();
    assert!(is_retry(&conv.answer(login(&user, "nope"))));
    assert!(matches!(
        conv.answer(login(&user, PASSWORD)),
        Step::Success(_)
    ));

    // A locked account looks like a wrong password.
    run("usermod", &["-L", &user], None);
    let locked = backend.start().answer(login(&user, PASSWORD));
    assert_eq!(locked, wrong);
    run("usermod", &["-U", &user], None);

    if !module_present("pam_oath.so") {
        eprintln!("skipping the two-round part: pam_oath.so missing (package libpam-oath)");
        wait_for_no_transactions();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.oath");
    std::fs::write(&users, format!("HOTP {user} - {KEY_HEX}\n")).unwrap();
    std::fs::write(
        &cleanup.services[1],
        format!(
            "auth requisite pam_unix.so nodelay\n\
             auth required pam_oath.so usersfile={} window=5\n\
             account required pam_unix.so\n",
            users.display()
        ),
    )
    .unwrap();
    let backend = PamBackend::new(PamOptions::service(&otp_service)).unwrap();
    let key = OtpKey::from_hex(KEY_HEX).unwrap();

    // Password (from the login form), then the OTP question.
    let mut conv = backend.start();
    let Step::Continue(prompt) = conv.answer(login(&user, PASSWORD)) else {
        panic!("the OTP question must follow the password");
    };
    assert_eq!(prompt.fields.len(), 1);
    assert_eq!(prompt.fields[0].name, "secondary_password");
    assert!(!prompt.fields[0].echo);
    assert!(
        prompt
            .message
            .as_deref()
            .is_some_and(|m| m.contains("One-time password")),
        "{prompt:?}"
    );
    let Step::Success(identity) = conv.answer(secondary(&hotp(&key, 0, 6))) else {
        panic!("the right OTP must log in");
    };
    assert_eq!(identity.username, user);

    // Wrong password: no OTP question, the same retry as above.
    let mut conv = backend.start();
    assert_eq!(conv.answer(login(&user, "nope")), wrong);
    // Right password, reused OTP: refused.
    assert!(matches!(
        conv.answer(login(&user, PASSWORD)),
        Step::Continue(_)
    ));
    assert!(is_retry(&conv.answer(secondary(&hotp(&key, 0, 6)))));

    // An abandoned login ends its PAM thread.
    let mut conv = backend.start();
    assert!(matches!(
        conv.answer(login(&user, PASSWORD)),
        Step::Continue(_)
    ));
    assert!(active_transactions() >= 1);
    drop(conv);
    wait_for_no_transactions();
    drop(cleanup);
}
