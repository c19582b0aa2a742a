//! connect / disconnect / host-update scripts (`connect-script`, `disconnect-script`,
//! `host-update-script`; ocserv-reference §3).
//!
//! As ocserv: the configured program is executed directly (no shell, no arguments), as the
//! server's user, with the session described in environment variables. Unlike ocserv it gets a
//! *clean* environment (only `PATH` plus the session's variables), stdin from `/dev/null`, and
//! its stdout/stderr are captured and logged line by line (`tracing`, target
//! `rocserv::script`), tagged with the script's file name. It runs in its own process group; on
//! timeout the whole group gets SIGTERM, then SIGKILL 2 s later. The child is always reaped.
//!
//! [`run_script`] only awaits; it never blocks the runtime, so a slow script delays only the
//! session that waits for it.

use std::fmt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// `PATH` given to scripts (nothing else is inherited from the server's environment).
pub const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Grace period between SIGTERM and SIGKILL when a script times out.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Longest output line logged as one record; longer lines are split.
const MAX_LINE: usize = 1024;

/// How long to keep reading output after the script exited (a background child may hold the
/// pipe open; we do not wait for it).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Why the script runs: the value of `REASON`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptReason {
    /// A tunnel is being set up (`connect-script`); non-zero exit rejects it.
    Connect,
    /// A tunnel went down (`disconnect-script`).
    Disconnect,
    /// The client's hostname became known (`host-update-script`).
    HostUpdate,
}

impl ScriptReason {
    /// The `REASON` value: `connect`, `disconnect` or `host-update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Disconnect => "disconnect",
            Self::HostUpdate => "host-update",
        }
    }
}

impl fmt::Display for ScriptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environment of one script run (builder). `REASON` always comes from the reason given to
/// [`ScriptEnv::new`]; `PATH` is [`SCRIPT_PATH`] unless set explicitly.
///
/// Nothing secret belongs here (scripts see no password or cookie), so `Debug` shows all.
#[derive(Debug, Clone)]
pub struct ScriptEnv {
    reason: ScriptReason,
    vars: Vec<(String, String)>,
}

impl ScriptEnv {
    /// An environment with only `REASON` (and the default `PATH`).
    pub fn new(reason: ScriptReason) -> Self {
        Self {
            reason,
            vars: Vec::new(),
        }
    }

    /// The reason given at construction.
    pub fn reason(&self) -> ScriptReason {
        self.reason
    }

    /// Sets `k` to `v`, replacing an earlier value. NUL bytes are removed from the value (they
    /// cannot be passed through `execve`, and values such as `USER_AGENT` come from the
    /// network). A key that is empty or contains `=` or NUL is ignored with a warning.
    pub fn set(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        if k.is_empty() || k.contains(['=', '\0']) {
            tracing::warn!(key = k, "ignoring invalid script environment variable name");
            return self;
        }
        let mut v: String = v.into();
        v.retain(|c| c != '\0');
        match self.vars.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v,
            None => self.vars.push((k.to_owned(), v)),
        }
        self
    }

    /// Sets `k` to the items each followed by one space (`"a b "`, with the trailing space, as
    /// ocserv passes `OCSERV_ROUTES`, `OCSERV_DNS`, ...); an empty list unsets `k`.
    pub fn set_list(&mut self, k: &str, items: &[String]) -> &mut Self {
        self.set_list_display(k, items)
    }

    /// [`ScriptEnv::set_list`] for anything printable (addresses, networks).
    pub fn set_list_display<T: fmt::Display>(&mut self, k: &str, items: &[T]) -> &mut Self {
        match list_value(items) {
            Some(v) => self.set(k, v),
            None => self.unset(k),
        }
    }

    /// Removes `k`.
    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.retain(|(key, _)| key != k);
        self
    }

    /// The value of `k` as it will be passed (`REASON` and `PATH` included).
    pub fn get(&self, k: &str) -> Option<&str> {
        if k == "REASON" {
            return Some(self.reason.as_str());
        }
        match self.vars.iter().find(|(key, _)| key == k) {
            Some((_, v)) => Some(v),
            None if k == "PATH" => Some(SCRIPT_PATH),
            None => None,
        }
    }

    /// Every variable the script will see, in order: `PATH` (unless overridden), the variables
    /// set, then `REASON`.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        let default_path =
            (!self.vars.iter().any(|(k, _)| k == "PATH")).then_some(("PATH", SCRIPT_PATH));
        default_path
            .into_iter()
            .chain(
                self.vars
                    .iter()
                    .filter(|(k, _)| k != "REASON")
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .chain(std::iter::once(("REASON", self.reason.as_str())))
    }
}

