//! Sessions and cookies (DESIGN.md §5, protocol.md §7.2, ocserv-reference.md §6.2).
//!
//! A session is created when authentication succeeds and is addressed by the hash of its cookie; the
//! cookie itself is never stored. It is valid while a tunnel uses it and for `cookie-timeout` seconds
//! after the last tunnel ended; its IPv4 lease lives exactly as long as the session, so a reconnect with
//! the cookie gets the same addresses. A new CONNECT with a cookie whose tunnel is still up replaces
//! that tunnel ("session takeover").

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocserv_proto::cookie::{CookieHash, SessionCookie, COOKIE_LEN};
use tokio::sync::watch;

use crate::pool::{Ipv4Lease, Ipv4Pool, PoolError};

/// Why a tunnel is asked to stop by someone other than its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The same cookie opened a new tunnel.
    Replaced,
    /// The server is shutting down.
    Shutdown,
}

/// What the store keeps about a running tunnel: a way to stop it and to learn that it has ended.
#[derive(Debug)]
struct TunnelSlot {
    id: u64,
    stop: watch::Sender<Option<StopReason>>,
    done: watch::Receiver<bool>,
}

/// Handle to an older tunnel that must end before a new one may take its session over.
#[derive(Debug)]
pub struct Takeover {
    stop: watch::Sender<Option<StopReason>>,
    done: watch::Receiver<bool>,
}

impl Takeover {
    /// Asks the old tunnel to stop and waits (bounded) until it has released its device.
    pub async fn finish(mut self, limit: Duration) {
        let _ = self.stop.send(Some(StopReason::Replaced));
        let _ = tokio::time::timeout(limit, self.done.wait_for(|d| *d)).await;
    }
}

/// Given to a tunnel when it may start: who it is for and how it will be stopped.
#[derive(Debug)]
pub struct TunnelGrant {
    pub tunnel_id: u64,
    pub session_short_id: String,
    pub username: String,
    pub group: String,
    pub lease: Ipv4Lease,
    pub netmask: Ipv4Addr,
    pub session_deadline: Option<Instant>,
    pub stop: watch::Receiver<Option<StopReason>>,
    /// Set to true by the tunnel when it has fully ended (device removed).
    pub done: watch::Sender<bool>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired or invalidated cookie: 401, the client gives up.
    BadCookie,
    /// `session-timeout` is over.
    SessionExpired,
    /// `max-same-clients` reached for this user.
    TooManySessions { max: u32 },
    /// No IPv4 address left in the pool: 503, the client may retry later.
    PoolExhausted,
    /// The user's `explicit-ipv4` is leased to another session.
    AddressInUse(Ipv4Addr),
    /// The pool cannot serve this session (no IPv4 pool configured).
    NoPool,
}

#[derive(Debug)]
pub enum Claim {
    Granted(TunnelGrant),
    Takeover(Takeover),
    Refused(Refusal),
}

#[derive(Debug)]
enum State {
    /// No tunnel; the cookie stays valid until `expires`.
    Idle {
        expires: Instant,
    },
    Connected(TunnelSlot),
}

#[derive(Debug)]
struct Session {
    username: String,
    group: String,
    /// When authentication succeeded: `session-timeout` counts from here, not from a reconnect.
    created: Instant,
    /// SHA-256 of the client certificate the login used, if any.
    cert_fingerprint: Option<[u8; 32]>,
    session_deadline: Option<Instant>,
    lease: Option<Ipv4Lease>,
    state: State,
}

struct Inner {
    sessions: HashMap<CookieHash, Session>,
    pool: Option<Ipv4Pool>,
    next_tunnel_id: u64,
}

pub struct SessionStore {
    inner: Mutex<Inner>,
    cookie_timeout: Duration,
    session_timeout: Option<Duration>,
}

/// The limits that apply to one user's tunnel (global values, overridden by per-user and
/// per-group files).
#[derive(Debug, Clone, Default)]
pub struct ClaimPolicy {
    /// `max-same-clients` (0 = unlimited).
    pub max_same_clients: u32,
    /// `explicit-ipv4`: lease exactly this address.
    pub explicit_ipv4: Option<Ipv4Addr>,
    /// `session-timeout`, counted from the login.
    pub session_timeout: Option<Duration>,
}

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    pub username: String,
    pub group: String,
    /// SHA-256 of the client certificate the login used, if any.
    pub cert_fingerprint: Option<[u8; 32]>,
}

/// What the caller needs to create a session.
pub struct NewSession<'a> {
    pub username: &'a str,
    pub group: &'a str,
    /// SHA-256 of the client certificate the login used, if any.
    pub cert_fingerprint: Option<[u8; 32]>,
}

