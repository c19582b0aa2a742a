use super::*;

const DPD: Duration = Duration::from_secs(90);

/// An arbitrary origin for the fake clock; only offsets from it matter.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn dpd_probe_then_dead_peer() {
    let t0 = base();
    let mut t = TunnelTimers::new(t0, DPD, None, None);
    assert_eq!(t.next_deadline(), t0 + secs(180));
    assert_eq!(t.poll(t0 + secs(179)), TimerAction::None);
    assert_eq!(t.poll(t0 + secs(180)), TimerAction::SendDpd);
    // At most one probe per DPD interval.
    assert_eq!(t.poll(t0 + secs(200)), TimerAction::None);
    assert_eq!(t.next_deadline(), t0 + secs(270));
    assert_eq!(t.poll(t0 + secs(269)), TimerAction::None);
    assert_eq!(t.poll(t0 + secs(270)), TimerAction::DeadPeer);
}

#[test]
fn probe_repeats_each_interval_until_dead() {
    let t0 = base();
    let mut t = TunnelTimers::new(t0, secs(10), None, None);
    assert_eq!(t.poll(t0 + secs(20)), TimerAction::SendDpd);
    assert_eq!(t.next_deadline(), t0 + secs(30));
    assert_eq!(t.poll(t0 + secs(29)), TimerAction::None);
    // At 30 s the peer is dead (3×DPD), which wins over a second probe.
    assert_eq!(t.poll(t0 + secs(30)), TimerAction::DeadPeer);

    let mut t = TunnelTimers::new(t0, secs(10), None, None);
    assert_eq!(t.poll(t0 + secs(21)), TimerAction::SendDpd);
    // Late polling: a receive resets everything.
    t.on_receive(t0 + secs(25));
    assert_eq!(t.poll(t0 + secs(44)), TimerAction::None);
    assert_eq!(t.poll(t0 + secs(45)), TimerAction::SendDpd);
}

#[test]
fn receive_resets_dpd() {
    let t0 = base();
    let mut t = TunnelTimers::new(t0, DPD, None, None);
    assert_eq!(t.poll(t0 + secs(180)), TimerAction::SendDpd);
    t.on_receive(t0 + secs(181));
    assert_eq!(t.poll(t0 + secs(270)), TimerAction::None);
    assert_eq!(t.next_deadline(), t0 + secs(361));
    assert_eq!(t.poll(t0 + secs(361)), TimerAction::SendDpd);
}

#[test]
fn zero_dpd_disables_probing() {
    let t0 = base();
    let mut t = TunnelTimers::new(t0, Duration::ZERO, None, None);
    assert_eq!(t.poll(t0 + secs(1_000_000)), TimerAction::None);
    assert_eq!(t.next_deadline(), t0 + secs(3600));
}

#[test]
fn idle_timeout_counts_only_data_activity() {
    let t0 = base();
    let mut t = TunnelTimers::new(t0, DPD, Some(secs(100)), None);
    assert_eq!(t.next_deadline(), t0 + secs(100));
    // Keepalives/DPD keep the peer alive but do not reset idleness.
    t.on_receive(t0 + secs(60));
    assert_eq!(t.poll(t0 + secs(99)), TimerAction::None);
    assert_eq!(t.poll(t0 + secs(100)), TimerAction::IdleTimeout);

    let mut t = TunnelTimers::new(t0, DPD, Some(secs(100)), None);
    t.on_data_activity(t0 + secs(50));
    t.on_receive(t0 + secs(50));
    assert_eq!(t.poll(t0 + secs(149)), TimerAction::None);
    assert_eq!(t.next_deadline(), t0 + secs(150));
    assert_eq!(t.poll(t0 + secs(150)), TimerAction::IdleTimeout);
}

#[test]
fn session_timeout_is_absolute_and_wins() {
    let t0 = base();
    let deadline = t0 + secs(500);
    let mut t = TunnelTimers::new(t0, DPD, Some(secs(1000)), Some(deadline));
    for s in (0..500).step_by(50) {
        t.on_receive(t0 + secs(s));
        t.on_data_activity(t0 + secs(s));
    }
    assert_eq!(t.next_deadline(), deadline);
    assert_eq!(t.poll(t0 + secs(499)), TimerAction::None);
    assert_eq!(t.poll(deadline), TimerAction::SessionTimeout);
    // Even when the peer is also dead.
    let mut t = TunnelTimers::new(t0, secs(1), None, Some(deadline));
    assert_eq!(t.poll(t0 + secs(600)), TimerAction::SessionTimeout);
}

#[test]
fn clock_going_backwards_does_not_panic() {
    let t0 = base() + secs(100);
    let mut t = TunnelTimers::new(t0, DPD, Some(secs(10)), None);
    t.on_receive(t0 - secs(50));
    t.on_data_activity(t0 - secs(50));
    assert_eq!(t.poll(t0 - secs(60)), TimerAction::None);
}

fn ipv4(proto: u8) -> Vec<u8> {
    let mut p = vec![0u8; 28];
    p[0] = 0x45;
    p[9] = proto;
    p
}

fn ipv6(next: u8, ext: &[(u8, u8)]) -> Vec<u8> {
    // ext: (next header, hdr ext len) for each extension header, in order.
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[6] = next;
    for &(nh, len) in ext {
        let mut e = vec![0u8; (usize::from(len) + 1) * 8];
        e[0] = nh;
        e[1] = len;
        p.extend_from_slice(&e);
    }
    p.extend_from_slice(&[0; 8]);
    p
}

#[test]
fn activity_classification() {
    assert!(!counts_as_activity(&ipv4(1)), "ICMP");
    assert!(!counts_as_activity(&ipv4(2)), "IGMP");
    assert!(counts_as_activity(&ipv4(6)), "TCP");
    assert!(counts_as_activity(&ipv4(17)), "UDP");
    assert!(!counts_as_activity(&ipv6(58, &[])), "ICMPv6");
    assert!(counts_as_activity(&ipv6(6, &[])), "TCP over v6");
    // MLD: hop-by-hop options then ICMPv6.
    assert!(!counts_as_activity(&ipv6(0, &[(58, 0)])));
    assert!(counts_as_activity(&ipv6(0, &[(17, 0)])));
    assert!(!counts_as_activity(&ipv6(60, &[(43, 1), (58, 0)])));
}

#[test]
fn malformed_packets_do_not_count() {
    assert!(!counts_as_activity(&[]));
    assert!(!counts_as_activity(&[0x45, 0, 0]));
    assert!(!counts_as_activity(&[0x60; 39]));
    assert!(!counts_as_activity(&[0x00; 60]));
    // Extension header claimed but truncated.
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[6] = 0;
    assert!(!counts_as_activity(&p));
}

proptest::proptest! {
    #[test]
    fn arbitrary_packets_never_panic(p in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = counts_as_activity(&p);
    }
}
