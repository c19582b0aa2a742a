//! rocserv-config: reads an ocserv.conf-compatible file into a typed [`Config`].
//!
//! * [`ini`] splits the text into raw entries (inih semantics as ocserv builds it: `#`/`;`
//!   comments, ` #` inline comments, optional double quotes, repeated keys, indented
//!   continuation lines, `[vhost:NAME]` sections, 2048-byte lines). It knows no option names,
//!   so per-user/per-group files can reuse it.
//! * [`keys`] is the table of every option ocserv knows and what rocserv does with it.
//! * The builder turns entries into [`Config`] and checks what ocserv checks (mandatory
//!   options, authentication method combinations, address pools).
//! * Per-user and per-group files: [`resolve`] reads a session's group file then user file
//!   into a [`UserConfig`]; [`UserConfig::effective`] lays it over the [`Config`].
//!
//! ```
//! use std::path::Path;
//! let text = "auth = \"plain[passwd=/etc/rocserv/ocpasswd]\"\ntcp-port = 443\n\
//!             server-cert = cert.pem\nserver-key = key.pem\ndevice = vpns\n\
//!             ipv4-network = 10.10.0.0/24\n";
//! let loaded = rocserv_config::parse_str(text, Path::new("ocserv.conf")).unwrap();
//! assert_eq!(loaded.config.tcp_port, 443);
//! assert!(loaded.warnings.is_empty());
//! ```

mod apply;
mod auth;
mod config;
mod error;
pub mod ini;
pub mod keys;
mod pool;
mod user;
mod value;

use std::path::Path;

pub use auth::{AcctMethod, AuthMethod};
pub use config::{
    Config, RekeyMethod, DEFAULT_AUTH_TIMEOUT, DEFAULT_COOKIE_TIMEOUT, DEFAULT_DPD,
    DEFAULT_KEEPALIVE, DEFAULT_LOG_LEVEL, DEFAULT_MOBILE_DPD, DEFAULT_OCCTL_SOCKET,
    DEFAULT_REKEY_TIME, DEFAULT_SCRIPT_TIMEOUT,
};
pub use error::{ConfigError, ConfigWarning};
pub use ini::{Entry, Vhost};
pub use keys::{implemented_keys, per_user_keys};
pub use user::{
    check_name, load_user_config, parse_user_str, resolve, Effective, NameKind, Origin,
    PerUserFiles, UserConfig, MAX_USER_FILE,
};
pub use value::{NetPriority, RouteSpec, SelectGroup, MAX_HOSTNAME};

use apply::{Builder, Mode};

/// A validated configuration and the warnings found while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The typed configuration of the default virtual host (vhost sections inside).
    pub config: Config,
    /// Unknown or not-implemented options, deprecated names, masked host bits, ...
    /// sorted by line.
    pub warnings: Vec<ConfigWarning>,
}

/// Reads, parses and validates a configuration file.
///
/// Files named inside (certificates, password files, scripts) are not opened.
///
/// # Errors
/// The file cannot be read or is not UTF-8, or the first problem found in it
/// (see [`parse_str`]).
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::file(path, None, format!("cannot read the file: {e}")))?;
    let text = utf8_text(path, bytes)?;
    parse_str(&text, path)
}

/// The file's bytes as text; the error names the first line that is not UTF-8.
pub(crate) fn utf8_text(path: &Path, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .get(..valid)
            .map_or(1, |b| b.iter().filter(|c| **c == b'\n').count() + 1);
        ConfigError::syntax(path, line, "the line is not valid UTF-8 text")
    })
}

/// Parses and validates configuration text; `file_name` is used in messages.
///
/// # Errors
/// The first syntax error, invalid value, forbidden combination or missing mandatory option.
pub fn parse_str(text: &str, file_name: &Path) -> Result<Loaded, ConfigError> {
    let doc = ini::parse_document(text, file_name)?;
    let base = Config {
        source: file_name.to_path_buf(),
        ..Config::default()
    };
    let mut builder = Builder::new(file_name, base, Mode::Main);
    for entry in &doc.entries {
        builder.apply(entry)?;
    }
    let (mut config, mut warnings) = builder.finish()?;
    warnings.extend(doc.warnings);
    for vhost in &doc.vhosts {
        let typed = config.for_vhost(vhost)?;
        warnings.extend(typed.warnings);
    }
    config.vhosts = doc.vhosts;
    warnings.sort_by_key(|w| w.line);
    Ok(Loaded { config, warnings })
}

impl Config {
    /// The typed configuration of a `[vhost:NAME]` section: this (default) configuration with
    /// the section's options applied on top. In a section, the first occurrence of a
    /// repeatable option (route, dns, auth, ...) replaces the inherited list; global options
    /// are an error.
    ///
    /// # Errors
    /// An invalid value or combination inside the section.
    pub fn for_vhost(&self, vhost: &Vhost) -> Result<Loaded, ConfigError> {
        let base = Config {
            vhosts: Vec::new(),
            ..self.clone()
        };
        let file = self.source.clone();
        let mut builder = Builder::new(&file, base, Mode::Vhost);
        for entry in &vhost.entries {
            builder.apply(entry)?;
        }
        let (config, warnings) = builder.finish()?;
        Ok(Loaded { config, warnings })
    }

    /// Looks a virtual host up by name (case-insensitive) and types it.
    ///
    /// # Errors
    /// As [`Config::for_vhost`].
    pub fn vhost_config(&self, name: &str) -> Option<Result<Loaded, ConfigError>> {
        let name = name.to_ascii_lowercase();
        self.vhosts
            .iter()
            .find(|v| v.name == name)
            .map(|v| self.for_vhost(v))
    }
}
