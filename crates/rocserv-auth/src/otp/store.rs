//! Verifying a code against the users file and recording its use.
//!
//! Every verification reads the file afresh under two locks: a mutex (threads of this process)
//! and an `fcntl` write lock on `FILE.lock` (other processes: the same lock file liboath, and
//! so pam_oath and ocserv, use). An accepted code is recorded by writing `FILE.new` in the same
//! directory with the original mode and owner, fsyncing it, renaming it over the file and
//! fsyncing the directory, so a crash leaves either the old or the new file, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use subtle::ConstantTimeEq;

use zeroize::Zeroizing;

use super::usersfile::{parse_usersfile, OtpEntry, UsersFileLine};
use super::{hotp, totp_step};
use crate::AuthError;

/// How many counter values past the next expected one an HOTP code may be (ocserv's window).
pub const HOTP_LOOK_AHEAD: u64 = 20;

/// TOTP codes of this many steps before or after the current one are accepted (clock skew).
pub const TOTP_STEP_TOLERANCE: u64 = 1;

/// The outcome of [`OtpStore::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpVerdict {
    /// The code is right and its use is now recorded in the file.
    Accepted,
    /// The code is refused; the file is unchanged.
    Rejected(OtpRejection),
}

/// Why a code was refused (for the administrator's log; the client is told nothing more than
/// "login failed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRejection {
    /// The user has no token line in the file.
    NoToken,
    /// The code matches none of the user's tokens in the window.
    WrongCode,
    /// The code was right once but has been used already (or an older one than the last).
    Replayed,
}

/// A liboath users file.
pub struct OtpStore {
    path: PathBuf,
    lock_path: PathBuf,
    new_path: PathBuf,
    /// `fcntl` locks do not exclude threads of the same process; this does.
    in_process: Mutex<()>,
}

impl std::fmt::Debug for OtpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl OtpStore {
    /// Reads and checks the file once, so that a broken file is reported at start-up.
    ///
    /// # Errors
    /// [`AuthError::OtpIo`] if the file cannot be read, [`AuthError::OtpParse`] (with line) for
    /// a malformed line.
    pub fn open(path: &Path) -> Result<Self, AuthError> {
        let store = Self {
            path: path.to_owned(),
            lock_path: sibling(path, ".lock"),
            new_path: sibling(path, ".new"),
            in_process: Mutex::new(()),
        };
        let mut file = File::open(path).map_err(|e| store.io(e))?;
        store.read(&mut file)?;
        Ok(store)
    }

    /// The users file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `username` has at least one token line (read now, under the lock).
    ///
    /// # Errors
    /// As [`OtpStore::verify`].
    pub fn has_token(&self, username: &str) -> Result<bool, AuthError> {
        let _guard = self.lock_in_process();
        let mut file = File::open(&self.path).map_err(|e| self.io(e))?;
        let lines = self.read(&mut file)?;
        let found = entries_of(&lines.parsed, username).next().is_some();
        Ok(found)
    }

    /// Checks `code` for `username` at time `now`; an accepted code is recorded (counter, last
    /// code, time) before this returns, so it is never accepted again.
    ///
    /// # Errors
    /// The file cannot be locked, read, parsed or rewritten; nothing is accepted then.
    pub fn verify(
        &self,
        username: &str,
        code: &str,
        now: SystemTime,
    ) -> Result<OtpVerdict, AuthError> {
        let _guard = self.lock_in_process();
        let _lock = self.lock_file()?;
        let mut file = File::open(&self.path).map_err(|e| self.io(e))?;
        let meta = file.metadata().map_err(|e| self.io(e))?;
        let FileLines { mut raw, parsed } = self.read(&mut file)?;
        drop(file);

        let unix = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut seen_token = false;
        let mut replayed = false;
        let mut accepted = None;
        for (index, line) in parsed.iter().enumerate() {
            let UsersFileLine::Entry(entry) = line else {
                continue;
            };
            if entry.username != username {
                continue;
            }
            seen_token = true;
            match check(entry, code, unix) {
                Check::Match(counter) => {
                    accepted = Some((index, counter));
                    break;
                }
                Check::Replayed => replayed = true,
                Check::NoMatch => {}
            }
        }
        let Some((index, counter)) = accepted else {
            return Ok(OtpVerdict::Rejected(if replayed {
                OtpRejection::Replayed
            } else if seen_token {
                OtpRejection::WrongCode
            } else {
                OtpRejection::NoToken
            }));
        };
        // Only the used line is rewritten (by the renderer); every other line stays as it was.
        if let (Some(UsersFileLine::Entry(entry)), Some(text)) =
            (parsed.get(index), raw.get_mut(index))
        {
            let mut entry = entry.clone();
            entry.counter = Some(counter);
            entry.last_otp = Some(code.to_owned());
            entry.last_time = Some(local_time(unix));
            *text = Zeroizing::new(entry.to_string());
        }
        let mut contents = Zeroizing::new(String::new());
        for line in &raw {
            contents.push_str(line);
            contents.push('\n');
        }
        self.replace(&contents, &meta)?;
        Ok(OtpVerdict::Accepted)
    }

    fn lock_in_process(&self) -> std::sync::MutexGuard<'_, ()> {
        self.in_process
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the `fcntl` write lock on `FILE.lock` (released when the file is closed).
    fn lock_file(&self) -> Result<File, AuthError> {
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.lock_path)
            .map_err(|e| self.io(e))?;
        // SAFETY: `flock` is a plain C struct for which all-zero is a valid value.
        let mut request: libc::flock = unsafe { std::mem::zeroed() };
        request.l_type = libc::F_WRLCK as libc::c_short;
        request.l_whence = libc::SEEK_SET as libc::c_short;
        loop {
            // SAFETY: the descriptor is open for the duration of the call and `request` is a
            // valid, initialised `struct flock`.
            let rc = unsafe { libc::fcntl(lock.as_raw_fd(), libc::F_SETLKW, &request) };
            if rc == 0 {
                return Ok(lock);
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != ErrorKind::Interrupted {
                return Err(self.io(error));
            }
        }
    }

