//! TUN offloads: the virtio-net header a TUN device opened with `IFF_VNET_HDR` puts in front of
//! every packet, and the segmentation of the super-packets such a device hands over when TCP
//! segmentation offload (TSO) or UDP segmentation offload (USO) is on.
//!
//! With TSO on the device, the kernel no longer cuts a TCP sender's large writes into MTU-sized
//! packets on their way into the device: the server reads one super-packet of up to 64 KiB with
//! one system call instead of one per packet, and [`Segments`] cuts it here into exactly the
//! packets the kernel would have produced: the IP header copied with its length adjusted (and
//! for IPv4 the identification advanced and the header checksum recomputed), the TCP sequence
//! number advanced, FIN and PSH kept only on the last segment and CWR only on the first, and
//! every segment's transport checksum computed in full. A packet that only asks for its
//! checksum (`NEEDS_CSUM`: checksum offload) has it completed; any other packet is copied as is.
//!
//! The header's fields are in the host's byte order (a TUN device's default, the "legacy"
//! virtio endianness); `hdr_len` is not used (the kernel fills it with the length of the
//! buffer's linear part, not necessarily the headers').

use thiserror::Error;

mod coalesce;
mod segment;
#[cfg(test)]
mod test_packets;

pub use coalesce::{Coalescer, PLAIN};
pub use segment::Segments;

/// Length of `struct virtio_net_hdr` (without `num_buffers`): what TUN reads and writes in
/// front of every packet by default.
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum from `csum_start` on is still to be computed.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_*`.
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_UDP_L4: u8 = 5;
const GSO_ECN: u8 = 0x80;

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// TCP flag bits in byte 13 of the header.
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// The virtio-net header of one packet read from (or written to) a TUN device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*`.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*`, possibly with the ECN bit (0x80).
    pub gso_type: u8,
    /// Length of the headers (unreliable on reads, see the module documentation).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed range starts (the transport header).
    pub csum_start: u16,
    /// Where the checksum field is, counted from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header at the start of `frame`, `None` when `frame` is shorter than one.
    pub fn parse(frame: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = frame.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let [flags, gso_type, h0, h1, s0, s1, c0, c1, o0, o1] = *b;
        Some(VnetHdr {
            flags,
            gso_type,
            hdr_len: u16::from_ne_bytes([h0, h1]),
            gso_size: u16::from_ne_bytes([s0, s1]),
            csum_start: u16::from_ne_bytes([c0, c1]),
            csum_offset: u16::from_ne_bytes([o0, o1]),
        })
    }

    /// The header's bytes as the device expects them. All zero (no offload requested) for
    /// the packets the server writes.
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let [h0, h1] = self.hdr_len.to_ne_bytes();
        let [s0, s1] = self.gso_size.to_ne_bytes();
        let [c0, c1] = self.csum_start.to_ne_bytes();
        let [o0, o1] = self.csum_offset.to_ne_bytes();
        [self.flags, self.gso_type, h0, h1, s0, s1, c0, c1, o0, o1]
    }
}

/// Why a frame from the device cannot be turned into packets (it is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OffloadError {
    /// Shorter than the virtio-net header.
    #[error("frame of {0} bytes is shorter than the virtio-net header")]
    NoHeader(usize),
    /// A segmentation type this server did not enable on the device.
    #[error("unsupported segmentation type {0:#04x}")]
    GsoType(u8),
    /// The IP or transport header of a super-packet is truncated or does not match its
    /// segmentation type.
    #[error("malformed {0} header in a segmentation-offload packet")]
    Malformed(&'static str),
    /// A super-packet with a segment size of 0.
    #[error("segmentation-offload packet with segment size 0")]
    ZeroSegmentSize,
    /// The checksum position of a `NEEDS_CSUM` packet lies outside it.
    #[error("checksum field at {start}+{offset} outside the {len}-byte packet")]
    ChecksumRange {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The packet's length.
        len: usize,
    },
    /// The caller's buffer cannot hold the next packet.
    #[error("a {need}-byte packet does not fit the {have}-byte buffer")]
    OutputTooSmall {
        /// The packet's length.
        need: usize,
        /// The buffer's length.
        have: usize,
    },
}

/// The IP version of a super-packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L3 {
    V4,
    V6,
}

/// The transport of a super-packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
}

/// The IP header at the start of `pkt`: version, transport offset (IPv4 header length, or 40:
/// IPv6 without extension headers) and transport protocol. The error names the header that is
/// truncated or malformed ("IP" for a missing or unknown version).
fn ip_header(pkt: &[u8]) -> Result<(L3, usize, u8), &'static str> {
    let first = *pkt.first().ok_or("IP")?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let proto = *pkt.get(9).ok_or("IPv4")?;
            if ihl < 20 || pkt.len() < ihl {
                return Err("IPv4");
            }
            Ok((L3::V4, ihl, proto))
        }
        6 => {
            let next = *pkt.get(6).ok_or("IPv6")?;
            if pkt.len() < IPV6_HEADER {
                return Err("IPv6");
            }
            Ok((L3::V6, IPV6_HEADER, next))
        }
        _ => Err("IP"),
    }
}

/// The length of the TCP header at `l4_off` (its data offset), `None` when it is missing or
/// below the 20-byte minimum.
fn tcp_header_len(pkt: &[u8], l4_off: usize) -> Option<usize> {
    let len = usize::from(pkt.get(l4_off + 12)? >> 4) * 4;
    (len >= 20).then_some(len)
}

/// The sum of the transport checksum's pseudo-header (addresses, protocol, transport length).
fn pseudo_header_sum(pkt: &[u8], l3: L3, proto: u8, l4_len: usize) -> u64 {
    let addrs = match l3 {
        L3::V4 => pkt.get(12..20),
        L3::V6 => pkt.get(8..40),
    };
    sum_bytes(u64::from(proto) + l4_len as u64, addrs.unwrap_or_default())
}

/// Adds `data` to a ones'-complement sum as 16-bit big-endian words (a trailing odd byte
/// padded with zero). Summing 32-bit words and folding later gives the same result (2^16 = 1
/// modulo 2^16 - 1), with half the additions.
pub fn sum_bytes(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        if let Ok(w) = <[u8; 4]>::try_from(w) {
            acc += u64::from(u32::from_be_bytes(w));
        }
    }
    match *words.remainder() {
        [a] => acc += u64::from(a) << 8,
        [a, b] => acc += u64::from(u16::from_be_bytes([a, b])),
        [a, b, c] => acc += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        _ => {}
    }
    acc
}

/// Folds a sum from [`sum_bytes`] to 16 bits (end-around carries).
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field's value for a folded sum: its complement, with 0 sent as 0xffff (the
/// same number in ones' complement; for UDP 0 would mean "no checksum").
fn finish_checksum(sum: u16) -> u16 {
    match !sum {
        0 => 0xffff,
        c => c,
    }
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map_or(0, u16::from_be_bytes)
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes)
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}
