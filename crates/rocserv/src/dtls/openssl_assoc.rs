//! An association driven by OpenSSL: PSK-NEGOTIATE or legacy DTLS 1.2 resumption.
//!
//! OpenSSL runs the handshake. Once it is done with an AES-GCM or ChaCha20-Poly1305 suite (all
//! but the CCM ones), the application records of epoch 1 are opened, and from the peer's first
//! one on also sealed, by `rocserv_proto::dtls::record12` with keys derived from the session:
//! one AEAD call per record instead of a pass through OpenSSL's record layer. Every other record
//! (alerts, the peer's retransmitted handshake flight) still goes to OpenSSL, which answers it
//! as before.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use foreign_types_shared::ForeignTypeRef;
use openssl::ssl::{ErrorCode, Ssl, SslRef, SslStream};

use super::channel::Channel;
use super::contexts::{LegacySession, PskKey};
use super::session_der::{build_session, DTLS1_2_VERSION};
use super::{DtlsContexts, DtlsError, UdpTx, MAX_PAYLOAD};
use rocserv_proto::dtls::record12::{AeadSuite, Dtls12Records, Side};
use rocserv_proto::dtls::Legacy12Suite;
use zeroize::Zeroizing;

/// `DTLS_CTRL_GET_TIMEOUT` / `DTLS_CTRL_HANDLE_TIMEOUT` (macros in OpenSSL, absent from
/// openssl-sys).
const DTLS_CTRL_GET_TIMEOUT: libc::c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: libc::c_int = 74;

/// Record overhead OpenSSL must leave room for on top of a tunnel packet: 13 header + 8 explicit
/// nonce + 16 tag (AES-GCM/CCM, the largest of our suites), plus the type byte (protocol.md §6).
const RECORD_OVERHEAD: u32 = 37 + 1;
/// OpenSSL refuses MTUs below its minimum (256 for DTLS); never ask for less than this.
const MIN_LINK_MTU: u32 = 576;
/// The epoch of application data: the first after the handshake (renegotiation is off).
const DATA_EPOCH: u16 = 1;
/// Our first sequence number in [`DATA_EPOCH`]. OpenSSL keeps its own counter for the records it
/// sends in that epoch (its Finished, retransmissions of it, the records it seals until we take
/// over, alerts), which starts at 0 and never gets near this: no (key, nonce) pair is ever used
/// twice. The peer accepts the jump (a record ahead of its replay window moves the window).
const FIRST_OWN_SEQ: u64 = 1 << 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Psk,
    Legacy12(Legacy12Suite),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Established,
    Dead,
}

pub(crate) struct OpensslAssoc {
    stream: SslStream<Channel>,
    mode: Mode,
    phase: Phase,
    /// OpenSSL's record buffers (about 33 KiB) are allocated; see [`IDLE_RELEASE`].
    buffers_held: bool,
    /// The last record in either direction (established associations).
    last_io: Instant,
    /// Our own record layer for the application records, once established with an AEAD suite.
    records: Option<Box<Dtls12Records>>,
    /// Whether `records` also seals. Only once the peer has sent an authentic application
    /// record, which proves it has our Finished: until then OpenSSL may have to resend its
    /// Finished (PSK mode: the server's flight is the last one), with its own small sequence
    /// number, which a peer that had already seen one of our far higher numbers would take
    /// for a replay.
    own_send: bool,
}

/// An established association without a record in either direction for this long gives its
/// record buffers back (`SSL_free_buffers`); they are allocated again (`SSL_alloc_buffers`)
/// before the next record. Most sessions of a large server are idle most of the time, and
/// the buffers are the largest part of an idle session's memory.
const IDLE_RELEASE: Duration = Duration::from_millis(250);

extern "C" {
    // libssl ≥ 1.1.1; not bound by openssl-sys.
    fn SSL_free_buffers(ssl: *mut openssl_sys::SSL) -> libc::c_int;
    fn SSL_alloc_buffers(ssl: *mut openssl_sys::SSL) -> libc::c_int;
    fn SSL_has_pending(ssl: *const openssl_sys::SSL) -> libc::c_int;
}

