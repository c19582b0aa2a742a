//! The typed configuration and its defaults.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::auth::{AcctMethod, AuthMethod};
use crate::ini::Vhost;
use crate::value::{RouteSpec, SelectGroup};

/// How the client is asked to refresh its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyMethod {
    /// In-place TLS renegotiation / key update.
    Ssl,
    /// The client opens a new tunnel.
    NewTunnel,
}

/// Default of `switch-to-tcp-timeout` (seconds).
pub const DEFAULT_SWITCH_TO_TCP_TIMEOUT: u32 = 25;
/// Default of `keepalive` (seconds).
pub const DEFAULT_KEEPALIVE: u32 = 32400;
/// Default of `dpd` (seconds).
pub const DEFAULT_DPD: u32 = 90;
/// Default of `mobile-dpd` (seconds).
pub const DEFAULT_MOBILE_DPD: u32 = 1800;
/// Default of `cookie-timeout` (seconds).
pub const DEFAULT_COOKIE_TIMEOUT: u32 = 300;
/// Default of `auth-timeout` (seconds).
pub const DEFAULT_AUTH_TIMEOUT: u32 = 240;
/// Default of `rekey-time` (seconds).
pub const DEFAULT_REKEY_TIME: u32 = 172_800;
/// Default of rocserv's `script-timeout` (seconds).
pub const DEFAULT_SCRIPT_TIMEOUT: u32 = 60;
/// Default of `log-level`.
pub const DEFAULT_LOG_LEVEL: u32 = 2;
/// Default of `occtl-socket-file`.
pub const DEFAULT_OCCTL_SOCKET: &str = "/var/run/occtl.socket";

