//! The OpenSSL contexts, built once at start: one for PSK-NEGOTIATE, one for legacy DTLS 1.2
//! resumption. Per-association keys travel in the SSL object's ex_data.

use std::fmt;

use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslSession, SslSessionCacheMode,
    SslVersion,
};
use zeroize::Zeroize;

use super::DtlsError;

/// `SSL_OP_NO_EXTENDED_MASTER_SECRET` (OpenSSL >= 3.0; missing from the openssl crate).
const OP_NO_EXTENDED_MASTER_SECRET: u64 = 1 << 0;
/// `SSL_OP_NO_ENCRYPT_THEN_MAC`.
const OP_NO_ENCRYPT_THEN_MAC: u64 = 1 << 19;

/// Plain-PSK AEAD suites (no certificate, no ServerKeyExchange), server preference first:
/// openconnect/GnuTLS offers AES-256-GCM first (protocol.md §5.2). All have at most 37 bytes of
/// record overhead, which the advertised MTU assumes (§6.3).
pub(crate) const PSK_CIPHERS: &str = "PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305:\
                                      PSK-AES128-GCM-SHA256:PSK-AES256-CCM:PSK-AES128-CCM";
/// The only suites a legacy 1.2 session can have (`Legacy12Suite`).
pub(crate) const LEGACY_CIPHERS: &str = "AES128-GCM-SHA256:AES256-GCM-SHA384:\
                                         ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384";

/// The 32-byte PSK of one association; wiped on drop, never printed.
pub(crate) struct PskKey(pub(crate) [u8; 32]);

impl Drop for PskKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PskKey(<redacted>)")
    }
}

/// The session a legacy client resumes, with the id it must present. OpenSSL owns (and cleanses)
/// the master secret inside the session.
pub(crate) struct LegacySession {
    pub(crate) id: [u8; 32],
    pub(crate) session: SslSession,
}

/// OpenSSL contexts for the DTLS modes OpenSSL can serve. Cheap to share (`Arc` it).
pub struct DtlsContexts {
    pub(crate) psk: SslContext,
    pub(crate) legacy: SslContext,
    pub(crate) psk_idx: Index<Ssl, PskKey>,
    pub(crate) session_idx: Index<Ssl, LegacySession>,
}

impl fmt::Debug for DtlsContexts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsContexts").finish_non_exhaustive()
    }
}

fn common(b: &mut SslContextBuilder) -> Result<(), ErrorStack> {
    b.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    // NO_QUERY_MTU: our channel is not a dgram BIO; the MTU comes from `set_mtu` (crates.md
    // §2.5 gotcha 1). Renegotiation is never used by openconnect without X-DTLS-Rekey-Method.
    b.set_options(
        SslOptions::NO_QUERY_MTU
            | SslOptions::NO_TICKET
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::CIPHER_SERVER_PREFERENCE,
    );
    Ok(())
}

impl DtlsContexts {
    /// Builds the PSK and legacy-resumption contexts.
    pub fn new() -> Result<DtlsContexts, DtlsError> {
        let psk_idx = Ssl::new_ex_index::<PskKey>()?;
        let session_idx = Ssl::new_ex_index::<LegacySession>()?;

        let mut b = SslContextBuilder::new(SslMethod::dtls_server())?;
        common(&mut b)?;
        b.set_cipher_list(PSK_CIPHERS)?;
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        // The identity is ignored: the association was selected by the ClientHello's session_id
        // (the App-ID) and carries its key (protocol.md §5.2).
        b.set_psk_server_callback(move |ssl, _identity, out| {
            let key = ssl.ex_data(psk_idx).ok_or_else(ErrorStack::get)?;
            let dst = out.get_mut(..key.0.len()).ok_or_else(ErrorStack::get)?;
            dst.copy_from_slice(&key.0);
            Ok(key.0.len())
        });
        let psk = b.build();

        let mut b = SslContextBuilder::new(SslMethod::dtls_server())?;
        common(&mut b)?;
        // Never EMS (the master secret is fixed) nor encrypt-then-MAC (protocol.md §5.3).
        b.set_options(SslOptions::from_bits_retain(
            OP_NO_EXTENDED_MASTER_SECRET | OP_NO_ENCRYPT_THEN_MAC,
        ));
        b.set_cipher_list(LEGACY_CIPHERS)?;
        b.set_session_cache_mode(SslSessionCacheMode::SERVER | SslSessionCacheMode::NO_INTERNAL);
        // SAFETY: the returned session was parsed from DER (`session_der`) and belongs to no
        // context, which is the requirement of `set_get_session_callback`.
        unsafe {
            b.set_get_session_callback(move |ssl, id| {
                let s = ssl.ex_data(session_idx)?;
                (id == s.id.as_slice()).then(|| s.session.clone())
            });
        }
        let legacy = b.build();

        Ok(DtlsContexts {
            psk,
            legacy,
            psk_idx,
            session_idx,
        })
    }
}
