//! rocserv-loadgen: many OpenConnect (AnyConnect protocol) client sessions from one process,
//! without TUN devices: TLS, XML authentication, CONNECT, DTLS PSK-NEGOTIATE, then hold with
//! DPD/keepalive and optional ICMP echo traffic through the tunnel (issue #4).

mod args;
mod dtls;
mod form;
mod hold;
mod http;
mod icmp;
mod report;
mod session_der;
mod setup;
mod tls;
mod tunnel;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::args::{Args, ArgsError};
use crate::hold::{hold, HoldConfig};
use crate::report::{Report, SessionResult};
use crate::setup::{establish, DtlsState, Target};

/// Raises the soft open-file limit to the hard one (one TCP and one UDP fd per session).
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
    }
    lim.rlim_cur
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage with a zeroed, valid rusage struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// One session: setup (under the concurrency limit), report the setup result, hold.
async fn run_session(
    idx: usize,
    target: Arc<Target>,
    hold_cfg: Arc<HoldConfig>,
    permits: Arc<Semaphore>,
    setup_tx: mpsc::UnboundedSender<()>,
    hold_end: watch::Receiver<Option<Instant>>,
) -> SessionResult {
    let permit = permits.acquire_owned().await;
    let left = hold_cfg.deadline.saturating_duration_since(Instant::now());
    let r = match tokio::time::timeout(left, establish(&target, idx)).await {
        Ok(r) => r,
        Err(_) => Err(setup::Failure::Timeout),
    };
    drop(permit);
    let _ = setup_tx.send(());
    match r {
        Err(f) => SessionResult {
            failure: Some(f.as_str()),
            ..SessionResult::default()
        },
        Ok(est) => {
            let (dtls, dtls_detail) = match &est.dtls {
                DtlsState::Up(_) => ("up", None),
                DtlsState::Failed(e) => ("failed", Some(e.clone())),
                DtlsState::NotOffered(c) => ("not_offered", c.clone()),
                DtlsState::NotRequested => ("not_requested", None),
            };
            let (setup, cstp_setup) = (est.setup, est.cstp_setup);
            let stats = hold(est, idx, &hold_cfg, hold_end).await;
            SessionResult {
                setup: Some(setup),
                cstp_setup: Some(cstp_setup),
                failure: None,
                dtls,
                dtls_detail,
                hold: Some(stats),
            }
        }
    }
}

async fn run(a: args::Checked) -> Report {
    let n = a.sessions;
    let start = Instant::now();
    let cpu0 = cpu_time();
    let deadline = start + a.timeout;
    let target = Arc::new(a.target);
    let hold_cfg = Arc::new(HoldConfig {
        force_dpd: a.force_dpd,
        pps: a.pps,
        target: a.ping_target,
        deadline,
        probe_spread: a.probe_spread,
    });
    let permits = Arc::new(Semaphore::new(a.concurrency));
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let (hold_tx, hold_rx) = watch::channel(None);
    let mut tasks = Vec::with_capacity(n);
    for idx in 0..n {
        tasks.push(tokio::spawn(run_session(
            idx,
            Arc::clone(&target),
            Arc::clone(&hold_cfg),
            Arc::clone(&permits),
            setup_tx.clone(),
            hold_rx.clone(),
        )));
    }
    drop(setup_tx);
    let mut done = 0;
    while done < n {
        match tokio::time::timeout_at(deadline.into(), setup_rx.recv()).await {
            Ok(Some(())) => done += 1,
            _ => break,
        }
    }
    let establish_all = start.elapsed();
    // On stderr also with --json: bench/sections-loadgen.sh waits for this line.
    eprintln!(
        "setup phase done: {done} of {n} sessions reported in {:.3} s; holding {} s",
        establish_all.as_secs_f64(),
        a.hold.as_secs()
    );
    let _ = hold_tx.send(Some(Instant::now() + a.hold));
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.unwrap_or_else(|e| SessionResult {
            failure: Some(format!("task: {e}")),
            ..SessionResult::default()
        }));
    }
    Report {
        sessions: n,
        concurrency: a.concurrency,
        hold_s: a.hold.as_secs(),
        establish_all,
        wall: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu0),
        results,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let checked = match args.check() {
        Ok(c) => c,
        Err(e @ ArgsError::Usage(_)) | Err(e @ ArgsError::Tls(_)) => {
            eprintln!("rocserv-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let nofile = raise_nofile();
    let need = 2 * checked.sessions as u64 + 64;
    if nofile < need {
        eprintln!(
            "rocserv-loadgen: warning: open-file limit {nofile} < {need} needed for {} sessions (ulimit -n)",
            checked.sessions
        );
    }
    let json = checked.json;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rocserv-loadgen: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let report = rt.block_on(run(checked));
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if report.summary().established == report.sessions {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