thread_local! {
    /// Plaintext buffer for `ssl_read`, one per thread rather than one per association: a
    /// record is delivered before the next is read, and nothing awaits in between.
    static PLAIN: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; MAX_PAYLOAD]);
    /// One sealed record on its way to the socket (our own record layer), one per thread.
    static SEALED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(2048));
}

impl fmt::Debug for OpensslAssoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpensslAssoc")
            .field("mode", &self.mode)
            .field("phase", &self.phase)
            .field("records", &self.record_layer())
            .field("peer", &self.stream.get_ref().peer())
            .finish_non_exhaustive()
    }
}

/// The datagram size OpenSSL is told: a tunnel packet of `mtu` bytes must fit one record.
fn link_mtu(mtu: u16) -> u32 {
    (u32::from(mtu) + RECORD_OVERHEAD).max(MIN_LINK_MTU)
}

fn ctrl(ssl: &SslRef, cmd: libc::c_int, parg: *mut libc::c_void) -> libc::c_long {
    // SAFETY: `ssl` is a live SSL owned by our SslStream; both DTLS ctrls take either a
    // `struct timeval *` (GET_TIMEOUT) or nothing (HANDLE_TIMEOUT), and use no other argument.
    unsafe { openssl_sys::SSL_ctrl(ssl.as_ptr(), cmd, 0, parg) }
}

impl OpensslAssoc {
    pub(crate) fn psk(
        ctx: &DtlsContexts,
        psk: [u8; 32],
        only: Option<&str>,
        mtu: u16,
        tx: UdpTx,
    ) -> Result<Self, DtlsError> {
        let key = PskKey(psk);
        let mut ssl = Ssl::new(&ctx.psk)?;
        if let Some(cipher) = only {
            ssl.set_cipher_list(cipher)?;
        }
        ssl.set_mtu(link_mtu(mtu))?;
        ssl.set_ex_data(ctx.psk_idx, key);
        Self::start(ssl, Mode::Psk, tx)
    }

    pub(crate) fn legacy12(
        ctx: &DtlsContexts,
        suite: Legacy12Suite,
        session_id: [u8; 32],
        master: zeroize::Zeroizing<[u8; 48]>,
        mtu: u16,
        tx: UdpTx,
    ) -> Result<Self, DtlsError> {
        let session = build_session(DTLS1_2_VERSION, suite.id(), &session_id, master.as_slice())?;
        drop(master);
        let mut ssl = Ssl::new(&ctx.legacy)?;
        ssl.set_mtu(link_mtu(mtu))?;
        ssl.set_ex_data(
            ctx.session_idx,
            LegacySession {
                id: session_id,
                session,
            },
        );
        Self::start(ssl, Mode::Legacy12(suite), tx)
    }

    fn start(mut ssl: Ssl, mode: Mode, tx: UdpTx) -> Result<Self, DtlsError> {
        ssl.set_accept_state();
        let stream = SslStream::new(ssl, Channel::new(tx))?;
        Ok(Self {
            stream,
            mode,
            phase: Phase::Handshaking,
            buffers_held: true,
            last_io: Instant::now(),
            records: None,
            own_send: false,
        })
    }