impl SessionStore {
    pub fn new(
        pool: Option<Ipv4Pool>,
        cookie_timeout: Duration,
        session_timeout: Option<Duration>,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                pool,
                next_tunnel_id: 1,
            }),
            cookie_timeout,
            session_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a session for an authenticated user. `random` must come from a CSPRNG.
    pub fn create(
        &self,
        new: NewSession<'_>,
        random: [u8; COOKIE_LEN],
        now: Instant,
    ) -> SessionCookie {
        let cookie = SessionCookie::from_bytes(random);
        let session = Session {
            username: new.username.to_owned(),
            group: new.group.to_owned(),
            created: now,
            cert_fingerprint: new.cert_fingerprint,
            session_deadline: self.session_timeout.map(|t| now + t),
            lease: None,
            state: State::Idle {
                expires: now + self.cookie_timeout,
            },
        };
        self.lock().sessions.insert(cookie.hash(), session);
        cookie
    }

    /// Number of sessions of `username` with a live tunnel, other than `except`.
    fn live_sessions_of(inner: &Inner, username: &str, except: &CookieHash) -> usize {
        inner
            .sessions
            .iter()
            .filter(|(h, s)| {
                *h != except && s.username == username && matches!(s.state, State::Connected(_))
            })
            .count()
    }

    /// Who a session belongs to (for its per-user/per-group configuration and certificate checks).
    pub fn identity(&self, hash: &CookieHash) -> Option<SessionIdentity> {
        let guard = self.lock();
        guard.sessions.get(hash).map(|s| SessionIdentity {
            username: s.username.clone(),
            group: s.group.clone(),
            cert_fingerprint: s.cert_fingerprint,
        })
    }

    /// Tries to start a tunnel for the session of `hash` under the user's effective `policy`.
    /// `seed` is random (for non-predictable leases).
    pub fn claim(&self, hash: &CookieHash, now: Instant, seed: u64, policy: &ClaimPolicy) -> Claim {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(session) = inner.sessions.get(hash) else {
            return Claim::Refused(Refusal::BadCookie);
        };
        if let State::Idle { expires } = session.state {
            if expires <= now {
                Self::remove_locked(inner, hash);
                return Claim::Refused(Refusal::BadCookie);
            }
        }
        let deadline = match policy.session_timeout {
            Some(t) => Some(session.created + t),
            None => session.session_deadline,
        };
        if deadline.is_some_and(|d| d <= now) {
            if !matches!(session.state, State::Connected(_)) {
                Self::remove_locked(inner, hash);
            }
            return Claim::Refused(Refusal::SessionExpired);
        }
        if let State::Connected(slot) = &session.state {
            if !*slot.done.borrow() {
                return Claim::Takeover(Takeover {
                    stop: slot.stop.clone(),
                    done: slot.done.clone(),
                });
            }
        }
        let username = session.username.clone();
        let max = policy.max_same_clients;
        if max > 0 && Self::live_sessions_of(inner, &username, hash) >= max as usize {
            return Claim::Refused(Refusal::TooManySessions { max });
        }
        let Some(pool) = inner.pool.as_mut() else {
            return Claim::Refused(Refusal::NoPool);
        };
        let netmask = pool.netmask();
        let lease = match inner.sessions.get(hash).and_then(|s| s.lease) {
            Some(lease) => lease,
            None => {
                let leased = match policy.explicit_ipv4 {
                    Some(addr) => pool.allocate_explicit(addr),
                    None => pool.allocate(&username, seed),
                };
                match leased {
                    Ok(lease) => lease,
                    Err(PoolError::Exhausted) => return Claim::Refused(Refusal::PoolExhausted),
                    Err(PoolError::InUse(a)) => return Claim::Refused(Refusal::AddressInUse(a)),
                    Err(_) => return Claim::Refused(Refusal::PoolExhausted),
                }
            }
        };
        let tunnel_id = inner.next_tunnel_id;
        inner.next_tunnel_id += 1;
        let (stop_tx, stop_rx) = watch::channel(None);
        let (done_tx, done_rx) = watch::channel(false);
        let Some(session) = inner.sessions.get_mut(hash) else {
            return Claim::Refused(Refusal::BadCookie);
        };
        session.lease = Some(lease);
        session.session_deadline = deadline;
        session.state = State::Connected(TunnelSlot {
            id: tunnel_id,
            stop: stop_tx,
            done: done_rx,
        });
        Claim::Granted(TunnelGrant {
            tunnel_id,
            session_short_id: hash.short_id(),
            username,
            group: session.group.clone(),
            lease,
            netmask,
            session_deadline: session.session_deadline,
            stop: stop_rx,
            done: done_tx,
        })
    }

    /// A tunnel ended. `invalidate` ends the session too (user logout, session timeout); otherwise the
    /// cookie stays valid for `cookie-timeout`. Does nothing if another tunnel took the session over.
    pub fn end_tunnel(&self, hash: &CookieHash, tunnel_id: u64, invalidate: bool, now: Instant) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(session) = inner.sessions.get_mut(hash) else {
            return;
        };
        match &session.state {
            State::Connected(slot) if slot.id == tunnel_id => {}
            _ => return,
        }
        if invalidate {
            Self::remove_locked(inner, hash);
        } else {
            session.state = State::Idle {
                expires: now + self.cookie_timeout,
            };
        }
    }

    /// Forgets a session (and frees its lease) unless a tunnel uses it.
    pub fn invalidate(&self, hash: &CookieHash) {
        let mut guard = self.lock();
        Self::remove_locked(&mut guard, hash);
    }

    fn remove_locked(inner: &mut Inner, hash: &CookieHash) {
        if let Some(s) = inner.sessions.remove(hash) {
            if let (Some(lease), Some(pool)) = (s.lease, inner.pool.as_mut()) {
                pool.release(lease.remote);
            }
        }
    }

    /// Drops expired idle sessions and frees their leases. Returns how many were removed.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let expired: Vec<CookieHash> = inner
            .sessions
            .iter()
            .filter(|(_, s)| match s.state {
                State::Idle { expires } => {
                    expires <= now || s.session_deadline.is_some_and(|d| d <= now)
                }
                State::Connected(_) => false,
            })
            .map(|(h, _)| *h)
            .collect();
        for h in &expired {
            Self::remove_locked(inner, h);
        }
        expired.len()
    }

    /// Asks every live tunnel to stop (server shutdown).
    pub fn stop_all(&self, reason: StopReason) -> Vec<watch::Receiver<bool>> {
        let guard = self.lock();
        guard
            .sessions
            .values()
            .filter_map(|s| match &s.state {
                State::Connected(slot) => {
                    let _ = slot.stop.send(Some(reason));
                    Some(slot.done.clone())
                }
                State::Idle { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
impl SessionStore {
    fn len(&self) -> usize {
        self.lock().sessions.len()
    }
    fn connected(&self) -> usize {
        self.lock()
            .sessions
            .values()
            .filter(|s| matches!(s.state, State::Connected(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store and the policy its tests claim with.
    struct Store {
        s: SessionStore,
        policy: ClaimPolicy,
    }

    impl std::ops::Deref for Store {
        type Target = SessionStore;
        fn deref(&self) -> &SessionStore {
            &self.s
        }
    }

    impl Store {
        fn claim(&self, h: &CookieHash, now: Instant, seed: u64) -> Claim {
            self.s.claim(h, now, seed, &self.policy)
        }
    }

    fn store(max_same: u32) -> Store {
        let pool = Ipv4Pool::new("10.9.0.0/29".parse().unwrap(), true).unwrap();
        Store {
            s: SessionStore::new(Some(pool), Duration::from_secs(300), None),
            policy: ClaimPolicy {
                max_same_clients: max_same,
                ..ClaimPolicy::default()
            },
        }
    }

    fn new_session(s: &SessionStore, user: &str, byte: u8, now: Instant) -> CookieHash {
        let c = s.create(
            NewSession {
                username: user,
                group: "",
                cert_fingerprint: None,
            },
            [byte; COOKIE_LEN],
            now,
        );
        c.hash()
    }

    fn grant(c: Claim) -> TunnelGrant {
        match c {
            Claim::Granted(g) => g,
            other => panic!("expected grant, got {other:?}"),
        }
    }

    #[test]
    fn unknown_cookie_is_refused() {
        let s = store(0);
        let h = SessionCookie::from_bytes([7; COOKIE_LEN]).hash();
        assert!(matches!(
            s.claim(&h, Instant::now(), 1),
            Claim::Refused(Refusal::BadCookie)
        ));
    }

    #[test]
    fn reconnect_gets_the_same_lease_and_logout_invalidates() {
        let s = store(0);
        let now = Instant::now();
        let h = new_session(&s, "alice", 1, now);
        let g1 = grant(s.claim(&h, now, 1));
        let _ = g1.done.send(true);
        s.end_tunnel(&h, g1.tunnel_id, false, now);
        let g2 = grant(s.claim(&h, now + Duration::from_secs(10), 2));
        assert_eq!(g1.lease.remote, g2.lease.remote);
        assert_ne!(g1.tunnel_id, g2.tunnel_id);
        let _ = g2.done.send(true);
        s.end_tunnel(&h, g2.tunnel_id, true, now);
        assert!(matches!(
            s.claim(&h, now, 3),
            Claim::Refused(Refusal::BadCookie)
        ));
    }

    #[test]
    fn cookie_expires_after_cookie_timeout_once_idle() {
        let s = store(0);
        let now = Instant::now();
        let h = new_session(&s, "alice", 1, now);
        let g = grant(s.claim(&h, now, 1));
        // valid for as long as the tunnel runs
        assert_eq!(s.sweep(now + Duration::from_secs(10_000)), 0);
        let _ = g.done.send(true);
        let end = now + Duration::from_secs(10_000);
        s.end_tunnel(&h, g.tunnel_id, false, end);
        assert_eq!(s.sweep(end + Duration::from_secs(299)), 0);
        assert_eq!(s.sweep(end + Duration::from_secs(301)), 1);
        assert!(matches!(
            s.claim(&h, end, 1),
            Claim::Refused(Refusal::BadCookie)
        ));
    }

    #[test]
    fn live_tunnel_is_taken_over() {
        let s = store(0);
        let now = Instant::now();
        let h = new_session(&s, "alice", 1, now);
        let g = grant(s.claim(&h, now, 1));
        assert!(matches!(s.claim(&h, now, 1), Claim::Takeover(_)));
        // once the old tunnel reports done, the claim succeeds and the old end_tunnel is ignored
        let _ = g.done.send(true);
        let g2 = grant(s.claim(&h, now, 1));
        s.end_tunnel(&h, g.tunnel_id, true, now);
        assert_eq!(s.len(), 1);
        assert_eq!(g2.lease.remote, g.lease.remote);
    }

    #[test]
    fn max_same_clients_counts_other_sessions() {
        let s = store(1);
        let now = Instant::now();
        let a = new_session(&s, "alice", 1, now);
        let b = new_session(&s, "alice", 2, now);
        let _ga = grant(s.claim(&a, now, 1));
        assert_eq!(
            match s.claim(&b, now, 1) {
                Claim::Refused(r) => r,
                other => panic!("{other:?}"),
            },
            Refusal::TooManySessions { max: 1 }
        );
        let other_user = new_session(&s, "bob", 3, now);
        grant(s.claim(&other_user, now, 1));
    }

    #[test]
    fn pool_exhaustion_refuses_only_the_new_client() {
        let s = store(0); // /29: 8 addresses - network, local, broadcast = 5 clients
        let now = Instant::now();
        let mut grants = Vec::new();
        for i in 0..5u8 {
            let h = new_session(&s, &format!("u{i}"), i + 1, now);
            grants.push(grant(s.claim(&h, now, u64::from(i))));
        }
        let h = new_session(&s, "late", 99, now);
        assert!(matches!(
            s.claim(&h, now, 7),
            Claim::Refused(Refusal::PoolExhausted)
        ));
        assert_eq!(s.connected(), 5);
    }

    #[test]
    fn session_timeout_refuses_reconnect() {
        let pool = Ipv4Pool::new("10.9.0.0/29".parse().unwrap(), true).unwrap();
        let s = SessionStore::new(
            Some(pool),
            Duration::from_secs(300),
            Some(Duration::from_secs(60)),
        );
        let now = Instant::now();
        let h = new_session(&s, "alice", 1, now);
        assert!(matches!(
            s.claim(
                &h,
                now + Duration::from_secs(61),
                1,
                &ClaimPolicy::default()
            ),
            Claim::Refused(Refusal::SessionExpired)
        ));
    }

    #[test]
    fn per_user_session_timeout_counts_from_the_login() {
        let s = store(0);
        let now = Instant::now();
        let h = new_session(&s, "alice", 1, now);
        let policy = ClaimPolicy {
            session_timeout: Some(Duration::from_secs(30)),
            ..ClaimPolicy::default()
        };
        let g = grant(s.s.claim(&h, now + Duration::from_secs(10), 1, &policy));
        assert_eq!(g.session_deadline, Some(now + Duration::from_secs(30)));
        let _ = g.done.send(true);
        s.end_tunnel(&h, g.tunnel_id, false, now + Duration::from_secs(20));
        assert!(matches!(
            s.s.claim(&h, now + Duration::from_secs(31), 1, &policy),
            Claim::Refused(Refusal::SessionExpired)
        ));
    }

    #[test]
    fn explicit_address_is_leased_and_kept_exclusive() {
        let s = store(0);
        let now = Instant::now();
        let a = new_session(&s, "alice", 1, now);
        let b = new_session(&s, "bob", 2, now);
        let fixed: Ipv4Addr = "10.9.0.5".parse().unwrap();
        let policy = ClaimPolicy {
            explicit_ipv4: Some(fixed),
            ..ClaimPolicy::default()
        };
        let g = grant(s.s.claim(&a, now, 1, &policy));
        assert_eq!(g.lease.remote, fixed);
        assert!(
            matches!(s.s.claim(&b, now, 1, &policy), Claim::Refused(Refusal::AddressInUse(x)) if x == fixed)
        );
        assert_eq!(s.identity(&a).map(|i| i.username), Some("alice".into()));
    }
}
