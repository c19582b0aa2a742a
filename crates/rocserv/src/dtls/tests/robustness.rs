use std::net::UdpSocket as StdUdpSocket;
use std::time::Duration;

use super::*;

const KEY: [u8; 32] = [0x17; 32];

async fn established() -> (Arc<DatagramSocket>, Association, Client) {
    let (sock, mut assoc, mut client) = psk_pair(KEY, KEY, None).await;
    let _ = handshake(&mut assoc, &sock, &mut client).await;
    assert!(client.done && assoc.is_established(), "{:?}", client.failed);
    (sock, assoc, client)
}

/// Encrypts `payload` with the client but returns the datagram instead of sending it.
fn capture(client: &mut Client, payload: &[u8]) -> Vec<u8> {
    client.stream.get_mut().capture = true;
    client.send(payload);
    client.stream.get_mut().capture = false;
    let mut captured = std::mem::take(&mut client.stream.get_mut().captured);
    assert_eq!(captured.len(), 1);
    captured.pop().unwrap_or_default()
}

fn feed(
    assoc: &mut Association,
    dgram: &[u8],
    from: SocketAddr,
) -> (Result<usize, DtlsError>, Vec<Vec<u8>>) {
    let mut payloads = Vec::new();
    let r = assoc.on_datagram(dgram, from, Instant::now(), &mut |p| {
        payloads.push(p.to_vec())
    });
    (r, payloads)
}

#[tokio::test]
async fn garbage_and_replays_are_dropped_without_breaking_the_association() {
    let (sock, mut assoc, mut client) = established().await;
    let from = client_addr(&client);
    let record = capture(&mut client, &[0x00, 0xAA, 0xBB]);

    let mut forged = record.clone();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    let mut truncated = record.clone();
    truncated.truncate(record.len() / 2);
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x17],
        vec![0xFF; 100],
        forged,
        truncated,
        // An application-data header announcing more bytes than present.
        vec![
            0x17, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 9, 0x40, 0x00, 1, 2, 3,
        ],
        // A plaintext fatal alert in epoch 0.
        vec![0x15, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40],
        // A ClientHello-looking record in epoch 0.
        vec![0x16, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    ];
    for g in &garbage {
        let (r, p) = feed(&mut assoc, g, from);
        assert!(matches!(r, Ok(0)), "garbage {g:02x?}: {r:?}");
        assert!(p.is_empty());
    }
    let (r, p) = feed(&mut assoc, &record, from);
    assert!(matches!(r, Ok(1)), "{r:?}");
    assert_eq!(p, vec![vec![0x00, 0xAA, 0xBB]]);
    let (r, p) = feed(&mut assoc, &record, from);
    assert!(matches!(r, Ok(0)), "replay: {r:?}");
    assert!(p.is_empty());

    assert!(assoc.is_established());
    exchange(&mut assoc, &sock, &mut client).await;
}

#[tokio::test]
async fn several_records_in_one_datagram_are_all_delivered() {
    let (_sock, mut assoc, mut client) = established().await;
    let a = capture(&mut client, &[0x00, 1]);
    let b = capture(&mut client, &[0x03, 2, 2]);
    let both: Vec<u8> = a.into_iter().chain(b).collect();
    let (r, p) = feed(&mut assoc, &both, client_addr(&client));
    assert!(matches!(r, Ok(2)), "{r:?}");
    assert_eq!(p, vec![vec![0x00, 1], vec![0x03, 2, 2]]);
}

#[tokio::test]
async fn records_from_a_new_address_authenticate_and_the_peer_can_move() {
    let (_sock, mut assoc, mut client) = established().await;
    let record = capture(&mut client, &[0x07]);
    let moved = match StdUdpSocket::bind("127.0.0.1:0") {
        Ok(s) => s,
        Err(e) => panic!("bind: {e}"),
    };
    let new_addr = match moved.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    };
    let (r, p) = feed(&mut assoc, &record, new_addr);
    assert!(matches!(r, Ok(n) if n > 0), "{r:?}");
    assert_eq!(p, vec![vec![0x07]]);

    assoc.set_peer(new_addr);
    assert_eq!(assoc.peer(), new_addr);
    assert!(assoc.send(&[0x04]).is_ok());
    if let Err(e) = moved.set_read_timeout(Some(Duration::from_secs(2))) {
        panic!("timeout: {e}");
    }
    let mut buf = [0u8; 2048];
    let n = match moved.recv(&mut buf) {
        Ok(n) => n,
        Err(e) => panic!("nothing sent to the new address: {e}"),
    };
    // 13 header + 8 explicit nonce + 1 payload + 16 tag.
    assert_eq!(n, 38);
    // Hand it to the client: it is a record of the same association.
    client.stream.get_mut().injected = Some(buf.get(..n).unwrap_or_default().to_vec());
    assert_eq!(client.recv_all(), vec![vec![0x04]]);
}

#[tokio::test]
async fn every_record_of_a_datagram_is_delivered() {
    // DTLS allows several records in one datagram; the association must not stop after the
    // first one it delivers (it stops reading once the datagram is taken and none is left).
    let (_sock, mut assoc, mut client) = established().await;
    let from = client_addr(&client);
    let (a, b, c) = (vec![0u8, 1, 1], vec![0u8, 2, 2, 2], vec![0u8, 3]);
    let two = [capture(&mut client, &a), capture(&mut client, &b)].concat();
    let (r, got) = feed(&mut assoc, &two, from);
    assert_eq!((r.ok(), got), (Some(2), vec![a, b.clone()]));
    // One record per datagram, as openconnect sends them, still one delivery each.
    let one = capture(&mut client, &c);
    let (r, got) = feed(&mut assoc, &one, from);
    assert_eq!((r.ok(), got), (Some(1), vec![c]));
    // A replayed record yields nothing and leaves the association usable.
    assert_eq!(feed(&mut assoc, &one, from).1, Vec::<Vec<u8>>::new());
    let again = capture(&mut client, &b);
    let (r, got) = feed(&mut assoc, &again, from);
    assert_eq!((r.ok(), got), (Some(1), vec![b]));
}