    fn read(&self, file: &mut File) -> Result<FileLines, AuthError> {
        let mut contents = Zeroizing::new(Vec::new());
        file.read_to_end(&mut contents).map_err(|e| self.io(e))?;
        let parsed = parse_usersfile(&contents).map_err(|(line, kind)| AuthError::OtpParse {
            path: self.path.clone(),
            line,
            kind,
        })?;
        // Same split as the parser, so indexes agree; the text is valid UTF-8 by now.
        let body = contents.strip_suffix(b"\n").unwrap_or(&contents);
        let raw = if body.is_empty() {
            Vec::new()
        } else {
            body.split(|&b| b == b'\n')
                .map(|line| Zeroizing::new(String::from_utf8_lossy(line).into_owned()))
                .collect()
        };
        Ok(FileLines { raw, parsed })
    }

    /// Atomically replaces the file with `contents`, keeping its mode and (if allowed) owner.
    fn replace(&self, contents: &str, meta: &fs::Metadata) -> Result<(), AuthError> {
        // A leftover from a crash; we hold the lock, so nobody else is writing it.
        match fs::remove_file(&self.new_path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(e)),
        }
        let result = (|| {
            let mode = meta.permissions().mode() & 0o7777;
            let mut new = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.new_path)?;
            // Same owner as before if we may (running as root); otherwise ours.
            let _ = std::os::unix::fs::fchown(&new, Some(meta.uid()), Some(meta.gid()));
            new.set_permissions(fs::Permissions::from_mode(mode))?;
            new.write_all(contents.as_bytes())?;
            new.sync_all()?;
            drop(new);
            fs::rename(&self.new_path, &self.path)?;
            if let Some(dir) = self.path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&self.new_path);
            self.io(e)
        })
    }

    fn io(&self, source: std::io::Error) -> AuthError {
        AuthError::OtpIo {
            path: self.path.clone(),
            source,
        }
    }
}

/// The file as read: the text of each line (without newline) and what it parsed to.
struct FileLines {
    raw: Vec<Zeroizing<String>>,
    parsed: Vec<UsersFileLine>,
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn entries_of<'a>(
    lines: &'a [UsersFileLine],
    username: &'a str,
) -> impl Iterator<Item = &'a OtpEntry> + 'a {
    lines.iter().filter_map(move |line| match line {
        UsersFileLine::Entry(entry) if entry.username == username => Some(entry),
        _ => None,
    })
}

enum Check {
    /// Accepted; the counter (HOTP) or time step (TOTP) to record.
    Match(u64),
    /// The code is the last used one, or older.
    Replayed,
    NoMatch,
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks one token line. Every candidate in the window is computed and compared in constant
/// time, whether or not an earlier one matched.
fn check(entry: &OtpEntry, code: &str, unix: u64) -> Check {
    let digits = entry.token_type.digits();
    if code.len() != usize::from(digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Check::NoMatch;
    }
    if entry
        .last_otp
        .as_deref()
        .is_some_and(|last| same(last, code))
    {
        return Check::Replayed;
    }
    match entry.token_type.step_seconds() {
        None => {
            // The counter is the last used one once a code was recorded.
            let base = entry.counter.unwrap_or(0);
            let next = if entry.last_otp.is_some() {
                base.saturating_add(1)
            } else {
                base
            };
            let mut found = None;
            for counter in next..=next.saturating_add(HOTP_LOOK_AHEAD) {
                if same(&hotp(&entry.key, counter, digits), code) && found.is_none() {
                    found = Some(counter);
                }
            }
            found.map_or(Check::NoMatch, Check::Match)
        }
        Some(step_seconds) => {
            let now = totp_step(unix, step_seconds);
            let first = now.saturating_sub(TOTP_STEP_TOLERANCE);
            let last = now.saturating_add(TOTP_STEP_TOLERANCE);
            let mut found = None;
            for step in first..=last {
                if same(&hotp(&entry.key, step, digits), code) && found.is_none() {
                    found = Some(step);
                }
            }
            let Some(step) = found else {
                return Check::NoMatch;
            };
            // Steps up to the last recorded one are used: rocserv records the step in the
            // counter; for liboath-written lines, find the last code's step near now.
            let mut used = entry.last_otp.as_ref().and(entry.counter);
            if let Some(last_code) = &entry.last_otp {
                for earlier in first.saturating_sub(TOTP_STEP_TOLERANCE)..=last {
                    if same(&hotp(&entry.key, earlier, digits), last_code) {
                        used = Some(used.map_or(earlier, |u| u.max(earlier)));
                    }
                }
            }
            if used.is_some_and(|used| step <= used) {
                Check::Replayed
            } else {
                Check::Match(step)
            }
        }
    }
}

/// `unix` in local time as liboath writes it: `YYYY-MM-DDTHH:MM:SSL`.
fn local_time(unix: u64) -> String {
    let seconds = libc::time_t::try_from(unix).unwrap_or(libc::time_t::MAX);
    // SAFETY: `tm` is a plain C struct for which all-zero is valid; `localtime_r` only writes
    // through the pointer we pass and returns NULL on failure.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let converted = unsafe { libc::localtime_r(&seconds, &mut tm) };
    if converted.is_null() {
        return "1970-01-01T00:00:00L".to_owned();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}L",
        i64::from(tm.tm_year) + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests;
