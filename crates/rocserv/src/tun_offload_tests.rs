//! Root tests of the device's offloads in a fresh network namespace: super-packets read from
//! the device and cut, runs of segments written to it and taken by a real TCP socket.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::Ipv4Addr;
use std::time::Duration;

use rocserv_proto::offload::{fold, sum_bytes, Coalescer, Segments};

use super::tests::in_fresh_netns;
use super::*;

/// The next `want` IPv4/UDP packets to `peer` read from `tun` (anything else the kernel
/// sends is skipped), cut from super-packets where the device has offloads, and the number
/// of device reads they took.
pub(super) async fn udp_packets_to(
    tun: &Tun,
    peer: Ipv4Addr,
    want: usize,
) -> (Vec<Vec<u8>>, usize) {
    let mut frame = vec![0u8; MAX_FRAME];
    let mut pkt = vec![0u8; 2048];
    let mut got = Vec::new();
    let mut reads = 0;
    tokio::time::timeout(Duration::from_secs(5), async {
        while got.len() < want {
            tun.readable().await.unwrap();
            let Ok(n) = tun.try_recv(&mut frame) else {
                continue;
            };
            let mut segs = if tun.has_vnet_hdr() {
                Segments::with_vnet_hdr(&frame[..n]).unwrap()
            } else {
                Segments::plain(&frame[..n])
            };
            let mut ours = false;
            while let Some(m) = segs.next_into(&mut pkt).unwrap() {
                let p = &pkt[..m];
                if m >= 28 && p[0] >> 4 == 4 && p[9] == 17 && p[16..20] == peer.octets() {
                    got.push(p.to_vec());
                    ours = true;
                }
            }
            reads += usize::from(ours);
        }
    })
    .await
    .expect("no packet came out of the tun");
    (got, reads)
}

/// The IPv4 header and UDP checksums of `pkt` verify.
pub(super) fn assert_udp_checksum(pkt: &[u8]) {
    use rocserv_proto::offload::{fold, sum_bytes};
    assert_eq!(
        fold(sum_bytes(0, &pkt[..20])),
        0xffff,
        "IPv4 header checksum"
    );
    let udp_len = pkt.len() - 20;
    let pseudo = sum_bytes(17 + udp_len as u64, &pkt[12..20]);
    assert_eq!(fold(sum_bytes(pseudo, &pkt[20..])), 0xffff, "UDP checksum");
    assert_eq!(usize::from(u16::from_be_bytes([pkt[24], pkt[25]])), udp_len);
}

/// A device `<base>0` with offloads, local address 10.`net`.0.1, client 10.`net`.0.2 (netlink
/// is needed only to set it up).
async fn offload_tun(base: &'static str, net: u8) -> (Tun, Ipv4Addr, Ipv4Addr) {
    let nl = Netlink::new().unwrap();
    let local = Ipv4Addr::new(10, net, 0, 1);
    let peer = Ipv4Addr::new(10, net, 0, 2);
    let cfg = TunConfig {
        base_name: base,
        local,
        peer,
        mtu: 1400,
    };
    let tun = Tun::create(&cfg, &nl).await.unwrap();
    assert!(tun.has_vnet_hdr(), "offloads refused by this kernel");
    (tun, local, peer)
}

/// A UDP GSO send of 5 segments towards the client leaves the device in one read (USO) and
/// comes out as the 5 datagrams, checksums complete, a receiver could have got without
/// offloads.
#[test]
fn udp_super_packet_is_read_once_and_cut() {
    in_fresh_netns(|| async {
        let (tun, local, peer) = offload_tun("ruso", 97).await;
        let sock = std::net::UdpSocket::bind((local, 0)).unwrap();
        let seg: libc::c_int = 1000;
        // SAFETY: a live socket, an int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&seg as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "UDP_SEGMENT: {}", io::Error::last_os_error());
        let data: Vec<u8> = (0..4500u32).map(|i| (i % 251) as u8).collect();
        sock.send_to(&data, (peer, 9)).unwrap();
        let (pkts, reads) = udp_packets_to(&tun, peer, 5).await;
        let mut joined = Vec::new();
        for p in &pkts {
            assert_udp_checksum(p);
            joined.extend_from_slice(&p[28..]);
        }
        assert_eq!(
            pkts.iter().map(Vec::len).collect::<Vec<_>>(),
            [1028, 1028, 1028, 1028, 528]
        );
        assert_eq!(joined, data);
        // Linux >= 6.2 has USO on TUN; older kernels cut before the device.
        if tun.dev().unwrap().udp_gso() {
            assert_eq!(reads, 1, "the five datagrams should have come in one read");
        }
    });
}

