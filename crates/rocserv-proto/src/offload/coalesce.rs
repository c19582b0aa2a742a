//! Joining consecutive TCP segments of one flow into one super-packet for a TUN device with
//! offloads: receive-side coalescing, what the kernel's GRO does for a network card.
//!
//! A client's upload arrives as one MTU-sized TCP segment per datagram or CSTP frame. Written
//! to the device one by one, every segment crosses the host's forwarding path and the
//! receiver's TCP stack on its own; joined, a run of them crosses once, as one super-packet the
//! kernel cuts again only where it has to. A segment joins the one held before it when it
//! continues the same flow exactly: same addresses, ports and IP/TCP header bytes (TTL, TOS,
//! ACK number, window, options) except the lengths, IPv4 identification, sequence number and
//! checksums; its sequence number and IPv4 identification follow on (so the kernel's cut
//! gives back the very same packets); it carries data and no flag but ACK (and PSH,
//! which ends the run); and it is no longer than the first (a shorter one ends the run). Its
//! IPv4 header and TCP checksums must verify (a join hands the kernel a packet whose checksum
//! it will compute, so a corrupt segment must not be hidden in one). Anything else is passed
//! through unchanged, after the held run, so the order of packets never changes.

use super::{
    fold, get_u16, get_u32, ip_header, pseudo_header_sum, put_u16, sum_bytes, tcp_header_len,
    VnetHdr, F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, IPV6_HEADER, L3, PROTO_TCP, TCP_PSH, VNET_HDR_LEN,
};

/// The TCP flags a segment may carry and still join a run: ACK, and PSH (which ends it).
const TCP_ACK: u8 = 0x10;
/// Largest super-packet: what the IP length fields can describe.
const MAX_SUPER: usize = 65_535;
/// Most segments in one super-packet (the kernel's GRO stops at 64 as well).
const MAX_SEGMENTS: u16 = 64;

/// The all-zero virtio-net header: a packet written as it is.
pub const PLAIN: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// The run of segments held, as IP packet bytes in `Coalescer::buf`.
#[derive(Debug, Clone, Copy)]
struct Run {
    l3: L3,
    /// Offset of the TCP header.
    l4_off: usize,
    /// IP + TCP header length.
    hdr_len: usize,
    /// Payload length of the first segment: the super-packet's segment size.
    mss: usize,
    segments: u16,
    /// The sequence number the next segment must have.
    next_seq: u32,
    /// PSH seen or a short segment joined: nothing may follow.
    closed: bool,
    psh: bool,
    /// IPv4 identification of the first segment (the kernel numbers the segments on from it).
    first_id: u16,
}

/// A TCP segment that may start or join a run.
#[derive(Debug, Clone, Copy)]
struct Segment {
    l3: L3,
    l4_off: usize,
    hdr_len: usize,
    seq: u32,
    psh: bool,
    /// IPv4 identification (0 for IPv6).
    id: u16,
}

/// Joins the TCP segments pushed into it into super-packets; see the module documentation.
/// Every frame comes out through the caller's `emit(header, packet)`, in order.
#[derive(Debug)]
pub struct Coalescer {
    buf: Vec<u8>,
    run: Option<Run>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new()
    }
}

impl Coalescer {
    /// A coalescer with room for one 64 KiB super-packet.
    pub fn new() -> Coalescer {
        Coalescer {
            buf: Vec::with_capacity(MAX_SUPER),
            run: None,
        }
    }

    /// Whether a run is held (it goes out with the next [`Coalescer::flush`] at the latest).
    pub fn is_holding(&self) -> bool {
        self.run.is_some()
    }