/// The server configuration (the default virtual host, plus the raw `[vhost:NAME]` sections).
///
/// Every field documents its ocserv.conf key. Paths are kept as written; nothing here checks
/// that files exist (the daemon does, when it opens them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `auth` (repeatable): methods that must all succeed (AND).
    pub auth: Vec<AuthMethod>,
    /// `enable-auth` (repeatable): alternatives to the `auth` set (OR).
    pub enable_auth: Vec<AuthMethod>,
    /// `acct = "pam"` / `"pam[service=NAME]"`: a PAM account check after every login.
    /// (`radius[...]` is accepted with a warning and leaves this `None`.)
    pub acct: Option<AcctMethod>,
    /// `tcp-port` (mandatory).
    pub tcp_port: u16,
    /// `udp-port`: `None` when absent or 0 (DTLS disabled).
    pub udp_port: Option<u16>,
    /// `listen-host`: an address or host name; `None` = all addresses.
    pub listen_host: Option<String>,
    /// `udp-listen-host`: `None` = same as `listen_host`.
    pub udp_listen_host: Option<String>,
    /// `server-cert` (repeatable, mandatory), paired with `server_key` by position.
    pub server_cert: Vec<PathBuf>,
    /// `server-key` (repeatable, mandatory).
    pub server_key: Vec<PathBuf>,
    /// `ca-cert`: CA for client certificates.
    pub ca_cert: Option<PathBuf>,
    /// `crl`: revocation list for client certificates.
    pub crl: Option<PathBuf>,
    /// `cert-user-oid`: dotted OID or `SAN(rfc822name)`; required with certificate auth.
    pub cert_user_oid: Option<String>,
    /// `cert-group-oid`: dotted OID of the group RDN.
    pub cert_group_oid: Option<String>,
    /// `device` (mandatory): base name of the TUN devices.
    pub device: String,
    /// `ipv4-network` + `ipv4-netmask` (or CIDR form); host bits cleared.
    pub ipv4_network: Option<Ipv4Net>,
    /// `ipv6-network` (CIDR, or address + `ipv6-prefix`); host bits cleared.
    pub ipv6_network: Option<Ipv6Net>,
    /// `ipv6-subnet-prefix`: prefix length handed to each client (ocserv's default is 128).
    pub ipv6_subnet_prefix: Option<u8>,
    /// `route` (repeatable): split-include routes; empty = full tunnel.
    pub routes: Vec<RouteSpec>,
    /// True when `route = default` or `route = 0.0.0.0/0` was seen (then `routes` is empty).
    pub default_route: bool,
    /// `no-route` (repeatable): split-exclude routes.
    pub no_routes: Vec<RouteSpec>,
    /// `dns` / `ipv4-dns` / `ipv6-dns` (repeatable).
    pub dns: Vec<IpAddr>,
    /// `nbns` / `ipv4-nbns` / `ipv6-nbns` (repeatable).
    pub nbns: Vec<IpAddr>,
    /// `split-dns` (repeatable): domains resolved through the VPN.
    pub split_dns: Vec<String>,
    /// `tunnel-all-dns`.
    pub tunnel_all_dns: bool,
    /// `default-domain`: search domain(s), blank-separated.
    pub default_domain: Option<String>,
    /// `mtu` (576..9000): upper bound of the tunnel MTU.
    pub mtu: Option<u16>,
    /// `keepalive` (seconds, default 32400).
    pub keepalive: u32,
    /// `dpd` (seconds, default 90).
    pub dpd: u32,
    /// `mobile-dpd` (seconds, default 1800).
    pub mobile_dpd: u32,
    /// `cookie-timeout` (seconds, default 300).
    pub cookie_timeout: u32,
    /// `persistent-cookies`.
    pub persistent_cookies: bool,
    /// `max-clients` (0 = unlimited).
    pub max_clients: u32,
    /// `max-same-clients` (0 = unlimited).
    pub max_same_clients: u32,
    /// `auth-timeout` (seconds, default 240).
    pub auth_timeout: u32,
    /// `idle-timeout` (seconds); `None` when absent or 0 (disabled).
    pub idle_timeout: Option<u32>,
    /// `mobile-idle-timeout` (seconds); `None` when absent (then `idle_timeout` applies);
    /// `Some(0)` disables it for mobile clients.
    pub mobile_idle_timeout: Option<u32>,
    /// `session-timeout` (seconds); `None` when absent or 0 (disabled).
    pub session_timeout: Option<u32>,
    /// `rekey-time` (seconds, default 172800; 0 disables rekeying).
    pub rekey_time: u32,
    /// `rekey-method`; `None` when absent (advertised as new-tunnel, like ocserv).
    pub rekey_method: Option<RekeyMethod>,
    /// `connect-script`.
    pub connect_script: Option<PathBuf>,
    /// `disconnect-script`.
    pub disconnect_script: Option<PathBuf>,
    /// `host-update-script`.
    pub host_update_script: Option<PathBuf>,
    /// `script-timeout` (rocserv extension, seconds, default 60): a connect/disconnect/
    /// host-update script still running after this long is killed (and a connect script
    /// that timed out rejects the session).
    pub script_timeout: u32,
    /// `shared-tun` (rocserv extension, default false): one TUN device named `device` for
    /// every client, its packets dispatched to sessions by destination address, instead of
    /// ocserv's device per client.
    pub shared_tun: bool,
    /// `banner`: text shown after login.
    pub banner: Option<String>,
    /// `pre-login-banner`: text shown on the login form.
    pub pre_login_banner: Option<String>,
    /// `run-as-user`.
    pub run_as_user: Option<String>,
    /// `run-as-group`.
    pub run_as_group: Option<String>,
    /// `socket-file`: accepted for compatibility, not needed by rocserv.
    pub socket_file: Option<PathBuf>,
    /// `pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `isolate-workers` (old name `use-seccomp`).
    pub isolate_workers: bool,
    /// `compression` (off by default).
    pub compression: bool,
    /// `tls-priorities` (GnuTLS priority string, kept as written).
    pub tls_priorities: Option<String>,
    /// `cisco-client-compat` (also set by `always-require-cert = false`).
    pub cisco_client_compat: bool,
    /// `dtls-psk` (default true).
    pub dtls_psk: bool,
    /// `dtls-legacy` (default true).
    pub dtls_legacy: bool,
    /// `match-tls-dtls-ciphers`: the PSK DTLS cipher must be the TLS session's; no legacy DTLS.
    pub match_tls_dtls_ciphers: bool,
    /// `no-udp`: never offer DTLS (default false).
    pub no_udp: bool,
    /// `switch-to-tcp-timeout` (seconds, default 25; 0 disables): with no UDP input for this
    /// long, tunnel traffic goes over TLS until UDP resumes.
    pub switch_to_tcp_timeout: u32,
    /// `use-occtl` (old name `use-dbus`).
    pub use_occtl: bool,
    /// `occtl-socket-file` (default `/var/run/occtl.socket`).
    pub occtl_socket_file: PathBuf,
    /// `log-level` (default 2).
    pub log_level: u32,
    /// `select-group` (repeatable).
    pub select_groups: Vec<SelectGroup>,
    /// `default-select-group`: label of the "my default group" choice.
    pub default_select_group: Option<String>,
    /// `auto-select-group`.
    pub auto_select_group: bool,
    /// `select-group-by-url`: `https://vpn/GROUP` picks the group and hides the group list.
    pub select_group_by_url: bool,
    /// `max-ban-score` (default 80; 0 disables banning).
    pub max_ban_score: u32,
    /// `ban-time` (seconds, default 300).
    pub ban_time: u32,
    /// `ban-reset-time` (seconds, default 1200).
    pub ban_reset_time: u32,
    /// `ban-points-wrong-password` (default 10).
    pub ban_points_wrong_password: u32,
    /// `ban-points-connection` (default 1).
    pub ban_points_connection: u32,
    /// `predictable-ips` (default true).
    pub predictable_ips: bool,
    /// `config-per-user`: directory of per-user files.
    pub config_per_user: Option<PathBuf>,
    /// `config-per-group`: directory of per-group files.
    pub config_per_group: Option<PathBuf>,
    /// `default-user-config`: file read for users without a file in `config_per_user`
    /// (only when `config_per_user` is set, as in ocserv).
    pub default_user_config: Option<PathBuf>,
    /// `default-group-config`: file read for groups without a file in `config_per_group`
    /// (only when `config_per_group` is set and the session has a group).
    pub default_group_config: Option<PathBuf>,
    /// `append-routes`: when a per-user/per-group file gives `route`/`no-route` lines, the
    /// global lists are appended to them instead of being replaced.
    pub append_routes: bool,
    /// `[vhost:NAME]` sections, raw; see [`Config::for_vhost`].
    pub vhosts: Vec<Vhost>,
    /// The file this configuration was read from.
    pub source: PathBuf,
}

