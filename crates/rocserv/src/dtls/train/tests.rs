//! Trains must deliver exactly the datagrams a one-by-one sender would, in the same order, to
//! the right peer; over loopback (which takes `UDP_SEGMENT`) and through the one-by-one path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::udp_socket::DatagramSocket;

use super::*;

/// A bound socket; it sends at once (no write readiness to wait for).
async fn sock() -> Arc<DatagramSocket> {
    Arc::new(DatagramSocket::bind("127.0.0.1:0").unwrap())
}

fn addr(s: &DatagramSocket) -> SocketAddr {
    s.local_addr().unwrap()
}

/// Sends from `sock` to `to`'s address.
fn tx_to(sock: &Arc<DatagramSocket>, to: &DatagramSocket) -> UdpTx {
    UdpTx {
        sock: sock.clone(),
        peer: addr(to),
    }
}

/// Every datagram that arrives at `rx` until it stays quiet for 200 ms.
async fn received(rx: &DatagramSocket) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(200), rx.recv_from(&mut buf)).await
    {
        got.push(buf[..n].to_vec());
    }
    got
}

/// Datagrams of the given sizes, each filled with its own index.
fn datagrams(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| vec![i as u8; n])
        .collect()
}

/// Equal sizes, a shorter one that ends a train, a larger one that starts the next, more than
/// one train's worth of segments, one byte.
fn mixed_sizes() -> Vec<usize> {
    let mut sizes = vec![1000; 10];
    sizes.push(300);
    sizes.extend([1200; 5]);
    sizes.extend([700; 3]);
    sizes.extend([1400; MAX_SEGMENTS + 6]);
    sizes.push(1);
    sizes.extend([1400; 3]);
    sizes
}

/// Sends `dgrams` through `tx` within one burst, then closes it.
fn send_in_burst(tx: &UdpTx, dgrams: &[Vec<u8>]) {
    let burst = Burst::start();
    for d in dgrams {
        tx.send(d).unwrap();
    }
    burst.finish().unwrap();
}

#[tokio::test]
async fn a_burst_delivers_the_same_datagrams_in_order() {
    let (tx_sock, rx) = (sock().await, sock().await);
    let tx = tx_to(&tx_sock, &rx);
    let sent = datagrams(&mixed_sizes());
    send_in_burst(&tx, &sent);
    assert_eq!(received(&rx).await, sent);
}

#[tokio::test]
async fn a_dual_stack_socket_sends_trains_to_an_ipv4_peer() {
    // The endpoint binds [::] when no udp-listen-host is set, and peers are kept as IPv4
    // addresses (`udp::normalise`): the kernel takes AF_INET destinations, GSO included.
    let v6 = DatagramSocket::bind("[::]:0").unwrap();
    let (v6, rx) = (Arc::new(v6), sock().await);
    let tx = tx_to(&v6, &rx);
    let sent = datagrams(&mixed_sizes());
    send_in_burst(&tx, &sent);
    assert_eq!(received(&rx).await, sent);
    // ... and not only through the one-by-one fallback.
    let (sent, buf) = train_of_eleven();
    send_segmented(&v6, addr(&rx), &buf, 1000).unwrap();
    assert_eq!(received(&rx).await, sent);
}

#[tokio::test]
async fn interleaved_peers_each_get_their_own_datagrams_in_order() {
    let (tx_sock, a, b) = (sock().await, sock().await, sock().await);
    let (to_a, to_b) = (tx_to(&tx_sock, &a), tx_to(&tx_sock, &b));
    let for_a = datagrams(&[1300; 12]);
    let for_b = datagrams(&[900; 12]);
    let burst = Burst::start();
    for (i, (da, db)) in for_a.iter().zip(&for_b).enumerate() {
        to_a.send(da).unwrap();
        if i % 3 == 0 {
            to_b.send(db).unwrap();
        }
    }
    for db in for_b
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, d)| d)
    {
        to_b.send(db).unwrap();
    }
    // Dropped instead of finished: what was collected still leaves.
    drop(burst);
    assert_eq!(received(&a).await, for_a);
    let mut want_b: Vec<_> = for_b.iter().step_by(3).cloned().collect();
    want_b.extend(
        for_b
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, d)| d.clone()),
    );
    assert_eq!(received(&b).await, want_b);
}

#[tokio::test]
async fn without_a_burst_each_datagram_leaves_at_once() {
    let (tx_sock, rx) = (sock().await, sock().await);
    let tx = tx_to(&tx_sock, &rx);
    tx.send(b"one").unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), rx.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"one");
}

/// A train of 10 x 1000 bytes and a last datagram of 300.
fn train_of_eleven() -> (Vec<Vec<u8>>, Vec<u8>) {
    let sent = datagrams(&mixed_sizes()[..11]);
    let buf = sent.concat();
    (sent, buf)
}

type SendTrain = fn(&DatagramSocket, SocketAddr, &[u8], usize) -> io::Result<()>;

/// Sends `train_of_eleven` with `send` and checks that exactly its datagrams arrive, in order.
async fn train_arrives_whole(send: SendTrain) {
    let (tx_sock, rx) = (sock().await, sock().await);
    let (sent, buf) = train_of_eleven();
    send(&tx_sock, addr(&rx), &buf, 1000).unwrap();
    assert_eq!(received(&rx).await, sent);
}

#[tokio::test]
async fn loopback_takes_udp_segment_and_splits_the_train_back() {
    train_arrives_whole(send_segmented).await;
}

#[tokio::test]
async fn the_one_by_one_fallback_delivers_the_same_datagrams() {
    train_arrives_whole(send_each).await;
}

#[test]
fn einval_is_per_train_and_eio_is_for_good() {
    for errno in [libc::EINVAL, libc::EIO, libc::ENOPROTOOPT, libc::EOPNOTSUPP] {
        assert!(gso_refused(&io::Error::from_raw_os_error(errno)), "{errno}");
    }
    for errno in [libc::EAGAIN, libc::EHOSTUNREACH, libc::EPERM] {
        assert!(
            !gso_refused(&io::Error::from_raw_os_error(errno)),
            "{errno}"
        );
    }
}