/// An IPv4/TCP packet from `src` to `dst` with `flags`, sequence and acknowledgement numbers,
/// identification `id` and `data`, checksums complete.
#[allow(clippy::too_many_arguments)]
fn tcp_packet(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    id: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let len = 40 + data.len();
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.0.octets());
    p[16..20].copy_from_slice(&dst.0.octets());
    let ip_sum = !fold(sum_bytes(0, &p[..20]));
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    p[20..22].copy_from_slice(&src.1.to_be_bytes());
    p[22..24].copy_from_slice(&dst.1.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(&ack.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = flags;
    p[34..36].copy_from_slice(&65535u16.to_be_bytes());
    p.extend_from_slice(data);
    let pseudo = sum_bytes(6 + (len - 20) as u64, &p[12..20]);
    let tcp_sum = !fold(sum_bytes(pseudo, &p[20..]));
    p[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
    p
}

/// A client's upload written as runs of segments joined into super-packets (what the tunnel
/// does with the client's packets) is taken by the host's TCP stack: a real socket reads
/// every byte, in order. The kernel refusing or mangling a super-packet fails this.
#[test]
fn joined_tcp_segments_reach_a_socket_intact() {
    in_fresh_netns(|| async {
        let (tun, local, peer) = offload_tun("rgro", 96).await;
        let listener = std::net::TcpListener::bind((local, 5555)).unwrap();
        let (me, srv) = ((peer, 40000), (local, 5555));

        // Handshake by hand: SYN in, SYN-ACK out of the device, ACK in.
        tun.write(&NO_OFFLOAD, &tcp_packet(me, srv, 1, 1000, 0, 0x02, &[]))
            .unwrap();
        let mut frame = vec![0u8; MAX_FRAME];
        let isn = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                tun.readable().await.unwrap();
                let Ok(n) = tun.try_recv(&mut frame) else {
                    continue;
                };
                let p = &frame[VNET_HDR_LEN..n];
                if p.len() >= 40
                    && p[9] == 6
                    && p[33] == 0x12
                    && p[22..24] == 40000u16.to_be_bytes()
                {
                    return u32::from_be_bytes(p[24..28].try_into().unwrap());
                }
            }
        })
        .await
        .expect("no SYN-ACK");
        let ack = isn.wrapping_add(1);
        tun.write(&NO_OFFLOAD, &tcp_packet(me, srv, 2, 1001, ack, 0x10, &[]))
            .unwrap();
        let (mut conn, _) = listener.accept().unwrap();

        // 40 segments of 1,000 bytes (the last with PSH) through the coalescer.
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let mut c = Coalescer::new();
        let mut frames = Vec::new();
        let mut emit = |h: &[u8; VNET_HDR_LEN], p: &[u8]| frames.push((*h, p.to_vec()));
        for (i, chunk) in data.chunks(1000).enumerate() {
            let flags = if i == 39 { 0x18 } else { 0x10 };
            let seq = 1001 + (i as u32) * 1000;
            c.push(
                &tcp_packet(me, srv, 3 + i as u16, seq, ack, flags, chunk),
                &mut emit,
            );
        }
        c.flush(&mut emit);
        assert_eq!(frames.len(), 1, "one super-packet expected");
        for (h, p) in &frames {
            assert_eq!(tun.write(h, p).unwrap(), p.len());
        }
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0u8; data.len()];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(got, data);
    });
}
