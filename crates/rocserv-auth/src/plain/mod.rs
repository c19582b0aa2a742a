//! The `plain` backend: users and crypt(3) hashes from an ocpasswd file
//! (`auth = "plain[passwd=/etc/ocserv/ocpasswd]"`).
//!
//! The file is read at [`PlainBackend::open`], where a malformed line is an error naming
//! `file:line`. Afterwards, each verification checks (at most once per second) whether the
//! file's inode, size or modification time changed and re-reads it, so users can be added
//! without a restart. A broken file at that point keeps the previous good contents and logs a
//! warning once per change of the file.
//!
//! With `otp=FILE` (`plain[passwd=F,otp=F2]`, [`PlainBackend::open_with_otp`]) a liboath users
//! file adds a second round: after the username + password form, the client is asked for its
//! one-time password (field `secondary_password`). Users whose ocpasswd hash is empty are
//! OTP-only: whatever they type in the first form is ignored and the OTP alone decides. To keep
//! unknown users, wrong passwords and locked accounts indistinguishable from OTP-only users,
//! the OTP form is shown after *every* first round when OTP is configured, and a failed first
//! round is reported only after the OTP round ("Login failed.", back to the first form). A user
//! without a token line cannot log in while OTP is configured (as in ocserv). See
//! [`crate::otp`] for the file and the checks (HOTP look-ahead, TOTP skew, no reuse).

mod conversation;
mod entry;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub(crate) use self::conversation::quoted;
pub use self::conversation::{PlainConversation, MAX_ATTEMPTS};
pub use self::entry::{parse_passwd, parse_passwd_line, LineError, PasswdEntry};
use crate::conversation::{AuthBackend, AuthConversation, Identity, Prompt, PromptField};
use crate::crypt::verify_password;
use crate::otp::{OtpStore, OtpVerdict};
use crate::AuthError;

/// How often a verification may look at the file for changes.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Text of the form's `<message>` on the first and every retry prompt.
pub const PROMPT_MESSAGE: &str = "Please enter your username and password.";

/// Text of the form's `<error>` after a failed round.
pub const LOGIN_FAILED: &str = "Login failed.";

/// Text of the OTP form's `<message>` (ocserv's wording).
pub const OTP_PROMPT_MESSAGE: &str = "Please enter your OTP password.";

/// Name of the OTP form's input.
pub const OTP_FIELD_NAME: &str = "secondary_password";

/// Label of the OTP form's input (ocserv labels the second prompt of a login `Password1:`).
pub const OTP_FIELD_LABEL: &str = "Password1:";

/// Verified against unknown users when the file has no usable hash (yescrypt of a random
/// password that was thrown away), so that such a lookup still costs one hash.
const FALLBACK_DUMMY_HASH: &str =
    "$y$j9T$xDiidg50zE4u122VZMXJb.$7WqQkJYX/aBOShtetRS5Gia8ngyasUKq9wPWHlgF8K8";

/// The `plain` authentication backend.
pub struct PlainBackend {
    shared: Arc<Shared>,
}

/// Whether [`PlainBackend::reload_if_changed`] read the file again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The file changed and its new contents are in use.
    Reloaded,
    /// The file is as it was at the last (successful or failed) read.
    Unchanged,
}

impl PlainBackend {
    /// Reads the password file.
    ///
    /// # Errors
    /// [`AuthError::Io`] if the file cannot be read, [`AuthError::Parse`] (with file and line)
    /// for a malformed line.
    pub fn open(passwd: &Path) -> Result<Arc<Self>, AuthError> {
        Self::open_with_check_interval(passwd, DEFAULT_CHECK_INTERVAL)
    }

    /// Like [`PlainBackend::open`], with another minimum time between two checks of the file
    /// for changes (`Duration::ZERO` checks at every verification).
    ///
    /// # Errors
    /// As [`PlainBackend::open`].
    pub fn open_with_check_interval(
        passwd: &Path,
        check_interval: Duration,
    ) -> Result<Arc<Self>, AuthError> {
        Self::open_with_options(passwd, None, check_interval)
    }

