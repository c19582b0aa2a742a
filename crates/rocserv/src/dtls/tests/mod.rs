//! Loopback tests: an OpenSSL DTLS client (openssl crate) against our associations.

mod client;
mod dtls09;
mod legacy;
mod psk;
mod robustness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::udp_socket::DatagramSocket;

use self::client::Client;
use super::{Association, DtlsContexts, DtlsError, UdpTx};

fn contexts() -> DtlsContexts {
    match DtlsContexts::new() {
        Ok(c) => c,
        Err(e) => panic!("contexts: {e}"),
    }
}

async fn server_socket() -> Arc<DatagramSocket> {
    match DatagramSocket::bind("127.0.0.1:0") {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("bind: {e}"),
    }
}

fn local(sock: &DatagramSocket) -> SocketAddr {
    match sock.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    }
}

fn client_addr(c: &Client) -> SocketAddr {
    match c.stream.get_ref().sock.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    }
}

fn tx(sock: &Arc<DatagramSocket>, peer: SocketAddr) -> UdpTx {
    UdpTx {
        sock: Arc::clone(sock),
        peer,
    }
}

/// What the server saw for one datagram.
struct Seen {
    result: Result<usize, DtlsError>,
    payloads: Vec<Vec<u8>>,
}

/// A server socket, a PSK client (`client_key`, `app_id` as its session_id) and the server's
/// PSK association (`server_key`) for that client, before any handshake.
async fn psk_pair(
    server_key: [u8; 32],
    client_key: [u8; 32],
    app_id: Option<[u8; 32]>,
) -> (Arc<DatagramSocket>, Association, Client) {
    psk_pair_only(server_key, client_key, app_id, None).await
}

/// [`psk_pair`] with the server limited to the OpenSSL cipher `only`.
async fn psk_pair_only(
    server_key: [u8; 32],
    client_key: [u8; 32],
    app_id: Option<[u8; 32]>,
    only: Option<&str>,
) -> (Arc<DatagramSocket>, Association, Client) {
    let ctx = contexts();
    let sock = server_socket().await;
    let client = self::client::psk_client(client_key, app_id, local(&sock));
    let peer = client_addr(&client);
    let assoc = match Association::psk(&ctx, server_key, only, 1400, tx(&sock, peer)) {
        Ok(a) => a,
        Err(e) => panic!("psk association: {e}"),
    };
    (sock, assoc, client)
}

/// Feeds every datagram that arrives within `wait` to `assoc`.
async fn pump(assoc: &mut Association, sock: &DatagramSocket, wait: Duration) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, from))) = tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        let mut payloads = Vec::new();
        let dgram = buf.get(..n).unwrap_or_default();
        let result = assoc.on_datagram(dgram, from, Instant::now(), &mut |p| {
            payloads.push(p.to_vec());
        });
        seen.push(Seen { result, payloads });
    }
    seen
}

/// Runs the handshake in lockstep; returns every server-side result.
async fn handshake(
    assoc: &mut Association,
    sock: &DatagramSocket,
    client: &mut Client,
) -> Vec<Seen> {
    let mut all = Vec::new();
    for _ in 0..8 {
        client.step();
        if (client.done && assoc.is_established()) || client.failed.is_some() {
            break;
        }
        all.extend(pump(assoc, sock, Duration::from_millis(100)).await);
        if assoc.is_dead() {
            client.step();
            break;
        }
    }
    all
}

/// Client -> server and server -> client payloads after an established handshake.
async fn exchange(assoc: &mut Association, sock: &DatagramSocket, client: &mut Client) {
    let up: Vec<u8> = [0x00]
        .into_iter()
        .chain((0..1400u32).map(|i| i as u8))
        .collect();
    client.send(&up);
    let seen = pump(assoc, sock, Duration::from_millis(100)).await;
    assert_eq!(seen.len(), 1);
    let first = seen
        .first()
        .map(|s| (s.result.as_ref().ok().copied(), s.payloads.clone()));
    assert_eq!(first, Some((Some(1), vec![up])));

    let down = [0x04u8, 1, 2, 3, 4];
    if let Err(e) = assoc.send(&down) {
        panic!("server send: {e}");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(client.recv_all(), vec![down.to_vec()]);
}

#[test]
fn associations_move_between_tasks_and_contexts_are_shared() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Association>();
    send_sync::<DtlsContexts>();
    send_sync::<UdpTx>();
}
