//! The CSTP record rule on the TLS side: openconnect reads one TLS record at a time into a buffer
//! of one frame and takes anything else for a broken stream, so a burst of frames queued with
//! [`queue_frame`] and flushed once must still arrive as one frame per record. The client here
//! is OpenSSL, whose `SSL_read` (like GnuTLS's `gnutls_record_recv`) never returns data of two
//! records at once.

use std::io::Read;
use std::net::TcpStream as StdTcpStream;
use std::sync::Arc;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::{queue_frame, BURST_TLS_BYTES};
use crate::http_conn::Tls;

fn server_config(tls13: bool) -> Arc<rustls::ServerConfig> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Arc::new(cfg)
}

/// A server-side [`Tls`] stream and an OpenSSL client thread that returns what each of its
/// `SSL_read` calls returned, until the server closes.
async fn pair(tls13: bool) -> (Tls, std::thread::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_verify(SslVerifyMode::NONE);
        let v = if tls13 {
            SslVersion::TLS1_3
        } else {
            SslVersion::TLS1_2
        };
        b.set_min_proto_version(Some(v)).unwrap();
        b.set_max_proto_version(Some(v)).unwrap();
        let tcp = StdTcpStream::connect(addr).unwrap();
        let mut s = b.build().connect("localhost", tcp).unwrap();
        let mut reads = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => reads.push(buf[..n].to_vec()),
            }
        }
        reads
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(tls13));
    (acceptor.accept(tcp).await.unwrap(), client)
}

/// Frames of many sizes (1 byte to a full 1,500-byte packet), each filled with its own number.
fn frames() -> Vec<Vec<u8>> {
    let sizes = [
        1usize, 9, 60, 1500, 1408, 576, 1500, 1500, 80, 1280, 1500, 8, 1400,
    ];
    (0..20)
        .map(|i| vec![i as u8; sizes[i % sizes.len()]])
        .collect()
}

async fn burst_arrives_one_frame_per_record(tls13: bool) {
    let (mut tls, client) = pair(tls13).await;
    let sent = frames();
    assert!(sent.iter().map(Vec::len).sum::<usize>() <= BURST_TLS_BYTES);
    // Two bursts, each queued without I/O and written with one flush, as the driver does.
    for half in sent.chunks(10) {
        for f in half {
            queue_frame(&mut tls, f).unwrap();
        }
        tls.flush().await.unwrap();
    }
    tls.shutdown().await.unwrap();
    let reads = client.join().unwrap();
    assert_eq!(reads, sent, "every SSL_read must return exactly one frame");
}

#[tokio::test]
async fn burst_arrives_one_frame_per_record_tls12() {
    burst_arrives_one_frame_per_record(false).await;
}

#[tokio::test]
async fn burst_arrives_one_frame_per_record_tls13() {
    burst_arrives_one_frame_per_record(true).await;
}

#[tokio::test]
async fn a_frame_that_does_not_fit_is_an_error_not_a_split() {
    let (mut tls, client) = pair(true).await;
    tls.get_mut().1.set_buffer_limit(Some(1000));
    assert!(queue_frame(&mut tls, &[7u8; 2000]).is_err());
    drop(tls);
    let _ = client.join();
}
