//! The run's summary, as text or as one JSON object (`--json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Per-session results collected by `main`.
#[derive(Debug, Default, Clone)]
pub struct SessionResult {
    /// Setup time through DTLS (or CSTP when no DTLS), `None` when it failed.
    pub setup: Option<Duration>,
    /// Setup time until the CONNECT reply.
    pub cstp_setup: Option<Duration>,
    /// Failure reason key.
    pub failure: Option<String>,
    /// DTLS outcome: "up", "failed", "not_offered", "not_requested".
    pub dtls: &'static str,
    /// Why DTLS failed or which non-PSK mode the server chose.
    pub dtls_detail: Option<String>,
    /// The hold statistics (sessions that were established).
    pub hold: Option<crate::hold::HoldStats>,
}

/// The whole run.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Sessions requested.
    pub sessions: usize,
    /// Concurrency.
    pub concurrency: usize,
    /// Hold seconds.
    pub hold_s: u64,
    /// From the first connect to the last session's setup result.
    pub establish_all: Duration,
    /// Wall time of the run.
    pub wall: Duration,
    /// Client CPU (user + system) over the run.
    pub cpu: Duration,
    /// One entry per session.
    pub results: Vec<SessionResult>,
}

/// The `p`-th percentile (nearest rank) of sorted values in ms.
pub fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_ms.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_ms.len()) - 1;
    sorted_ms.get(i).copied().unwrap_or(f64::NAN)
}

/// p50, p90, p99 and max of unsorted values.
fn quantiles(mut v: Vec<f64>) -> [f64; 4] {
    v.sort_by(f64::total_cmp);
    [
        percentile(&v, 50.0),
        percentile(&v, 90.0),
        percentile(&v, 99.0),
        v.last().copied().unwrap_or(f64::NAN),
    ]
}

/// Numbers derived from the results.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Sessions whose tunnel came up.
    pub established: usize,
    /// Failures by reason.
    pub failures: BTreeMap<String, usize>,
    /// DTLS outcome counts.
    pub dtls: BTreeMap<&'static str, usize>,
    /// DTLS failure reasons / non-PSK modes offered.
    pub dtls_detail: BTreeMap<String, usize>,
    /// Setup ms: p50, p90, p99, max.
    pub setup_ms: [f64; 4],
    /// Setup ms until the CONNECT reply (CSTP up): p50, p90, p99, max.
    pub cstp_setup_ms: [f64; 4],
    /// Sum of server DPD requests answered (CSTP, DTLS).
    pub dpd_answered: (u64, u64),
    /// Our DPD requests sent / answered.
    pub dpd_sent: u64,
    /// DPD replies received.
    pub dpd_replies: u64,
    /// Keepalives sent.
    pub keepalives: u64,
    /// Final probe answered on CSTP / DTLS (and how many DTLS probes were sent).
    pub final_ok: (usize, usize, usize),
    /// Sessions lost during the hold, by reason.
    pub lost: BTreeMap<String, usize>,
    /// Sessions whose DTLS failed during the hold (they went on over CSTP), by reason.
    pub dtls_lost: BTreeMap<String, usize>,
    /// Pings sent / received.
    pub pings: (u64, u64),
    /// Final probe: time until every channel answered, p50 and max (ms).
    pub probe_ms: [f64; 2],
    /// Final probe round trip on CSTP / DTLS alone, p50 and max (ms).
    pub probe_rtt_ms: [[f64; 2]; 2],
    /// BYE + TLS close, max (ms).
    pub bye_ms_max: f64,
}