/// `"a b c "` (each item followed by a space, as ocserv), or `None` for an empty list.
pub fn list_value<T: fmt::Display>(items: &[T]) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    Some(items.iter().map(|i| format!("{i} ")).collect())
}

/// How a script run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// Exit status 0.
    Success,
    /// Non-zero exit or killed by a signal; `status` says which (`exit status: 1`).
    Failed {
        /// The exit status as text.
        status: String,
    },
    /// Did not finish in time; its process group was killed.
    TimedOut,
    /// Could not be started (missing, not executable, ...); the text names the path.
    SpawnFailed(String),
}

impl ScriptOutcome {
    /// Whether the script exited 0.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

impl fmt::Display for ScriptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Success => f.write_str("succeeded"),
            Self::Failed { status } => write!(f, "failed ({status})"),
            Self::TimedOut => f.write_str("timed out"),
            Self::SpawnFailed(e) => write!(f, "could not be started: {e}"),
        }
    }
}

/// Runs the script at `path` with `env`, waiting at most `timeout` (then killing its process
/// group: SIGTERM, SIGKILL after [`KILL_GRACE`]). Never blocks the runtime; if the returned
/// future is dropped early, the process group is killed and the child reaped in the background.
pub async fn run_script(path: &Path, env: &ScriptEnv, timeout: Duration) -> ScriptOutcome {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut cmd = Command::new(path);
    cmd.env_clear()
        .envs(env.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);

    let mut child = match spawn(&mut cmd).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(script = %name, path = %path.display(), error = %e,
                reason = %env.reason(), "could not start script");
            return ScriptOutcome::SpawnFailed(format!("{}: {e}", path.display()));
        }
    };
    let mut group = GroupGuard::new(&child);
    tracing::debug!(script = %name, reason = %env.reason(), pid = ?child.id(), "script started");

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let waited =
        tokio::time::timeout(timeout, wait_logging(&mut child, stdout, stderr, &name)).await;

    let outcome = match waited {
        Ok(Ok(status)) => outcome_of(status),
        Ok(Err(e)) => {
            // wait() itself failed: treat as a failure, and make sure nothing survives.
            group.kill_group(libc::SIGKILL);
            let _ = child.wait().await;
            ScriptOutcome::Failed {
                status: format!("wait failed: {e}"),
            }
        }
        Err(_elapsed) => {
            tracing::warn!(script = %name, reason = %env.reason(), ?timeout,
                "script timed out; terminating its process group");
            group.kill_group(libc::SIGTERM);
            if tokio::time::timeout(KILL_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(script = %name, "script ignored SIGTERM; killing it");
            }
            // Members of the group may outlive the leader: kill them all in any case.
            group.kill_group(libc::SIGKILL);
            let _ = child.wait().await;
            ScriptOutcome::TimedOut
        }
    };
    group.disarm();
    match &outcome {
        ScriptOutcome::Success => {
            tracing::debug!(script = %name, reason = %env.reason(), "script succeeded");
        }
        other => tracing::info!(script = %name, reason = %env.reason(), "script {other}"),
    }
    outcome
}

/// Spawns, retrying briefly on ETXTBSY (the file was just written and another thread's fork
/// still holds it open for writing).
async fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let mut attempt = 0u64;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
            }
            other => return other,
        }
    }
}

fn outcome_of(status: ExitStatus) -> ScriptOutcome {
    if status.success() {
        ScriptOutcome::Success
    } else {
        ScriptOutcome::Failed {
            status: status.to_string(),
        }
    }
}