impl Default for Config {
    /// ocserv's built-in defaults; mandatory options are empty (`tcp_port` 0, no `auth`,
    /// empty `device`) and make validation fail until set.
    fn default() -> Self {
        Self {
            auth: Vec::new(),
            enable_auth: Vec::new(),
            acct: None,
            tcp_port: 0,
            udp_port: None,
            listen_host: None,
            udp_listen_host: None,
            server_cert: Vec::new(),
            server_key: Vec::new(),
            ca_cert: None,
            crl: None,
            cert_user_oid: None,
            cert_group_oid: None,
            device: String::new(),
            ipv4_network: None,
            ipv6_network: None,
            ipv6_subnet_prefix: None,
            routes: Vec::new(),
            default_route: false,
            no_routes: Vec::new(),
            dns: Vec::new(),
            nbns: Vec::new(),
            split_dns: Vec::new(),
            tunnel_all_dns: false,
            default_domain: None,
            mtu: None,
            keepalive: DEFAULT_KEEPALIVE,
            dpd: DEFAULT_DPD,
            mobile_dpd: DEFAULT_MOBILE_DPD,
            cookie_timeout: DEFAULT_COOKIE_TIMEOUT,
            persistent_cookies: false,
            max_clients: 0,
            max_same_clients: 0,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            idle_timeout: None,
            mobile_idle_timeout: None,
            session_timeout: None,
            rekey_time: DEFAULT_REKEY_TIME,
            rekey_method: None,
            connect_script: None,
            disconnect_script: None,
            host_update_script: None,
            script_timeout: DEFAULT_SCRIPT_TIMEOUT,
            shared_tun: false,
            banner: None,
            pre_login_banner: None,
            run_as_user: None,
            run_as_group: None,
            socket_file: None,
            pid_file: None,
            isolate_workers: false,
            compression: false,
            tls_priorities: None,
            cisco_client_compat: false,
            dtls_psk: true,
            dtls_legacy: true,
            match_tls_dtls_ciphers: false,
            no_udp: false,
            switch_to_tcp_timeout: DEFAULT_SWITCH_TO_TCP_TIMEOUT,
            use_occtl: false,
            occtl_socket_file: PathBuf::from(DEFAULT_OCCTL_SOCKET),
            log_level: DEFAULT_LOG_LEVEL,
            select_groups: Vec::new(),
            default_select_group: None,
            auto_select_group: false,
            select_group_by_url: false,
            max_ban_score: 80,
            ban_time: 300,
            ban_reset_time: 1200,
            ban_points_wrong_password: 10,
            ban_points_connection: 1,
            predictable_ips: true,
            config_per_user: None,
            config_per_group: None,
            default_user_config: None,
            default_group_config: None,
            append_routes: false,
            vhosts: Vec::new(),
            source: PathBuf::new(),
        }
    }
}

impl Config {
    /// All authentication methods, primary set first.
    pub fn all_auth(&self) -> impl Iterator<Item = &AuthMethod> {
        self.auth.iter().chain(self.enable_auth.iter())
    }

    /// True when certificate authentication is configured (primary or alternative).
    pub fn wants_client_cert(&self) -> bool {
        self.all_auth().any(|m| *m == AuthMethod::Certificate)
    }
}
