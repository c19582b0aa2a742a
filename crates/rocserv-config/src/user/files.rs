//! Finding and reading the group file and the user file of a session.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{load_user_config, UserConfig};
use crate::config::Config;
use crate::error::{show, ConfigError, ConfigWarning};

/// Longest file name component Linux accepts (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Which kind of name is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A user name, looked up in `config-per-user`.
    User,
    /// A group name, looked up in `config-per-group`.
    Group,
}

impl NameKind {
    fn dir_key(self) -> &'static str {
        match self {
            NameKind::User => "config-per-user",
            NameKind::Group => "config-per-group",
        }
    }

    fn default_key(self) -> &'static str {
        match self {
            NameKind::User => "default-user-config",
            NameKind::Group => "default-group-config",
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::User => "user",
            NameKind::Group => "group",
        })
    }
}

/// Checks that a user or group name can be used as a file name inside its directory:
/// not empty, not `.` or `..`, no `/`, no NUL or other control character, at most 255 bytes.
/// `dir` is only used in the message.
///
/// # Errors
/// The name is refused (a group literally named `../escape` never reaches the file system).
pub fn check_name(kind: NameKind, name: &str, dir: &Path) -> Result<(), ConfigError> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("'.' and '..' name directories")
    } else if name.contains('/') {
        Some("it contains '/'")
    } else if name.contains('\0') {
        Some("it contains a NUL character")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.len() > NAME_MAX {
        Some("it is longer than 255 bytes")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(ConfigError::file(
            dir,
            Some(kind.dir_key()),
            format!(
                "{kind} name '{}' cannot be used to look up a per-{kind} file: {why} \
                 (path traversal refused; the session is rejected)",
                show(name)
            ),
        )),
    }
}

/// The per-user/per-group file settings of a (virtual host) configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerUserFiles<'a> {
    /// `config-per-user`: directory of files named after users.
    pub config_per_user: Option<&'a Path>,
    /// `config-per-group`: directory of files named after groups.
    pub config_per_group: Option<&'a Path>,
    /// `default-user-config`: read when `config-per-user` has no file for the user.
    pub default_user_config: Option<&'a Path>,
    /// `default-group-config`: read when `config-per-group` has no file for the group.
    pub default_group_config: Option<&'a Path>,
}

impl<'a> PerUserFiles<'a> {
    /// The settings of `cfg` (use the virtual host's `Config` for a vhost session).
    pub fn new(cfg: &'a Config) -> Self {
        Self {
            config_per_user: cfg.config_per_user.as_deref(),
            config_per_group: cfg.config_per_group.as_deref(),
            default_user_config: cfg.default_user_config.as_deref(),
            default_group_config: cfg.default_group_config.as_deref(),
        }
    }

    /// True when a per-user or per-group directory is configured.
    pub fn is_enabled(&self) -> bool {
        self.config_per_user.is_some() || self.config_per_group.is_some()
    }

    fn dir_and_default(&self, kind: NameKind) -> (Option<&'a Path>, Option<&'a Path>) {
        match kind {
            NameKind::User => (self.config_per_user, self.default_user_config),
            NameKind::Group => (self.config_per_group, self.default_group_config),
        }
    }

    /// The file that applies to `name`: `DIR/NAME` when it exists, else the configured
    /// default, else none. `None` too when the directory is not configured.
    ///
    /// # Errors
    /// The name is refused ([`check_name`]); `DIR/NAME` exists but is not a regular file or
    /// cannot be examined (other than "does not exist").
    pub fn file_for(&self, kind: NameKind, name: &str) -> Result<Option<PathBuf>, ConfigError> {
        let (dir, default) = self.dir_and_default(kind);
        let Some(dir) = dir else { return Ok(None) };
        check_name(kind, name, dir)?;
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(path)),
            Ok(_) => Err(ConfigError::file(
                &path,
                Some(kind.dir_key()),
                format!("the per-{kind} file is not a regular file"),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(default.map(Path::to_path_buf)),
            Err(e) => Err(ConfigError::file(
                &path,
                Some(kind.dir_key()),
                format!("cannot examine the per-{kind} file: {e}"),
            )),
        }
    }

    fn load(
        &self,
        kind: NameKind,
        name: &str,
    ) -> Result<Option<(UserConfig, Vec<ConfigWarning>)>, ConfigError> {
        let Some(path) = self.file_for(kind, name)? else {
            return Ok(None);
        };
        let is_default = self.dir_and_default(kind).1 == Some(path.as_path());
        load_user_config(&path).map(Some).map_err(|mut e| {
            if is_default && e.line.is_none() {
                e.key = Some(kind.default_key().to_owned());
                e.message = format!(
                    "the configured {} cannot be used: {}",
                    kind.default_key(),
                    e.message
                );
            }
            e
        })
    }

    /// Reads the group file (when the session has a group) and then the user file, and
    /// combines them with [`UserConfig::overlay`] (the user file wins for single values;
    /// lists are concatenated). Called at every connection: no caching.
    ///
    /// # Errors
    /// A refused name, an unreadable per-user/per-group file or configured default, or an
    /// invalid file (wrong-scope option, bad value, ...): the session must be rejected.
    pub fn resolve(
        &self,
        username: &str,
        group: Option<&str>,
    ) -> Result<(UserConfig, Vec<ConfigWarning>), ConfigError> {
        let mut combined = UserConfig::default();
        let mut warnings = Vec::new();
        // ocserv skips the group step when the session has no group (or an empty one).
        if let Some(group) = group.filter(|g| !g.is_empty()) {
            if let Some((cfg, w)) = self.load(NameKind::Group, group)? {
                combined.overlay(cfg);
                warnings.extend(w);
            }
        }
        if let Some((cfg, w)) = self.load(NameKind::User, username)? {
            combined.overlay(cfg);
            warnings.extend(w);
        }
        Ok((combined, warnings))
    }
}

/// [`PerUserFiles::resolve`] with the settings of `cfg`.
///
/// # Errors
/// As [`PerUserFiles::resolve`].
pub fn resolve(
    cfg: &Config,
    username: &str,
    group: Option<&str>,
) -> Result<(UserConfig, Vec<ConfigWarning>), ConfigError> {
    PerUserFiles::new(cfg).resolve(username, group)
}
