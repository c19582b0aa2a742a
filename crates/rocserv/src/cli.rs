//! The command line, compatible with ocserv's (`ocserv-reference.md` §1.2).

use std::path::PathBuf;

use clap::Parser;

/// Default configuration file, as ocserv.
pub const DEFAULT_CONFIG: &str = "/etc/ocserv/ocserv.conf";

#[derive(Debug, Parser)]
#[command(
    name = "rocserv",
    version,
    about = "OpenConnect VPN server, a drop-in replacement for ocserv",
    disable_version_flag = true
)]
pub struct Cli {
    /// Do not daemonise: stay in the foreground.
    #[arg(short = 'f', long = "foreground")]
    pub foreground: bool,

    /// Configuration file (ocserv.conf syntax).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log verbosity (ocserv scale: 1 basic, 2 info, 3 debug, 4 http, 9 everything); overrides `log-level`.
    #[arg(short = 'd', long = "debug", value_name = "N")]
    pub debug: Option<u32>,

    /// Parse and check the configuration, report, and exit (0 when valid).
    #[arg(short = 't', long = "test-config")]
    pub test_config: bool,

    /// PID file (overrides `pid-file` of the configuration).
    #[arg(short = 'p', long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Log to standard error instead of syslog.
    #[arg(short = 'e', long = "log-stderr")]
    pub log_stderr: bool,

    /// Log to syslog (the default when not in the foreground with -e).
    #[arg(short = 's', long = "syslog")]
    pub syslog: bool,

    /// Run on the embedded quickstart configuration: creates a self-signed certificate and a demo user
    /// under /var/lib/rocserv/quickstart on first start and prints the openconnect command line.
    #[arg(long = "quickstart", conflicts_with = "config")]
    pub quickstart: bool,

    /// Directory used by --quickstart for its certificate, key and password file.
    #[arg(
        long = "quickstart-dir",
        value_name = "DIR",
        default_value = "/var/lib/rocserv/quickstart"
    )]
    pub quickstart_dir: PathBuf,

    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

impl Cli {
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocserv_style_flags_parse() {
        let cli = Cli::try_parse_from([
            "rocserv",
            "-f",
            "-c",
            "/tmp/x.conf",
            "-d",
            "3",
            "-e",
            "-p",
            "/run/p",
        ])
        .unwrap();
        assert!(cli.foreground && cli.log_stderr);
        assert_eq!(cli.config_path(), PathBuf::from("/tmp/x.conf"));
        assert_eq!(cli.debug, Some(3));
        assert_eq!(cli.pid_file, Some(PathBuf::from("/run/p")));
    }

    #[test]
    fn default_config_path_is_ocservs() {
        let cli = Cli::try_parse_from(["rocserv", "-t"]).unwrap();
        assert!(cli.test_config);
        assert_eq!(cli.config_path(), PathBuf::from(DEFAULT_CONFIG));
    }

    #[test]
    fn long_forms() {
        let cli = Cli::try_parse_from([
            "rocserv",
            "--foreground",
            "--config=/a",
            "--debug=9",
            "--test-config",
        ])
        .unwrap();
        assert!(cli.foreground && cli.test_config);
        assert_eq!(cli.debug, Some(9));
    }
}
