//! Per-user and per-group files on a real file system: lookup, defaults, combination,
//! path traversal, errors.

// Test helpers outside #[test] functions may fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ipnet::IpNet;
use rocserv_config::{
    check_name, load_user_config, parse_str, resolve, Config, ConfigError, NameKind, PerUserFiles,
    UserConfig, MAX_USER_FILE,
};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "rocserv-config-per-user-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("users")).unwrap();
        fs::create_dir_all(dir.join("groups")).unwrap();
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::write(&p, text).unwrap();
        p
    }

    /// A main configuration using this directory; `extra` lines are appended.
    fn config(&self, extra: &str) -> Config {
        let text = format!(
            "auth = pam\ntcp-port = 443\nserver-cert = c\nserver-key = k\ndevice = vpns\n\
             ipv4-network = 10.10.0.0/24\nroute = 10.0.0.0/8\ndns = 10.10.0.1\n\
             config-per-user = {}\nconfig-per-group = {}\n{extra}",
            self.path("users").display(),
            self.path("groups").display()
        );
        parse_str(&text, Path::new("/etc/ocserv/ocserv.conf"))
            .unwrap()
            .config
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ok(cfg: &Config, user: &str, group: Option<&str>) -> UserConfig {
    match resolve(cfg, user, group) {
        Ok((u, _)) => u,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err(cfg: &Config, user: &str, group: Option<&str>) -> ConfigError {
    match resolve(cfg, user, group) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

fn nets(routes: &Option<Vec<rocserv_config::RouteSpec>>) -> Vec<IpNet> {
    routes.iter().flatten().map(|r| r.net).collect()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn group_then_user_combined() {
    let s = Scratch::new();
    let g = s.write(
        "groups/staff",
        "route = 10.1.0.0/16\ndns = 10.1.0.53\ndpd = 60\nmtu = 1300\nno-udp = true\n",
    );
    let u = s.write(
        "users/alice",
        "route = 10.2.0.0/16\ndpd = 30\nno-udp = false\nexplicit-ipv4 = 10.10.0.9\n",
    );
    let cfg = s.config("");
    let user = ok(&cfg, "alice", Some("staff"));
    assert_eq!(user.files, vec![g, u.clone()]);
    assert_eq!(
        nets(&user.routes),
        vec![net("10.1.0.0/16"), net("10.2.0.0/16")]
    );
    assert_eq!(user.dpd, Some(30), "the user file wins");
    assert_eq!(
        user.mtu,
        Some(1300),
        "group value kept when the user file is silent"
    );
    assert_eq!(user.no_udp, Some(false));
    let e = user.effective(&cfg).unwrap();
    assert_eq!(e.routes.len(), 2, "the global route is replaced");
    assert_eq!(e.dns, vec!["10.1.0.53".parse::<IpAddr>().unwrap()]);
    assert_eq!(e.explicit_ipv4, Some("10.10.0.9".parse().unwrap()));
    assert_eq!(user.origins["dpd"].file, u);
}

#[test]
fn no_group_skips_the_group_step() {
    let s = Scratch::new();
    s.write("users/bob", "dpd = 30\n");
    let d = s.write("default-group", "mtu = 1300\n");
    let cfg = s.config(&format!("default-group-config = {}\n", d.display()));
    for group in [None, Some("")] {
        let user = ok(&cfg, "bob", group);
        assert_eq!(user.dpd, Some(30));
        assert_eq!(user.mtu, None, "no group: default-group-config not read");
        assert_eq!(user.files.len(), 1);
    }
    // With a group that has no file, the default group file applies.
    let user = ok(&cfg, "bob", Some("nobody-group"));
    assert_eq!(user.mtu, Some(1300));
    assert_eq!(user.files[0], d);
}

#[test]
fn defaults_apply_only_when_no_specific_file_exists() {
    let s = Scratch::new();
    s.write("users/carol", "dpd = 30\n");
    let d = s.write("default-user", "dpd = 99\nkeepalive = 10\n");
    let cfg = s.config(&format!("default-user-config = {}\n", d.display()));
    let user = ok(&cfg, "carol", None);
    assert_eq!(user.dpd, Some(30));
    assert_eq!(
        user.keepalive, None,
        "the default is not merged into a specific file"
    );
    let user = ok(&cfg, "dave", None);
    assert_eq!(user.dpd, Some(99));
    assert_eq!(user.files, vec![d]);
}

#[test]
fn missing_files_without_defaults_give_an_empty_config() {
    let s = Scratch::new();
    let cfg = s.config("");
    let (user, warnings) = resolve(&cfg, "erin", Some("nogroup")).unwrap();
    assert!(user.is_empty() && user.files.is_empty() && warnings.is_empty());
    assert_eq!(
        user.effective(&cfg).unwrap().routes[0].net,
        net("10.0.0.0/8")
    );
}

#[test]
fn unreadable_or_missing_configured_default_is_an_error() {
    let s = Scratch::new();
    let missing = s.path("no-such-default");
    let cfg = s.config(&format!("default-user-config = {}\n", missing.display()));
    let e = err(&cfg, "frank", None);
    assert_eq!(e.key.as_deref(), Some("default-user-config"));
    assert_eq!(e.file, missing);
    assert!(
        e.message.contains("cannot be used") && e.message.contains("cannot read"),
        "{e}"
    );
    // A directory cannot be read as a file either.
    let dir = s.path("users");
    let cfg = s.config(&format!("default-group-config = {}\n", dir.display()));
    let e = err(&cfg, "frank", Some("staff"));
    assert_eq!(e.key.as_deref(), Some("default-group-config"), "{e}");
}

#[test]
fn a_directory_named_like_the_user_is_an_error() {
    let s = Scratch::new();
    fs::create_dir_all(s.path("users/gina")).unwrap();
    let e = err(&s.config(""), "gina", None);
    assert!(e.message.contains("not a regular file"), "{e}");
}

#[test]
fn traversal_names_are_refused_before_any_file_is_read() {
    let s = Scratch::new();
    // A file that "../escape" would reach from the groups directory.
    s.write("escape", "dpd = 1\n");
    let cfg = s.config("");
    let long = "x".repeat(256);
    for name in [
        "../escape",
        "a/b",
        ".",
        "..",
        "",
        "a\0b",
        "a\nb",
        "/etc/passwd",
        long.as_str(),
    ] {
        let e = err(&cfg, name, None);
        assert_eq!(e.key.as_deref(), Some("config-per-user"), "{name:?}");
        assert!(
            e.message.contains("path traversal refused"),
            "{name:?}: {e}"
        );
        assert!(!e.to_string().contains('\n') && !e.to_string().contains('\0'));
        if !name.is_empty() {
            // An empty group means "no group" (the group step is skipped, as in ocserv).
            let e = err(&cfg, "alice", Some(name));
            assert_eq!(e.key.as_deref(), Some("config-per-group"), "{name:?}");
        }
    }
    let e = err(&cfg, "alice", Some("../escape"));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: group name '../escape' cannot be used to look up a per-group file: it \
             contains '/' (path traversal refused; the session is rejected)",
            s.path("groups").display()
        )
    );
    assert!(err(&cfg, "", None).message.contains("it is empty"));
    // Ordinary names, dots inside included, are fine.
    for name in ["alice", "a.b", ".hidden", "user@example.com", "Ümlaut"] {
        check_name(NameKind::User, name, Path::new("/d")).unwrap();
    }
}

#[test]
fn names_are_not_checked_when_no_directory_is_configured() {
    let cfg = parse_str(
        "auth = pam\ntcp-port = 443\nserver-cert = c\nserver-key = k\ndevice = vpns\n\
         ipv4-network = 10.10.0.0/24\n",
        Path::new("x.conf"),
    )
    .unwrap()
    .config;
    assert!(!PerUserFiles::new(&cfg).is_enabled());
    let (user, _) = resolve(&cfg, "../x", Some("../y")).unwrap();
    assert!(user.is_empty());
}

#[test]
fn wrong_scope_key_in_a_group_file_rejects_with_file_line_key() {
    let s = Scratch::new();
    let g = s.write("groups/staff", "dpd = 60\n\ntcp-port = 443\n");
    let e = err(&s.config(""), "alice", Some("staff"));
    assert_eq!(
        (e.file, e.line, e.key.as_deref()),
        (g, Some(3), Some("tcp-port"))
    );
}

#[test]
fn warnings_name_the_per_user_file() {
    let s = Scratch::new();
    let u = s.write("users/hank", "cgroup = cpu:x\ndpd = 5\n");
    let (user, warnings) = resolve(&s.config(""), "hank", None).unwrap();
    assert_eq!(user.dpd, Some(5));
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].file, u);
    assert_eq!(
        warnings[0].to_string(),
        format!("{}:1: unknown option 'cgroup'; ignored", u.display())
    );
}

#[test]
fn files_are_read_at_every_resolve() {
    let s = Scratch::new();
    s.write("users/ivy", "dpd = 5\n");
    let cfg = s.config("");
    assert_eq!(ok(&cfg, "ivy", None).dpd, Some(5));
    s.write("users/ivy", "dpd = 6\n");
    assert_eq!(ok(&cfg, "ivy", None).dpd, Some(6));
    fs::remove_file(s.path("users/ivy")).unwrap();
    assert_eq!(ok(&cfg, "ivy", None).dpd, None);
}

#[test]
fn load_user_config_errors() {
    let s = Scratch::new();
    let e = load_user_config(&s.path("missing")).unwrap_err();
    assert!(e.message.starts_with("cannot read the file"), "{e}");
    let p = s.path("latin1");
    fs::write(&p, b"dpd = 5\nhostname = caf\xe9\n").unwrap();
    let e = load_user_config(&p).unwrap_err();
    assert_eq!(e.line, Some(2));
    let big = s.path("big");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let n = usize::try_from(MAX_USER_FILE).unwrap() / line.len() + 2;
    fs::write(&big, line.repeat(n)).unwrap();
    let e = load_user_config(&big).unwrap_err();
    assert!(e.message.contains("larger than"), "{e}");
}

#[test]
fn main_file_keys_for_per_user_files() {
    let base = "auth = pam\ntcp-port = 443\nserver-cert = c\nserver-key = k\ndevice = vpns\n\
                ipv4-network = 10.10.0.0/24\n";
    let l = parse_str(
        &format!("{base}config-per-user = /u\ndefault-user-config = /du\nappend-routes = true\n"),
        Path::new("x.conf"),
    )
    .unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.config.default_user_config, Some(PathBuf::from("/du")));
    assert!(l.config.append_routes);
    let l = parse_str(
        &format!("{base}default-group-config = /dg\n"),
        Path::new("x.conf"),
    )
    .unwrap();
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(l.warnings[0].line, 7);
    assert!(l.warnings[0]
        .message
        .contains("no effect without 'config-per-group'"));
    let e = parse_str(
        &format!("{base}append-routes = perhaps\n"),
        Path::new("x.conf"),
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("append-routes"));
}

#[test]
fn vhost_settings_are_used_for_vhost_sessions() {
    let s = Scratch::new();
    s.write("groups/staff", "dpd = 7\n");
    let text = format!(
        "auth = pam\ntcp-port = 443\nserver-cert = c\nserver-key = k\ndevice = vpns\n\
         ipv4-network = 10.10.0.0/24\n[vhost:v.example]\nconfig-per-group = {}\n",
        s.path("groups").display()
    );
    let cfg = parse_str(&text, Path::new("x.conf")).unwrap().config;
    assert!(ok(&cfg, "alice", Some("staff")).is_empty());
    let vhost = cfg.vhost_config("v.example").unwrap().unwrap().config;
    assert_eq!(ok(&vhost, "alice", Some("staff")).dpd, Some(7));
}
