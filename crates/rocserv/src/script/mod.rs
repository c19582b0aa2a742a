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

pub mod env;

pub use env::ScriptEnv;

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
    #[cfg(test)]
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
mod tests;
