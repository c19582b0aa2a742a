//! Logging: to standard error (`-e`) or to syslog (the default, as ocserv), with ocserv's `-d` /
//! `log-level` verbosity scale mapped onto tracing levels. `RUST_LOG` overrides the filter.

use std::ffi::CString;
use std::io::{IsTerminal as _, Write};

use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// ocserv's scale: 0–2 info, 3 debug, 4 and above everything.
pub fn level_for(verbosity: u32) -> Level {
    match verbosity {
        0..=2 => Level::INFO,
        3 => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// One log line destined for syslog; sent when dropped.
pub struct SyslogLine {
    priority: libc::c_int,
    buf: Vec<u8>,
}

impl Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        while self.buf.last().is_some_and(|b| *b == b'\n') {
            self.buf.pop();
        }
        self.buf.retain(|b| *b != 0);
        if let Ok(msg) = CString::new(std::mem::take(&mut self.buf)) {
            // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call, and the
            // format string consumes exactly one string argument.
            unsafe { libc::syslog(self.priority, c"%s".as_ptr(), msg.as_ptr()) };
        }
    }
}

pub struct Syslog;

impl Syslog {
    fn open() -> Self {
        // SAFETY: openlog keeps the identity pointer; a 'static C string literal satisfies that.
        unsafe { libc::openlog(c"rocserv".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        Syslog
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;
    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            priority: libc::LOG_INFO,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        let priority = match *meta.level() {
            Level::ERROR => libc::LOG_ERR,
            Level::WARN => libc::LOG_WARNING,
            Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        SyslogLine {
            priority,
            buf: Vec::new(),
        }
    }
}

pub fn init(verbosity: u32, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},rustls=warn",
            level_for(verbosity).as_str().to_ascii_lowercase()
        ))
    });
    if to_stderr {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(Syslog::open())
            .with_ansi(false)
            .without_time()
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocserv_verbosity_scale() {
        assert_eq!(level_for(0), Level::INFO);
        assert_eq!(level_for(2), Level::INFO);
        assert_eq!(level_for(3), Level::DEBUG);
        assert_eq!(level_for(9), Level::TRACE);
    }
}