impl Report {
    /// Aggregates the per-session results.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        let mut setups: Vec<f64> = Vec::new();
        let mut cstp: Vec<f64> = Vec::new();
        let mut probes: Vec<f64> = Vec::new();
        let mut byes: Vec<f64> = Vec::new();
        let mut rtts: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for r in &self.results {
            if let Some(f) = &r.failure {
                *s.failures.entry(f.clone()).or_default() += 1;
                continue;
            }
            s.established += 1;
            *s.dtls.entry(r.dtls).or_default() += 1;
            if let Some(d) = r.setup {
                setups.push(d.as_secs_f64() * 1000.0);
            }
            if let Some(d) = r.cstp_setup {
                cstp.push(d.as_secs_f64() * 1000.0);
            }
            if let Some(d) = &r.dtls_detail {
                *s.dtls_detail.entry(d.clone()).or_default() += 1;
            }
            if let Some(h) = &r.hold {
                s.dpd_answered.0 += h.dpd_answered_cstp;
                s.dpd_answered.1 += h.dpd_answered_dtls;
                s.dpd_sent += h.dpd_sent;
                s.dpd_replies += h.dpd_replies;
                s.keepalives += h.keepalives;
                s.pings.0 += h.pings_sent;
                s.pings.1 += h.pings_received;
                s.final_ok.0 += usize::from(h.final_cstp_ok);
                s.final_ok.1 += usize::from(h.final_dtls_ok == Some(true));
                s.final_ok.2 += usize::from(h.final_dtls_ok.is_some());
                probes.extend(h.probe_time.map(|d| d.as_secs_f64() * 1000.0));
                for (v, d) in rtts.iter_mut().zip(h.probe_rtt) {
                    v.extend(d.map(|d| d.as_secs_f64() * 1000.0));
                }
                byes.extend(h.bye_time.map(|d| d.as_secs_f64() * 1000.0));
                if let Some(l) = &h.dtls_lost {
                    *s.dtls_lost.entry(l.clone()).or_default() += 1;
                }
                if let Some(l) = &h.lost {
                    *s.lost.entry(l.clone()).or_default() += 1;
                }
            }
        }
        s.setup_ms = quantiles(setups);
        s.cstp_setup_ms = quantiles(cstp);
        let q = quantiles(probes);
        s.probe_ms = [q[0], q[3]];
        for (out, v) in s.probe_rtt_ms.iter_mut().zip(rtts) {
            let q = quantiles(v);
            *out = [q[0], q[3]];
        }
        s.bye_ms_max = quantiles(byes)[3];
        s
    }

    /// Human-readable summary.
    pub fn text(&self) -> String {
        let s = self.summary();
        let mut o = String::new();
        let _ = writeln!(
            o,
            "sessions: {} established of {} (concurrency {})",
            s.established, self.sessions, self.concurrency
        );
        let _ = writeln!(o, "failures: {}", map_text(&s.failures));
        let _ = writeln!(
            o,
            "time to establish all: {:.3} s; per-session setup ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
            self.establish_all.as_secs_f64(),
            s.setup_ms[0],
            s.setup_ms[1],
            s.setup_ms[2],
            s.setup_ms[3]
        );
        let _ = writeln!(
            o,
            "CSTP up (CONNECT reply) ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
            s.cstp_setup_ms[0], s.cstp_setup_ms[1], s.cstp_setup_ms[2], s.cstp_setup_ms[3]
        );
        let _ = writeln!(
            o,
            "dtls: {} ({})",
            map_text(&s.dtls),
            map_text(&s.dtls_detail)
        );
        let _ = writeln!(
            o,
            "hold {} s: server DPD answered cstp {} dtls {}; own DPD sent {} answered {}; keepalives {}",
            self.hold_s, s.dpd_answered.0, s.dpd_answered.1, s.dpd_sent, s.dpd_replies, s.keepalives
        );
        let _ = writeln!(
            o,
            "final DPD probe answered: cstp {} of {}, dtls {} of {} (all channels answered after p50 {:.1} ms, max {:.1} ms; CSTP alone p50 {:.1} max {:.1}, DTLS alone p50 {:.1} max {:.1}; BYE max {:.1} ms)",
            s.final_ok.0, s.established, s.final_ok.1, s.final_ok.2, s.probe_ms[0], s.probe_ms[1],
            s.probe_rtt_ms[0][0], s.probe_rtt_ms[0][1], s.probe_rtt_ms[1][0], s.probe_rtt_ms[1][1], s.bye_ms_max
        );
        let _ = writeln!(
            o,
            "lost during hold: {}; DTLS lost (went on over CSTP): {}",
            map_text(&s.lost),
            map_text(&s.dtls_lost)
        );
        let _ = writeln!(o, "pings: sent {} replies {}", s.pings.0, s.pings.1);
        let _ = writeln!(
            o,
            "client CPU {:.2} s over {:.2} s wall",
            self.cpu.as_secs_f64(),
            self.wall.as_secs_f64()
        );
        o
    }

    /// One JSON object (hand-rendered: keys are fixed, values numbers or escaped strings).
    pub fn json(&self) -> String {
        let s = self.summary();
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v:.3}")
            } else {
                "null".into()
            }
        };
        format!(
            "{{\"sessions\":{},\"concurrency\":{},\"established\":{},\"failures\":{},\
             \"establish_all_s\":{},\"setup_ms\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{}}},\
             \"cstp_setup_ms\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{}}},\
             \"dtls\":{},\"dtls_detail\":{},\"dtls_established\":{},\"hold_s\":{},\"dpd_answered_cstp\":{},\
             \"dpd_answered_dtls\":{},\"dpd_sent\":{},\"dpd_replies\":{},\"keepalives\":{},\
             \"final_dpd_cstp_ok\":{},\"final_dpd_dtls_ok\":{},\"final_dpd_dtls_sent\":{},\"final_probe_ms\":{{\"p50\":{},\"max\":{}}},\"final_probe_cstp_ms\":{{\"p50\":{},\"max\":{}}},\"final_probe_dtls_ms\":{{\"p50\":{},\"max\":{}}},\"bye_ms_max\":{},\
             \"lost\":{},\"dtls_lost\":{},\"pings_sent\":{},\"pings_received\":{},\"client_cpu_s\":{},\"wall_s\":{}}}",
            self.sessions,
            self.concurrency,
            s.established,
            map_json(&s.failures),
            num(self.establish_all.as_secs_f64()),
            num(s.setup_ms[0]),
            num(s.setup_ms[1]),
            num(s.setup_ms[2]),
            num(s.setup_ms[3]),
            num(s.cstp_setup_ms[0]),
            num(s.cstp_setup_ms[1]),
            num(s.cstp_setup_ms[2]),
            num(s.cstp_setup_ms[3]),
            map_json(&s.dtls),
            map_json(&s.dtls_detail),
            s.dtls.get("up").copied().unwrap_or(0),
            self.hold_s,
            s.dpd_answered.0,
            s.dpd_answered.1,
            s.dpd_sent,
            s.dpd_replies,
            s.keepalives,
            s.final_ok.0,
            s.final_ok.1,
            s.final_ok.2,
            num(s.probe_ms[0]),
            num(s.probe_ms[1]),
            num(s.probe_rtt_ms[0][0]),
            num(s.probe_rtt_ms[0][1]),
            num(s.probe_rtt_ms[1][0]),
            num(s.probe_rtt_ms[1][1]),
            num(s.bye_ms_max),
            map_json(&s.lost),
            map_json(&s.dtls_lost),
            s.pings.0,
            s.pings.1,
            num(self.cpu.as_secs_f64()),
            num(self.wall.as_secs_f64()),
        )
    }
}

