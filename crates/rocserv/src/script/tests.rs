//! Tests of the script runner: real processes, tokio runtime.

use super::env::SCRIPT_PATH;
use super::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Instant;

/// Writes an executable script into `dir`.
fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(body.as_bytes()).unwrap();
    f.sync_all().unwrap();
    drop(f);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Pids of live (non-zombie) processes whose process group is `pgid` (from /proc/*/stat).
fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // fields after "(comm)": state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let zombie = f.first().is_some_and(|s| *s == "Z" || *s == "X");
        if !zombie && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Waits (up to 1 s: SIGKILL is delivered asynchronously to members we do not reap) for
/// the group to be empty; returns what is left.
async fn survivors(pgid: u32) -> Vec<u32> {
    let t0 = Instant::now();
    loop {
        let left = group_members(pgid);
        if left.is_empty() || t0.elapsed() > Duration::from_secs(1) {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn reason_strings() {
    assert_eq!(ScriptReason::Connect.as_str(), "connect");
    assert_eq!(ScriptReason::Disconnect.as_str(), "disconnect");
    assert_eq!(ScriptReason::HostUpdate.as_str(), "host-update");
}

#[test]
fn line_log_splits_long_lines() {
    let mut l = LineLog::new("t", Stream::Stdout);
    l.feed(&[b'x'; MAX_LINE + 10]);
    assert_eq!(l.pending.len(), 10);
    l.feed(b"abc\ndef");
    assert_eq!(l.pending, b"def");
    l.finish();
    assert!(l.pending.is_empty());
}

#[tokio::test]
async fn success_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = script(
        &dir,
        "ok.sh",
        "#!/bin/sh\necho hello\necho oops >&2\nexit 0\n",
    );
    let env = ScriptEnv::new(ScriptReason::Connect);
    let out = run_script(&p, &env, Duration::from_secs(10)).await;
    assert_eq!(out, ScriptOutcome::Success);
    assert!(out.is_success());
}

#[tokio::test]
async fn nonzero_exit_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = script(&dir, "fail.sh", "#!/bin/sh\nexit 3\n");
    let out = run_script(
        &p,
        &ScriptEnv::new(ScriptReason::Connect),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        matches!(&out, ScriptOutcome::Failed { status } if status.contains("exit status: 3")),
        "{out:?}"
    );
}

#[tokio::test]
async fn missing_script_spawn_failed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("does-not-exist");
    let out = run_script(
        &p,
        &ScriptEnv::new(ScriptReason::Connect),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(&out, ScriptOutcome::SpawnFailed(msg) if msg.contains("does-not-exist")),
        "{out:?}"
    );
    // not executable
    let p = script(&dir, "noexec.sh", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_script(
        &p,
        &ScriptEnv::new(ScriptReason::Connect),
        Duration::from_secs(5),
    )
    .await;
    // root may execute without x bits only if some x bit is set; 0644 has none
    assert!(matches!(out, ScriptOutcome::SpawnFailed(_)), "{out:?}");
}

#[tokio::test]
async fn env_is_clean_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env.out");
    let p = script(
        &dir,
        "env.sh",
        &format!("#!/bin/sh\nenv > '{}'\n", dump.display()),
    );
    let mut env = ScriptEnv::new(ScriptReason::HostUpdate);
    env.set("USERNAME", "alice")
        .set("HOSTNAME", "laptop")
        .set("IP_REMOTE", "10.0.0.5")
        .set_list(
            "OCSERV_ROUTES",
            &[
                "192.168.1.0/255.255.255.0".into(),
                "192.168.5.0/255.255.255.0".into(),
            ],
        )
        .set_list("OCSERV_DNS", &[]);
    // something in our own environment that must not leak through
    assert!(std::env::var_os("HOME").is_some() || std::env::var_os("CARGO").is_some());
    let out = run_script(&p, &env, Duration::from_secs(10)).await;
    assert_eq!(out, ScriptOutcome::Success);
    let text = std::fs::read_to_string(&dump).unwrap();
    let vars: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(vars.get("REASON"), Some(&"host-update"));
    assert_eq!(vars.get("USERNAME"), Some(&"alice"));
    assert_eq!(vars.get("HOSTNAME"), Some(&"laptop"));
    assert_eq!(vars.get("IP_REMOTE"), Some(&"10.0.0.5"));
    assert_eq!(vars.get("PATH"), Some(&SCRIPT_PATH));
    assert_eq!(
        vars.get("OCSERV_ROUTES"),
        Some(&"192.168.1.0/255.255.255.0 192.168.5.0/255.255.255.0 ")
    );
    assert!(!vars.contains_key("OCSERV_DNS"));
    assert!(!vars.contains_key("HOME"));
    assert!(!vars.contains_key("CARGO"));
    assert!(!vars.contains_key("RUST_LOG"));
}

#[tokio::test]
async fn timeout_kills_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // sh stays the parent of sleep: two processes in the group
    let p = script(
        &dir,
        "slow.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\nsleep 600\necho never\n",
            pidfile.display()
        ),
    );
    let timeout = Duration::from_secs(1);
    let t0 = Instant::now();
    let out = run_script(&p, &ScriptEnv::new(ScriptReason::Connect), timeout).await;
    let took = t0.elapsed();
    assert_eq!(out, ScriptOutcome::TimedOut);
    assert!(took < timeout + Duration::from_secs(3), "took {took:?}");
    let pid = read_pid(&pidfile);
    let left = survivors(pid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn timeout_sigkill_when_term_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let p = script(
        &dir,
        "stubborn.sh",
        &format!(
            "#!/bin/sh\ntrap '' TERM\necho $$ > '{}'\nsleep 600\n",
            pidfile.display()
        ),
    );
    let timeout = Duration::from_millis(500);
    let t0 = Instant::now();
    let out = run_script(&p, &ScriptEnv::new(ScriptReason::Connect), timeout).await;
    let took = t0.elapsed();
    assert_eq!(out, ScriptOutcome::TimedOut);
    assert!(
        took >= timeout + KILL_GRACE,
        "SIGKILL came too early: {took:?}"
    );
    assert!(took < timeout + Duration::from_secs(3), "took {took:?}");
    let pid = read_pid(&pidfile);
    let left = survivors(pid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A running script does not block the (single-threaded) runtime.
#[tokio::test(flavor = "current_thread")]
async fn does_not_block_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let p = script(&dir, "sleep1.sh", "#!/bin/sh\nsleep 1\n");
    let ticker = tokio::spawn(async {
        let mut n = 0u32;
        let mut iv = tokio::time::interval(Duration::from_millis(50));
        loop {
            iv.tick().await;
            n += 1;
            if n >= 10 {
                return n;
            }
        }
    });
    let env = ScriptEnv::new(ScriptReason::Connect);
    let t0 = Instant::now();
    let (a, b) = tokio::join!(
        run_script(&p, &env, Duration::from_secs(10)),
        run_script(&p, &env, Duration::from_secs(10)),
    );
    assert_eq!((a, b), (ScriptOutcome::Success, ScriptOutcome::Success));
    // both ran concurrently
    assert!(
        t0.elapsed() < Duration::from_millis(1900),
        "{:?}",
        t0.elapsed()
    );
    assert!(ticker.is_finished());
    assert_eq!(ticker.await.unwrap(), 10);
}

/// Dropping the future kills the process group.
#[tokio::test]
async fn dropped_future_kills_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let p = script(
        &dir,
        "slow.sh",
        &format!("#!/bin/sh\necho $$ > '{}'\nsleep 600\n", pidfile.display()),
    );
    let env = ScriptEnv::new(ScriptReason::Connect);
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        run_script(&p, &env, Duration::from_secs(600)),
    )
    .await;
    assert!(r.is_err());
    let pid = read_pid(&pidfile);
    let left = survivors(pid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}
