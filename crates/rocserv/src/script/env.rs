//! The environment handed to a script (ocserv-reference §3.2).

use std::fmt;

use super::ScriptReason;

/// `PATH` given to scripts (nothing else is inherited from the server's environment).
pub const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

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
    #[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
