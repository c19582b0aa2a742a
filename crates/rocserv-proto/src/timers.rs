//! Sans-IO liveness and timeout bookkeeping for one tunnel (protocol.md §4.4, §7.3).
//!
//! The caller owns the clock: it passes `Instant`s in, calls [`TunnelTimers::poll`] whenever
//! [`TunnelTimers::next_deadline`] passes (or after any input), and acts on the returned
//! [`TimerAction`].
//!
//! Rules (ocserv's behaviour): after 2×DPD without any frame from the client, send a DPD
//! request (at most once per DPD interval); after 3×DPD of silence, the peer is dead. A session
//! is idle when no data packet that counts (see [`counts_as_activity`]) passed for the idle
//! timeout. The session deadline is absolute.

use std::time::{Duration, Instant};

/// What the tunnel should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// Nothing due.
    None,
    /// Send a CSTP DPD request.
    SendDpd,
    /// No frame from the client for 3×DPD: close the tunnel (keep the session for reconnect).
    DeadPeer,
    /// No counted data traffic for the idle timeout: disconnect.
    IdleTimeout,
    /// The absolute session lifetime is over: disconnect and invalidate the cookie.
    SessionTimeout,
}

/// Timer state for one tunnel.
#[derive(Debug, Clone)]
pub struct TunnelTimers {
    dpd: Duration,
    idle_timeout: Option<Duration>,
    session_deadline: Option<Instant>,
    last_receive: Instant,
    last_activity: Instant,
    last_dpd_sent: Option<Instant>,
}

/// How long [`TunnelTimers::next_deadline`] waits when no timer is armed.
const IDLE_POLL: Duration = Duration::from_secs(3600);

impl TunnelTimers {
    /// Starts the timers at `now`. A zero `dpd` disables DPD; `None` disables the idle
    /// timeout / session deadline.
    pub fn new(
        now: Instant,
        dpd: Duration,
        idle_timeout: Option<Duration>,
        session_deadline: Option<Instant>,
    ) -> Self {
        Self {
            dpd,
            idle_timeout: idle_timeout.filter(|d| !d.is_zero()),
            session_deadline,
            last_receive: now,
            last_activity: now,
            last_dpd_sent: None,
        }
    }

    /// Any frame (data, DPD, keepalive...) arrived from the client.
    pub fn on_receive(&mut self, now: Instant) {
        self.last_receive = self.last_receive.max(now);
        self.last_dpd_sent = None;
    }

    /// A data packet that counts for the idle timeout passed through the tunnel (in either
    /// direction; check it with [`counts_as_activity`]). Does not count as a receive.
    pub fn on_data_activity(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    fn dpd_times(&self) -> Option<(Duration, Duration)> {
        if self.dpd.is_zero() {
            return None;
        }
        Some((self.dpd.checked_mul(2)?, self.dpd.checked_mul(3)?))
    }

    /// The action due at `now`, most severe first: session timeout, dead peer, idle
    /// timeout, DPD request. Returning `SendDpd` records that it was sent.
    pub fn poll(&mut self, now: Instant) -> TimerAction {
        if self.session_deadline.is_some_and(|d| now >= d) {
            return TimerAction::SessionTimeout;
        }
        let silence = now.saturating_duration_since(self.last_receive);
        if let Some((_, dead_after)) = self.dpd_times() {
            if silence >= dead_after {
                return TimerAction::DeadPeer;
            }
        }
        if let Some(idle) = self.idle_timeout {
            if now.saturating_duration_since(self.last_activity) >= idle {
                return TimerAction::IdleTimeout;
            }
        }
        if let Some((probe_after, _)) = self.dpd_times() {
            let interval_passed = self
                .last_dpd_sent
                .is_none_or(|sent| now.saturating_duration_since(sent) >= self.dpd);
            if silence >= probe_after && interval_passed {
                self.last_dpd_sent = Some(now);
                return TimerAction::SendDpd;
            }
        }
        TimerAction::None
    }

    /// The earliest instant at which [`TunnelTimers::poll`] may return something other than
    /// `None` (an hour after the last receive when no timer is armed).
    pub fn next_deadline(&self) -> Instant {
        // Called twice per packet by the tunnel loop: a fixed array, no allocation.
        let (dead, probe) = match self.dpd_times() {
            Some((probe_after, dead_after)) => (
                self.last_receive.checked_add(dead_after),
                match self.last_dpd_sent {
                    None => self.last_receive.checked_add(probe_after),
                    Some(sent) => sent.checked_add(self.dpd),
                },
            ),
            None => (None, None),
        };
        let idle = self
            .idle_timeout
            .and_then(|idle| self.last_activity.checked_add(idle));
        [self.session_deadline, dead, probe, idle]
            .into_iter()
            .flatten()
            .min()
            .or_else(|| self.last_receive.checked_add(IDLE_POLL))
            .unwrap_or(self.last_receive)
    }
}

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_IGMP: u8 = 2;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_DSTOPTS: u8 = 60;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
/// Most IPv6 extension headers walked before giving up (and counting the packet).
const MAX_EXTENSION_HEADERS: usize = 8;

/// Whether an IP packet counts as user activity for the idle timeout: `false` for ICMP, IGMP
/// and ICMPv6 (also behind IPv6 extension headers) and for malformed packets, `true`
/// otherwise.
pub fn counts_as_activity(ip_packet: &[u8]) -> bool {
    match ip_packet.first().map(|b| b >> 4) {
        Some(4) => {
            let Some(&proto) = ip_packet.get(9) else {
                return false;
            };
            ip_packet.len() >= IPV4_MIN_HEADER && !matches!(proto, IPPROTO_ICMP | IPPROTO_IGMP)
        }
        Some(6) => {
            if ip_packet.len() < IPV6_HEADER {
                return false;
            }
            let Some(&first_next) = ip_packet.get(6) else {
                return false;
            };
            let mut next = first_next;
            let mut offset = IPV6_HEADER;
            for _ in 0..MAX_EXTENSION_HEADERS {
                match next {
                    IPPROTO_ICMPV6 => return false,
                    IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_FRAGMENT => {
                        let (Some(&nh), Some(&len)) =
                            (ip_packet.get(offset), ip_packet.get(offset + 1))
                        else {
                            return false;
                        };
                        let ext_len = if next == IPPROTO_FRAGMENT {
                            8
                        } else {
                            (usize::from(len) + 1) * 8
                        };
                        next = nh;
                        offset += ext_len;
                    }
                    _ => return true,
                }
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "timers_tests.rs"]
mod tests;
