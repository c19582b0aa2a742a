//! Ban scores per client address (ocserv-reference.md §6.3): points for every new connection and
//! every failed login; an address whose score reaches `max-ban-score` is refused for `ban-time`;
//! a score is forgotten `ban-reset-time` after its last point unless the address is banned.
//! IPv6 addresses are scored per /64. Loopback addresses are never banned (health checks).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on tracked addresses; beyond it the oldest entries are dropped first.
const MAX_ENTRIES: usize = 65536;

#[derive(Debug, Clone, Copy)]
pub struct BanPolicy {
    pub max_score: u32,
    pub ban_time: Duration,
    pub reset_time: Duration,
    pub points_wrong_password: u32,
    pub points_connection: u32,
}

impl BanPolicy {
    pub fn from_config(cfg: &rocserv_config::Config) -> Self {
        Self {
            max_score: cfg.max_ban_score,
            ban_time: Duration::from_secs(u64::from(cfg.ban_time)),
            reset_time: Duration::from_secs(u64::from(cfg.ban_reset_time)),
            points_wrong_password: cfg.ban_points_wrong_password,
            points_connection: cfg.ban_points_connection,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    score: u32,
    last: Instant,
    banned_until: Option<Instant>,
}

/// The address a score belongs to: IPv4 as is, IPv6 by /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

pub struct Bans {
    policy: BanPolicy,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl Bans {
    pub fn new(policy: BanPolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self, ip: IpAddr) -> bool {
        self.policy.max_score > 0 && !ip.is_loopback()
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        if !self.enabled(ip) {
            return false;
        }
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key(ip))
            .and_then(|e| e.banned_until)
            .is_some_and(|u| u > now)
    }

    /// Adds points; returns true when this made the address banned.
    fn add(&self, ip: IpAddr, points: u32, now: Instant) -> bool {
        if !self.enabled(ip) || points == 0 {
            return false;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key(ip)) {
            Self::expire(&mut map, &self.policy, now);
            if map.len() >= MAX_ENTRIES {
                if let Some(oldest) = map.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let e = map.entry(key(ip)).or_insert(Entry {
            score: 0,
            last: now,
            banned_until: None,
        });
        if e.banned_until.is_some_and(|u| u > now) {
            // Attempts while banned do not extend the ban.
            return false;
        }
        if e.banned_until.is_some()
            || now.saturating_duration_since(e.last) >= self.policy.reset_time
        {
            *e = Entry {
                score: 0,
                last: now,
                banned_until: None,
            };
        }
        e.score = e.score.saturating_add(points);
        e.last = now;
        if e.score >= self.policy.max_score {
            e.banned_until = Some(now + self.policy.ban_time);
            return true;
        }
        false
    }

    pub fn connection(&self, ip: IpAddr, now: Instant) -> bool {
        self.add(ip, self.policy.points_connection, now)
    }

    pub fn failed_login(&self, ip: IpAddr, now: Instant) -> bool {
        self.add(ip, self.policy.points_wrong_password, now)
    }

    fn expire(map: &mut HashMap<IpAddr, Entry>, policy: &BanPolicy, now: Instant) {
        map.retain(|_, e| match e.banned_until {
            Some(u) => u > now,
            None => now.saturating_duration_since(e.last) < policy.reset_time,
        });
    }

    /// Forgets ended bans and stale scores.
    pub fn sweep(&self, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Self::expire(&mut map, &self.policy, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bans() -> Bans {
        Bans::new(BanPolicy {
            max_score: 80,
            ban_time: Duration::from_secs(300),
            reset_time: Duration::from_secs(1200),
            points_wrong_password: 10,
            points_connection: 1,
        })
    }

    #[test]
    fn eight_wrong_passwords_ban_for_ban_time() {
        let b = bans();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Instant::now();
        for i in 0..7 {
            assert!(!b.failed_login(ip, now), "attempt {i}");
        }
        assert!(!b.is_banned(ip, now));
        assert!(b.failed_login(ip, now));
        assert!(b.is_banned(ip, now + Duration::from_secs(299)));
        // attempts while banned do not extend it
        b.failed_login(ip, now + Duration::from_secs(200));
        assert!(!b.is_banned(ip, now + Duration::from_secs(301)));
        // after the ban the score starts over
        assert!(!b.failed_login(ip, now + Duration::from_secs(302)));
        assert!(!b.is_banned(ip, now + Duration::from_secs(302)));
    }

    #[test]
    fn scores_reset_after_ban_reset_time() {
        let b = bans();
        let ip: IpAddr = "192.0.2.8".parse().unwrap();
        let now = Instant::now();
        for _ in 0..7 {
            b.failed_login(ip, now);
        }
        assert!(!b.failed_login(ip, now + Duration::from_secs(1300)));
        assert!(!b.is_banned(ip, now + Duration::from_secs(1300)));
    }

    #[test]
    fn ipv6_is_scored_per_64_and_loopback_never() {
        let b = bans();
        let now = Instant::now();
        for i in 0..8u16 {
            b.failed_login(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i + 1)),
                now,
            );
        }
        assert!(b.is_banned("2001:db8:1:2::ffff".parse().unwrap(), now));
        assert!(!b.is_banned("2001:db8:1:3::1".parse().unwrap(), now));
        for _ in 0..20 {
            b.failed_login("127.0.0.1".parse().unwrap(), now);
        }
        assert!(!b.is_banned("127.0.0.1".parse().unwrap(), now));
    }

    #[test]
    fn zero_max_score_disables() {
        let b = Bans::new(BanPolicy {
            max_score: 0,
            ..bans().policy
        });
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..100 {
            b.failed_login(ip, Instant::now());
        }
        assert!(!b.is_banned(ip, Instant::now()));
    }
}