    pub(crate) fn on_datagram(
        &mut self,
        dgram: &[u8],
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, DtlsError> {
        if self.phase == Phase::Dead {
            return Err(DtlsError::Dead);
        }
        if dgram.is_empty() {
            return Ok(0);
        }
        let Some(mut records) = self.records.take() else {
            let result = self.openssl_datagram(dgram, deliver);
            if let Some(records) = &mut self.records {
                // The handshake completed in this datagram: OpenSSL delivered what followed it.
                records.mark_seen(dgram);
                self.own_send = matches!(result, Ok(n) if n > 0);
            }
            return result;
        };
        // Application records here; the rest (rare: alerts, a retransmitted handshake flight)
        // through OpenSSL, one record at a time, after this datagram's data.
        let mut others: Vec<&[u8]> = Vec::new();
        let mut delivered = PLAIN.with_borrow_mut(|scratch| {
            records.open_datagram(dgram, scratch, deliver, &mut |record| others.push(record))
        });
        self.records = Some(records);
        self.own_send |= delivered > 0;
        for record in others {
            delivered += self.openssl_datagram(record, deliver)?;
        }
        Ok(delivered)
    }

    /// Feeds `dgram` to OpenSSL: the handshake, or records our own layer does not handle.
    fn openssl_datagram(
        &mut self,
        dgram: &[u8],
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, DtlsError> {
        self.ensure_buffers()?;
        self.stream.get_mut().load(dgram);
        let result = self.process(deliver);
        self.stream.get_mut().discard();
        if result.as_ref().is_err_and(DtlsError::is_fatal) {
            self.phase = Phase::Dead;
        }
        result
    }

    fn process(&mut self, deliver: &mut dyn FnMut(&[u8])) -> Result<usize, DtlsError> {
        if self.phase == Phase::Handshaking {
            match self.stream.accept() {
                Ok(()) => self.handshake_done()?,
                Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {
                    return Ok(0)
                }
                Err(e) => return Err(DtlsError::Handshake(e.to_string())),
            }
        }
        // Established: every application record in the datagram. Records that fail
        // authentication, replays and stale epochs are dropped silently by OpenSSL.
        let stream = &mut self.stream;
        PLAIN.with_borrow_mut(|plain| {
            let mut records = 0;
            loop {
                match stream.ssl_read(plain) {
                    Ok(n) => {
                        records += 1;
                        if let Some(payload) = plain.get(..n) {
                            deliver(payload);
                        }
                        // The datagram is taken and no record of it is left: another read would
                        // only say WANT_READ (a pass through OpenSSL's record layer per datagram).
                        // SAFETY: a live SSL owned by the stream; the call only reads its
                        // record-layer state.
                        let ssl = stream.ssl().as_ptr();
                        if stream.get_ref().drained() && unsafe { SSL_has_pending(ssl) } == 0 {
                            return Ok(records);
                        }
                    }
                    Err(e) => match e.code() {
                        ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => return Ok(records),
                        ErrorCode::ZERO_RETURN => return Err(DtlsError::Closed),
                        _ => return Err(DtlsError::Record(e.to_string())),
                    },
                }
            }
        })
    }

    fn handshake_done(&mut self) -> Result<(), DtlsError> {
        if let Mode::Legacy12(_) = self.mode {
            // Belt and braces: without a certificate a full handshake cannot succeed, but a
            // non-resumed legacy session must never be used (protocol.md §5.3).
            if !self.stream.ssl().session_reused() {
                return Err(DtlsError::NotResumed);
            }
        }
        self.phase = Phase::Established;
        self.records = own_records(self.stream.ssl());
        tracing::debug!(peer = %self.peer(), cipher = %self.cipher_description(),
                        records = self.record_layer(), "DTLS handshake complete");
        Ok(())
    }

    /// Who seals and opens the application records: "rocserv" or "OpenSSL" (CCM suites).
    /// (Until the peer's first record, OpenSSL still seals: see `own_send`.)
    pub(crate) fn record_layer(&self) -> &'static str {
        if self.records.is_some() {
            "rocserv"
        } else {
            "OpenSSL"
        }
    }

    pub(crate) fn send(&mut self, payload: &[u8]) -> Result<(), DtlsError> {
        match self.phase {
            Phase::Established => {}
            Phase::Handshaking => return Err(DtlsError::NotEstablished),
            Phase::Dead => return Err(DtlsError::Dead),
        }
        // OpenSSL treats an oversized write as fatal for the connection: check first.
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            return Err(DtlsError::PayloadSize {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        if let Some(records) = self.records.as_mut().filter(|_| self.own_send) {
            let sealed = SEALED.with_borrow_mut(|out| {
                records.seal(payload, out)?;
                self.stream.get_mut().send_datagram(out);
                Ok(())
            });
            if let Err(e) = sealed {
                self.phase = Phase::Dead;
                return Err(DtlsError::Seal(e));
            }
        } else {
            self.ensure_buffers()?;
            if let Err(e) = self.stream.ssl_write(payload) {
                self.phase = Phase::Dead;
                return Err(DtlsError::Record(e.to_string()));
            }
        }
        match self.stream.get_mut().take_send_error() {
            Some(e) => Err(DtlsError::Send(e)),
            None => Ok(()),
        }
    }

    pub(crate) fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.phase == Phase::Dead
    }

    pub(crate) fn cipher_description(&self) -> String {
        let ssl = self.stream.ssl();
        let cipher = ssl.current_cipher().map_or("(none)", |c| c.name());
        format!("{} {}", ssl.version_str(), cipher)
    }

    /// OpenSSL's retransmission timer, if it runs.
    fn openssl_timeout(&self) -> Option<Duration> {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let running = ctrl(
            self.stream.ssl(),
            DTLS_CTRL_GET_TIMEOUT,
            std::ptr::from_mut(&mut tv).cast(),
        );
        if running <= 0 {
            return None;
        }
        let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
        let micros = u32::try_from(tv.tv_usec).unwrap_or(0).min(999_999);
        Some(Duration::new(secs, micros * 1000))
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        let retransmit = self.openssl_timeout().map(|d| Instant::now() + d);
        let release = (self.phase == Phase::Established && self.buffers_held)
            .then(|| self.last_io + IDLE_RELEASE);
        match (retransmit, release) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        if self.openssl_timeout().is_some() {
            // A retransmission writes a record: the buffers must be there.
            if self.ensure_buffers().is_err() {
                return;
            }
            // Retransmits the last flight if OpenSSL's own timer expired; < 0 once it gave up.
            if ctrl(
                self.stream.ssl(),
                DTLS_CTRL_HANDLE_TIMEOUT,
                std::ptr::null_mut(),
            ) < 0
            {
                tracing::debug!(peer = %self.peer(), "DTLS handshake timed out");
                self.phase = Phase::Dead;
            }
            let _ = self.stream.get_mut().take_send_error();
        } else if self.phase == Phase::Established
            && self.buffers_held
            && now >= self.last_io + IDLE_RELEASE
        {
            // SAFETY: a live SSL; with nothing pending (it returns 0 otherwise) it frees only
            // the record buffers, which `ensure_buffers` restores before the next use.
            if unsafe { SSL_free_buffers(self.stream.ssl().as_ptr()) } == 1 {
                self.buffers_held = false;
            } else {
                self.last_io = now;
            }
        }
    }

    /// Allocates the record buffers again after an idle release, and notes the activity.
    fn ensure_buffers(&mut self) -> Result<(), DtlsError> {
        self.last_io = Instant::now();
        if !self.buffers_held {
            // SAFETY: a live SSL; allocating its record buffers has no other precondition.
            if unsafe { SSL_alloc_buffers(self.stream.ssl().as_ptr()) } != 1 {
                return Err(DtlsError::Record(
                    "cannot allocate the record buffers".into(),
                ));
            }
            self.buffers_held = true;
        }
        Ok(())
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.stream.get_ref().peer()
    }

    pub(crate) fn set_peer(&mut self, addr: SocketAddr) {
        self.stream.get_mut().set_peer(addr);
    }
}

/// Our record layer for an association OpenSSL has just established, if its suite is one we
/// implement: the keys come from the session's master secret and both randoms.
fn own_records(ssl: &SslRef) -> Option<Box<Dtls12Records>> {
    let suite = AeadSuite::from_id(u16::from_be_bytes(ssl.current_cipher()?.protocol_id()))?;
    let mut master = Zeroizing::new([0u8; 48]);
    if ssl.session()?.master_key(&mut master[..]) != master.len() {
        return None;
    }
    let (mut client_random, mut server_random) = ([0u8; 32], [0u8; 32]);
    if ssl.client_random(&mut client_random) != 32 || ssl.server_random(&mut server_random) != 32 {
        return None;
    }
    Dtls12Records::new(
        Side::Server,
        suite,
        &master,
        &client_random,
        &server_random,
        DATA_EPOCH,
        FIRST_OWN_SEQ,
    )
    .map(Box::new)
}
