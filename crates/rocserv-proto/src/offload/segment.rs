//! Cutting a frame read from a TUN device (virtio-net header + packet or super-packet) into
//! the packets the kernel would have made.

use super::{
    finish_checksum, fold, get_u16, get_u32, ip_header, pseudo_header_sum, put_u16, sum_bytes,
    tcp_header_len, OffloadError, VnetHdr, F_NEEDS_CSUM, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6,
    GSO_UDP_L4, L3, L4, PROTO_TCP, PROTO_UDP, TCP_CWR, TCP_FIN, TCP_PSH, UDP_HEADER, VNET_HDR_LEN,
};

#[derive(Debug, Clone, Copy)]
struct Split {
    l3: L3,
    l4: L4,
    /// Offset of the transport header (the IP header's length).
    l4_off: usize,
    /// IP + transport header length: the bytes every segment starts with.
    hdr_len: usize,
    /// Payload bytes per segment.
    mss: usize,
}

#[derive(Debug, Clone, Copy)]
enum Plan {
    /// One packet, copied unchanged.
    Whole,
    /// One packet whose checksum field (at `field`) is completed over `start..`.
    Checksum { start: usize, field: usize },
    /// A super-packet cut into segments.
    Split(Split),
}

/// The packets in one frame read from a TUN device: one, or the segments of a super-packet.
/// Each [`Segments::next_into`] writes the next packet into the caller's buffer.
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    pkt: &'a [u8],
    plan: Plan,
    /// Payload offset (after the headers) of the next segment.
    next: usize,
    /// Index of the next segment.
    index: u16,
    done: bool,
}