    /// Reads the password file and the liboath OTP users file (`plain[passwd=F,otp=F2]`):
    /// every login then needs a one-time password in a second round.
    ///
    /// # Errors
    /// As [`PlainBackend::open`], plus [`AuthError::OtpIo`] / [`AuthError::OtpParse`] for the
    /// OTP file.
    pub fn open_with_otp(passwd: &Path, otp: &Path) -> Result<Arc<Self>, AuthError> {
        Self::open_with_options(passwd, Some(otp), DEFAULT_CHECK_INTERVAL)
    }

    /// The general constructor: an optional OTP users file and the minimum time between two
    /// checks of the password file for changes.
    ///
    /// # Errors
    /// As [`PlainBackend::open_with_otp`].
    pub fn open_with_options(
        passwd: &Path,
        otp: Option<&Path>,
        check_interval: Duration,
    ) -> Result<Arc<Self>, AuthError> {
        let (db, stamp) = load(passwd)?;
        let otp = otp.map(OtpStore::open).transpose()?;
        let shared = Shared {
            path: passwd.to_owned(),
            otp,
            check_interval,
            state: Mutex::new(State {
                db: Arc::new(db),
                stamp: Some(stamp),
                last_check: Instant::now(),
            }),
        };
        Ok(Arc::new(Self {
            shared: Arc::new(shared),
        }))
    }

    /// The password file this backend reads.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The OTP users file, if one is configured.
    pub fn otp_path(&self) -> Option<&Path> {
        self.shared.otp.as_ref().map(OtpStore::path)
    }

    /// The groups of `username` as listed in the file (possibly none), or `None` for an unknown
    /// user. Used to check a client's group selection.
    pub fn lookup_groups(&self, username: &str) -> Option<Vec<String>> {
        let db = self.shared.current_db();
        let entry = db.users.get(username)?;
        Some(entry.groups.clone())
    }

    /// Re-reads the file now if its inode, size or modification time changed since the last
    /// read attempt.
    ///
    /// # Errors
    /// The read or parse error of the changed file; the previous contents stay in use and the
    /// same broken file is not reported again.
    pub fn reload_if_changed(&self) -> Result<ReloadOutcome, AuthError> {
        let mut state = self.shared.lock();
        let outcome = self.shared.refresh(&mut state)?;
        Ok(outcome)
    }

    /// Re-reads the file now, changed or not (e.g. on SIGHUP).
    ///
    /// # Errors
    /// The read or parse error; the previous contents stay in use.
    pub fn reload(&self) -> Result<(), AuthError> {
        let mut state = self.shared.lock();
        state.stamp = None;
        self.shared.refresh(&mut state)?;
        Ok(())
    }
}

impl AuthBackend for PlainBackend {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn initial_prompt(&self) -> Prompt {
        crate::attempts::credentials_prompt(None)
    }

    fn start(&self) -> Box<dyn AuthConversation> {
        Box::new(PlainConversation::new(Arc::clone(&self.shared)))
    }