    /// Adds one IP packet. It joins the held run, or starts a new one (the held run is emitted
    /// first), or is emitted as it is (after the held run).
    pub fn push(&mut self, pkt: &[u8], emit: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8])) {
        let Some(seg) = joinable(pkt) else {
            self.flush(emit);
            emit(&PLAIN, pkt);
            return;
        };
        let payload = pkt.len() - seg.hdr_len;
        if let Some(run) = self.run.as_mut() {
            let fits = !run.closed
                && run.l3 == seg.l3
                && run.hdr_len == seg.hdr_len
                && run.l4_off == seg.l4_off
                && run.next_seq == seg.seq
                && (run.l3 == L3::V6 || seg.id == run.first_id.wrapping_add(run.segments))
                && payload <= run.mss
                && run.segments < MAX_SEGMENTS
                && self.buf.len() + payload <= MAX_SUPER
                && same_flow(&self.buf, pkt, run.l3, run.l4_off, run.hdr_len);
            if fits {
                if let Some(data) = pkt.get(seg.hdr_len..) {
                    self.buf.extend_from_slice(data);
                }
                run.segments += 1;
                run.next_seq = seg.seq.wrapping_add(payload as u32);
                run.psh |= seg.psh;
                run.closed = seg.psh || payload < run.mss;
                return;
            }
        }
        self.flush(emit);
        if seg.psh {
            // Nothing could join it: no need to hold it.
            emit(&PLAIN, pkt);
            return;
        }
        self.buf.clear();
        self.buf.extend_from_slice(pkt);
        self.run = Some(Run {
            l3: seg.l3,
            l4_off: seg.l4_off,
            hdr_len: seg.hdr_len,
            mss: payload,
            segments: 1,
            next_seq: seg.seq.wrapping_add(payload as u32),
            closed: false,
            psh: false,
            first_id: seg.id,
        });
    }

    /// Emits the held run, if any: a lone segment as it came, a longer run as one
    /// super-packet (IP length and IPv4 header checksum updated, PSH if a segment had it, the
    /// TCP checksum field holding the pseudo-header sum the kernel completes, and a virtio-net
    /// header asking for TSO with the first segment's payload size).
    pub fn flush(&mut self, emit: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8])) {
        let Some(run) = self.run.take() else { return };
        if run.segments == 1 {
            emit(&PLAIN, &self.buf);
            return;
        }
        let len = self.buf.len();
        let l4_len = len - run.l4_off;
        let gso_type = match run.l3 {
            L3::V4 => {
                put_u16(&mut self.buf, 2, len as u16);
                put_u16(&mut self.buf, 10, 0);
                let sum = !fold(sum_bytes(0, self.buf.get(..run.l4_off).unwrap_or_default()));
                put_u16(&mut self.buf, 10, sum);
                GSO_TCPV4
            }
            L3::V6 => {
                put_u16(&mut self.buf, 4, l4_len as u16);
                GSO_TCPV6
            }
        };
        if run.psh {
            if let Some(flags) = self.buf.get_mut(run.l4_off + 13) {
                *flags |= TCP_PSH;
            }
        }
        let pseudo = fold(pseudo_header_sum(&self.buf, run.l3, PROTO_TCP, l4_len));
        put_u16(&mut self.buf, run.l4_off + 16, pseudo);
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: run.hdr_len as u16,
            gso_size: run.mss as u16,
            csum_start: run.l4_off as u16,
            csum_offset: 16,
        };
        emit(&hdr.to_bytes(), &self.buf);
    }
}

/// The segment's headers when `pkt` is a TCP segment that may be held: IPv4 without
/// fragmentation or IPv6 without extension headers, lengths consistent, data present, flags
/// ACK (+PSH) only, IPv4 header and TCP checksums valid.
fn joinable(pkt: &[u8]) -> Option<Segment> {
    let (l3, l4_off, proto) = ip_header(pkt).ok()?;
    let ip_ok = proto == PROTO_TCP
        && match l3 {
            L3::V4 => {
                usize::from(get_u16(pkt, 2)) == pkt.len()
                    && get_u16(pkt, 6) & 0x3fff == 0 // neither MF nor a fragment offset
                    && fold(sum_bytes(0, pkt.get(..l4_off)?)) == 0xffff
            }
            L3::V6 => usize::from(get_u16(pkt, 4)) + IPV6_HEADER == pkt.len(),
        };
    if !ip_ok {
        return None;
    }
    let tcp_len = tcp_header_len(pkt, l4_off)?;
    let hdr_len = l4_off + tcp_len;
    let flags = *pkt.get(l4_off + 13)?;
    if pkt.len() <= hdr_len || flags & !TCP_PSH != TCP_ACK {
        return None;
    }
    let l4_len = pkt.len() - l4_off;
    let sum = sum_bytes(
        pseudo_header_sum(pkt, l3, PROTO_TCP, l4_len),
        pkt.get(l4_off..)?,
    );
    if fold(sum) != 0xffff {
        return None;
    }
    Some(Segment {
        l3,
        l4_off,
        hdr_len,
        seq: get_u32(pkt, l4_off + 4),
        psh: flags & TCP_PSH != 0,
        id: if l3 == L3::V4 { get_u16(pkt, 4) } else { 0 },
    })
}

/// Whether `pkt` has the held run's header bytes, apart from the fields every segment has
/// its own of: IP length, IPv4 identification and header checksum; TCP sequence number,
/// flags (ACK and PSH, checked by the caller) and checksum.
fn same_flow(held: &[u8], pkt: &[u8], l3: L3, l4_off: usize, hdr_len: usize) -> bool {
    let (Some(a), Some(b)) = (held.get(..hdr_len), pkt.get(..hdr_len)) else {
        return false;
    };
    let ip_same = match l3 {
        // version..TOS, flags/fragment..protocol, addresses and options
        L3::V4 => {
            a.get(..2) == b.get(..2)
                && a.get(6..10) == b.get(6..10)
                && a.get(12..l4_off) == b.get(12..l4_off)
        }
        // version/class/flow label, next header/hop limit, addresses
        L3::V6 => a.get(..4) == b.get(..4) && a.get(6..l4_off) == b.get(6..l4_off),
    };
    let t = l4_off;
    ip_same
        && a.get(t..t + 4) == b.get(t..t + 4) // ports
        && a.get(t + 8..t + 13) == b.get(t + 8..t + 13) // ACK number, data offset
        && a.get(t + 14..t + 16) == b.get(t + 14..t + 16) // window
        && a.get(t + 18..hdr_len) == b.get(t + 18..hdr_len) // urgent pointer, options
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