impl<'a> Segments<'a> {
    /// A frame read from a device without the virtio-net header: one plain packet.
    pub fn plain(pkt: &'a [u8]) -> Segments<'a> {
        Segments {
            pkt,
            plan: Plan::Whole,
            next: 0,
            index: 0,
            done: false,
        }
    }

    /// A frame read from a device with `IFF_VNET_HDR`: the header, then the packet.
    ///
    /// # Errors
    /// When the header is missing, asks for a segmentation this module does not do, or the
    /// packet's headers do not fit what the header says ([`OffloadError`]).
    pub fn with_vnet_hdr(frame: &'a [u8]) -> Result<Segments<'a>, OffloadError> {
        let hdr = VnetHdr::parse(frame).ok_or(OffloadError::NoHeader(frame.len()))?;
        let pkt = frame.get(VNET_HDR_LEN..).unwrap_or_default();
        let plan = match hdr.gso_type & !GSO_ECN {
            GSO_NONE if hdr.flags & F_NEEDS_CSUM != 0 => {
                let start = usize::from(hdr.csum_start);
                let field = start + usize::from(hdr.csum_offset);
                if start >= pkt.len() || field + 2 > pkt.len() {
                    return Err(OffloadError::ChecksumRange {
                        start: hdr.csum_start,
                        offset: hdr.csum_offset,
                        len: pkt.len(),
                    });
                }
                Plan::Checksum { start, field }
            }
            GSO_NONE => Plan::Whole,
            GSO_TCPV4 => Plan::Split(split_plan(pkt, Some(L3::V4), L4::Tcp, hdr.gso_size)?),
            GSO_TCPV6 => Plan::Split(split_plan(pkt, Some(L3::V6), L4::Tcp, hdr.gso_size)?),
            GSO_UDP_L4 => Plan::Split(split_plan(pkt, None, L4::Udp, hdr.gso_size)?),
            other => return Err(OffloadError::GsoType(other)),
        };
        Ok(Segments {
            pkt,
            plan,
            next: 0,
            index: 0,
            done: false,
        })
    }

    /// Writes the next packet to the start of `out` and returns its length; `Ok(None)` when
    /// there is none left.
    ///
    /// # Errors
    /// [`OffloadError::OutputTooSmall`] when `out` cannot hold it (the remaining packets are
    /// then given up).
    pub fn next_into(&mut self, out: &mut [u8]) -> Result<Option<usize>, OffloadError> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        match self.plan {
            Plan::Whole => copy_parts(out, &[self.pkt]).map(Some),
            Plan::Checksum { start, field } => {
                let len = copy_parts(out, &[self.pkt])?;
                let sum = fold(sum_bytes(0, out.get(start..len).unwrap_or_default()));
                put_u16(out, field, finish_checksum(sum));
                Ok(Some(len))
            }
            Plan::Split(s) => {
                let payload = self.pkt.get(s.hdr_len..).unwrap_or_default();
                let rest = payload.get(self.next..).unwrap_or_default();
                let chunk = rest.get(..s.mss).unwrap_or(rest);
                let headers = self.pkt.get(..s.hdr_len).unwrap_or_default();
                let len = copy_parts(out, &[headers, chunk])?;
                let last = self.next + chunk.len() >= payload.len();
                fix_segment(
                    out.get_mut(..len).unwrap_or_default(),
                    &s,
                    self.index,
                    self.next,
                    last,
                );
                self.next += chunk.len();
                self.index = self.index.wrapping_add(1);
                self.done = last;
                Ok(Some(len))
            }
        }
    }
}

/// Checks a super-packet's headers against its segmentation type (`l3` `None`: either version).
fn split_plan(pkt: &[u8], l3: Option<L3>, l4: L4, gso_size: u16) -> Result<Split, OffloadError> {
    if gso_size == 0 {
        return Err(OffloadError::ZeroSegmentSize);
    }
    let (version, l4_off, proto) = ip_header(pkt).map_err(OffloadError::Malformed)?;
    if l3.is_some_and(|want| want != version) {
        return Err(OffloadError::Malformed("IP"));
    }
    let l4_len = match l4 {
        L4::Tcp if proto == PROTO_TCP => {
            tcp_header_len(pkt, l4_off).ok_or(OffloadError::Malformed("TCP"))?
        }
        L4::Udp if proto == PROTO_UDP => UDP_HEADER,
        L4::Tcp => return Err(OffloadError::Malformed("TCP")),
        L4::Udp => return Err(OffloadError::Malformed("UDP")),
    };
    let hdr_len = l4_off + l4_len;
    if pkt.len() < hdr_len {
        return Err(OffloadError::Malformed(match l4 {
            L4::Tcp => "TCP",
            L4::Udp => "UDP",
        }));
    }
    Ok(Split {
        l3: version,
        l4,
        l4_off,
        hdr_len,
        mss: usize::from(gso_size),
    })
}

/// Concatenates `parts` at the start of `out`; returns the length.
fn copy_parts(out: &mut [u8], parts: &[&[u8]]) -> Result<usize, OffloadError> {
    let need: usize = parts.iter().map(|p| p.len()).sum();
    if need > out.len() {
        return Err(OffloadError::OutputTooSmall {
            need,
            have: out.len(),
        });
    }
    let mut at = 0;
    for p in parts {
        if let Some(dst) = out.get_mut(at..at + p.len()) {
            dst.copy_from_slice(p);
        }
        at += p.len();
    }
    Ok(at)
}

/// Adjusts the copied headers of segment `index` (payload from `offset` of the super-packet's
/// payload) in `seg`, and computes its checksums.
fn fix_segment(seg: &mut [u8], s: &Split, index: u16, offset: usize, last: bool) {
    let len = seg.len();
    let l4_len = len - s.l4_off;
    match s.l3 {
        L3::V4 => {
            put_u16(seg, 2, len as u16);
            let id = get_u16(seg, 4).wrapping_add(index);
            put_u16(seg, 4, id);
            put_u16(seg, 10, 0);
            let sum = finish_checksum(fold(sum_bytes(0, seg.get(..s.l4_off).unwrap_or_default())));
            put_u16(seg, 10, sum);
        }
        L3::V6 => put_u16(seg, 4, l4_len as u16),
    }
    let field = match s.l4 {
        L4::Tcp => {
            let t = s.l4_off;
            let seq = get_u32(seg, t + 4).wrapping_add(offset as u32);
            if let Some(b) = seg.get_mut(t + 4..t + 8) {
                b.copy_from_slice(&seq.to_be_bytes());
            }
            if let Some(flags) = seg.get_mut(t + 13) {
                if !last {
                    *flags &= !(TCP_FIN | TCP_PSH);
                }
                if index > 0 {
                    *flags &= !TCP_CWR;
                }
            }
            t + 16
        }
        L4::Udp => {
            put_u16(seg, s.l4_off + 4, l4_len as u16);
            s.l4_off + 6
        }
    };
    put_u16(seg, field, 0);
    let proto = match s.l4 {
        L4::Tcp => PROTO_TCP,
        L4::Udp => PROTO_UDP,
    };
    let sum = sum_bytes(
        pseudo_header_sum(seg, s.l3, proto, l4_len),
        seg.get(s.l4_off..).unwrap_or_default(),
    );
    put_u16(seg, field, finish_checksum(fold(sum)));
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