/// Waits for the child while logging its output, then drains what is left for a short while.
async fn wait_logging<O, E>(
    child: &mut Child,
    mut stdout: Option<O>,
    mut stderr: Option<E>,
    name: &str,
) -> std::io::Result<ExitStatus>
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut out_log = LineLog::new(name, Stream::Stdout);
    let mut err_log = LineLog::new(name, Stream::Stderr);
    let mut out_buf = [0u8; 4096];
    let mut err_buf = [0u8; 4096];
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            r = read_some(&mut stdout, &mut out_buf), if stdout.is_some() => {
                feed(r, &mut stdout, &out_buf, &mut out_log);
            }
            r = read_some(&mut stderr, &mut err_buf), if stderr.is_some() => {
                feed(r, &mut stderr, &err_buf, &mut err_log);
            }
        }
    };
    let drain = async {
        while stdout.is_some() || stderr.is_some() {
            tokio::select! {
                r = read_some(&mut stdout, &mut out_buf), if stdout.is_some() => {
                    feed(r, &mut stdout, &out_buf, &mut out_log);
                }
                r = read_some(&mut stderr, &mut err_buf), if stderr.is_some() => {
                    feed(r, &mut stderr, &err_buf, &mut err_log);
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drain).await;
    out_log.finish();
    err_log.finish();
    Ok(status)
}

async fn read_some<R: AsyncRead + Unpin>(
    r: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Logs what was read; closes the stream on EOF or error.
fn feed<R>(r: std::io::Result<usize>, stream: &mut Option<R>, buf: &[u8], log: &mut LineLog<'_>) {
    match r {
        Ok(0) | Err(_) => *stream = None,
        Ok(n) => log.feed(buf.get(..n).unwrap_or_default()),
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Splits a script's output into lines (at most [`MAX_LINE`] bytes each) and logs them.
struct LineLog<'a> {
    script: &'a str,
    stream: Stream,
    pending: Vec<u8>,
}

impl<'a> LineLog<'a> {
    fn new(script: &'a str, stream: Stream) -> Self {
        Self {
            script,
            stream,
            pending: Vec::new(),
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = MAX_LINE.saturating_sub(self.pending.len()).max(1);
            let chunk = data.get(..room.min(data.len())).unwrap_or(data);
            match chunk.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.pending
                        .extend_from_slice(chunk.get(..nl).unwrap_or_default());
                    self.emit();
                    data = data.get(nl + 1..).unwrap_or_default();
                }
                None => {
                    self.pending.extend_from_slice(chunk);
                    data = data.get(chunk.len()..).unwrap_or_default();
                    if self.pending.len() >= MAX_LINE {
                        self.emit();
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = line.trim_end_matches('\r');
        match self.stream {
            Stream::Stdout => tracing::info!(script = self.script, "{line}"),
            Stream::Stderr => tracing::warn!(script = self.script, stream = "stderr", "{line}"),
        }
        self.pending.clear();
    }
}

/// Kills the script's process group if the run is abandoned (future dropped) before the child
/// was reaped; tokio's `kill_on_drop` then reaps the leader in the background.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
}

impl GroupGuard {
    fn new(child: &Child) -> Self {
        Self {
            pgid: child.id().and_then(|p| libc::pid_t::try_from(p).ok()),
        }
    }

    fn kill_group(&self, sig: libc::c_int) {
        if let Some(pgid) = self.pgid.filter(|&p| p > 1) {
            // SAFETY: killpg only sends a signal and touches no memory. pgid is the group we
            // created (process_group(0) makes the child's pid its group id). While the leader is
            // unreaped, or any member is alive, Linux does not reuse that id; once the group is
            // empty the call fails with ESRCH.
            unsafe {
                libc::killpg(pgid, sig);
            }
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill_group(libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
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
    fn env_builder() {
        let mut env = ScriptEnv::new(ScriptReason::Disconnect);
        env.set("USERNAME", "alice")
            .set("USERNAME", "bob")
            .set("USER_AGENT", "Open\0Connect")
            .set("BAD=KEY", "x")
            .set("", "x")
            .set("REASON", "connect")
            .set_list("OCSERV_DNS", &["192.168.1.1".into(), "192.168.5.1".into()])
            .set_list("OCSERV_ROUTES", &[]);
        assert_eq!(env.get("USERNAME"), Some("bob"));
        assert_eq!(env.get("USER_AGENT"), Some("OpenConnect"));
        assert_eq!(env.get("BAD=KEY"), None);
        assert_eq!(env.get("OCSERV_DNS"), Some("192.168.1.1 192.168.5.1 "));
        assert_eq!(env.get("OCSERV_ROUTES"), None);
        assert_eq!(env.get("REASON"), Some("disconnect"));
        assert_eq!(env.get("PATH"), Some(SCRIPT_PATH));
        let vars: Vec<_> = env.vars().collect();
        assert_eq!(vars.first(), Some(&("PATH", SCRIPT_PATH)));
        assert_eq!(vars.last(), Some(&("REASON", "disconnect")));
        assert_eq!(vars.iter().filter(|(k, _)| *k == "REASON").count(), 1);
        // a list that becomes empty unsets the variable
        env.set_list("OCSERV_DNS", &[]);
        assert_eq!(env.get("OCSERV_DNS"), None);
        let nets: [ipnet::IpNet; 1] = ["10.0.0.0/8".parse().unwrap()];
        env.set_list_display("OCSERV_ROUTES4", &nets);
        assert_eq!(env.get("OCSERV_ROUTES4"), Some("10.0.0.0/8 "));
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
}