fn map_text<K: AsRef<str>>(m: &BTreeMap<K, usize>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{} {v}", k.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// JSON string escaping for the few free-text keys (failure reasons).
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn map_json<K: AsRef<str>>(m: &BTreeMap<K, usize>) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k.as_ref())))
        .collect();
    format!("{{{}}}", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hold::HoldStats;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 90.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn summary_counts_and_json_shape() {
        let ok = SessionResult {
            setup: Some(Duration::from_millis(20)),
            cstp_setup: Some(Duration::from_millis(10)),
            failure: None,
            dtls: "up",
            dtls_detail: None,
            hold: Some(HoldStats {
                dpd_answered_cstp: 2,
                dpd_answered_dtls: 1,
                final_cstp_ok: true,
                final_dtls_ok: Some(true),
                pings_sent: 5,
                pings_received: 4,
                ..HoldStats::default()
            }),
        };
        let bad = SessionResult {
            failure: Some("auth_rejected".into()),
            ..SessionResult::default()
        };
        let r = Report {
            sessions: 3,
            concurrency: 2,
            results: vec![ok.clone(), ok, bad],
            ..Report::default()
        };
        let s = r.summary();
        assert_eq!(s.established, 2);
        assert_eq!(s.failures.get("auth_rejected"), Some(&1));
        assert_eq!(s.dpd_answered, (4, 2));
        assert_eq!(s.final_ok, (2, 2, 2));
        assert_eq!(s.pings, (10, 8));
        let j = r.json();
        assert!(j.starts_with('{') && j.ends_with('}'));
        assert!(j.contains("\"established\":2"), "{j}");
        assert!(j.contains("\"failures\":{\"auth_rejected\":1}"), "{j}");
        assert!(j.contains("\"dtls_established\":2"), "{j}");
        assert!(j.contains("\"p50\":20.000"), "{j}");
        assert_eq!(json_str("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }
}