    /// Every group named in the password file (re-read first if it changed), sorted.
    fn all_groups(&self) -> Vec<String> {
        let db = self.shared.current_db();
        let mut groups: Vec<String> = db
            .users
            .values()
            .flat_map(|entry| entry.groups.iter().cloned())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// The one-time-password form.
fn otp_prompt() -> Prompt {
    Prompt {
        message: Some(OTP_PROMPT_MESSAGE.to_owned()),
        error: None,
        fields: vec![PromptField {
            name: OTP_FIELD_NAME.to_owned(),
            label: OTP_FIELD_LABEL.to_owned(),
            echo: false,
        }],
    }
}

/// State shared by the backend and its conversations.
struct Shared {
    path: PathBuf,
    otp: Option<OtpStore>,
    check_interval: Duration,
    state: Mutex<State>,
}

struct State {
    db: Arc<PasswdDb>,
    /// The file as last read (successfully or not); `None` if it could not be examined.
    stamp: Option<FileStamp>,
    last_check: Instant,
}

/// What identifies a version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// The parsed file, ready for lookups.
struct PasswdDb {
    /// First entry per user name (later duplicates are ignored, as ocserv does).
    users: HashMap<String, PasswdEntry>,
    /// Hash verified for unknown users so that they cost the same as known ones.
    dummy_hash: String,
}

impl PasswdDb {
    fn new(entries: Vec<PasswdEntry>) -> Self {
        // Same kind and cost as the real hashes: the first unlocked one, else the first one.
        let dummy_hash = entries
            .iter()
            .find(|e| !e.locked && !e.hash.is_empty())
            .or_else(|| entries.iter().find(|e| !e.hash.is_empty()))
            .map_or_else(|| FALLBACK_DUMMY_HASH.to_owned(), |e| e.hash.clone());
        let mut users = HashMap::with_capacity(entries.len());
        for entry in entries {
            users.entry(entry.username.clone()).or_insert(entry);
        }
        Self { users, dummy_hash }
    }
}

/// The result of checking one username/password pair.
#[derive(Debug)]
enum Verdict {
    Accepted(Identity),
    /// The user has an empty hash: no password can match; with OTP configured, the OTP alone
    /// authenticates.
    OtpOnly(Identity),
    Locked,
    UnknownUser,
    WrongPassword,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated (every field is
        // replaced whole), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The contents to verify against, re-read first if due and changed.
    fn current_db(&self) -> Arc<PasswdDb> {
        let mut state = self.lock();
        if state.last_check.elapsed() >= self.check_interval {
            if let Err(error) = self.refresh(&mut state) {
                tracing::warn!(
                    %error,
                    "password file could not be reloaded; keeping its previous contents"
                );
            }
        }
        Arc::clone(&state.db)
    }

    /// Re-reads the file if its stamp differs from the last attempt.
    fn refresh(&self, state: &mut State) -> Result<ReloadOutcome, AuthError> {
        state.last_check = Instant::now();
        let stamp = match std::fs::metadata(&self.path) {
            Ok(meta) => FileStamp::of(&meta),
            Err(source) => {
                // Report a vanished file once, not at every check.
                let first = state.stamp.take().is_some();
                return if first {
                    Err(AuthError::Io {
                        path: self.path.clone(),
                        source,
                    })
                } else {
                    Ok(ReloadOutcome::Unchanged)
                };
            }
        };
        if state.stamp == Some(stamp) {
            return Ok(ReloadOutcome::Unchanged);
        }
        match load(&self.path) {
            Ok((db, read_stamp)) => {
                state.db = Arc::new(db);
                state.stamp = Some(read_stamp);
                Ok(ReloadOutcome::Reloaded)
            }
            Err(error) => {
                // Remember the broken version so that it is reported once.
                state.stamp = Some(stamp);
                Err(error)
            }
        }
    }

    /// Checks a password. Every path costs exactly one crypt(3) call with a hash of the kind
    /// found in the file, so the time taken does not reveal whether the user exists.
    fn verify(&self, username: &str, password: &str) -> Verdict {
        let db = self.current_db();
        let Some(entry) = db.users.get(username) else {
            let _ = verify_password(password, &db.dummy_hash);
            return Verdict::UnknownUser;
        };
        if entry.hash.is_empty() {
            // OTP-only users of ocserv have no password hash; none can match.
            let _ = verify_password(password, &db.dummy_hash);
            return if entry.locked {
                Verdict::Locked
            } else {
                Verdict::OtpOnly(Identity {
                    username: entry.username.clone(),
                    groups: entry.groups.clone(),
                })
            };
        }
        let matches = verify_password(password, &entry.hash);
        if entry.locked {
            Verdict::Locked
        } else if matches {
            Verdict::Accepted(Identity {
                username: entry.username.clone(),
                groups: entry.groups.clone(),
            })
        } else {
            Verdict::WrongPassword
        }
    }
}

impl Shared {
    /// Checks a one-time password (only called when an OTP file is configured).
    fn verify_otp(&self, username: &str, code: &str) -> Result<OtpVerdict, AuthError> {
        match &self.otp {
            Some(store) => store.verify(username, code, SystemTime::now()),
            None => Ok(OtpVerdict::Rejected(crate::otp::OtpRejection::NoToken)),
        }
    }
}

/// Reads and parses the file; the stamp is taken from the open file, before reading.
fn load(path: &Path) -> Result<(PasswdDb, FileStamp), AuthError> {
    let io_error = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let stamp = FileStamp::of(&file.metadata().map_err(io_error)?);
    let mut contents = Vec::new();
    file.read_to_end(&mut contents).map_err(io_error)?;
    let entries = parse_passwd(&contents).map_err(|(line, kind)| AuthError::Parse {
        path: path.to_owned(),
        line,
        kind,
    })?;
    Ok((PasswdDb::new(entries), stamp))
}

#[cfg(test)]
mod otp_tests;
#[cfg(test)]
mod tests;
