//! A reusable receive buffer that turns a byte stream into CSTP frames.

use super::{decode_header, CstpError, Frame, HEADER_LEN, MAX_PAYLOAD};

/// Receive buffer for one CSTP stream: allocated once, reused for every read.
///
/// Driver loop:
/// ```
/// # use rocserv_proto::cstp::{FrameReader, HEADER_LEN, MAX_PAYLOAD};
/// # fn read(_: &mut [u8]) -> usize { 0 }
/// let mut reader = FrameReader::new(2 * (HEADER_LEN + MAX_PAYLOAD));
/// let n = read(reader.spare());
/// reader.filled(n);
/// while let Ok(Some(frame)) = reader.next_frame() {
///     let _ = frame.ty;
/// }
/// ```
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameReader {
    /// A reader with room for `capacity` bytes (raised to at least one maximal frame).
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity.max(HEADER_LEN + MAX_PAYLOAD)],
            start: 0,
            end: 0,
        }
    }

    /// A reader that starts with `initial` bytes and grows only when a frame larger than its
    /// buffer arrives (up to one maximal frame): a tunnel whose frames fit its MTU never holds
    /// the 16 KiB a maximal frame would need.
    pub fn growable(initial: usize) -> Self {
        Self {
            buf: vec![0; initial.max(HEADER_LEN + 1)],
            start: 0,
            end: 0,
        }
    }

    /// The free space to read more bytes into. Unconsumed bytes are first moved to the front,
    /// and the buffer grows if needed, so there is always room for at least the rest of the
    /// current frame. Empty only when the buffer holds complete frames not yet taken with
    /// [`FrameReader::next_frame`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let pending = self.buf.get(..self.end).unwrap_or_default();
        if let Ok(Some((_, len))) = decode_header(pending) {
            let whole = HEADER_LEN + len;
            if whole > self.buf.len() {
                self.buf.resize(whole, 0);
            }
        } else if self.end == self.buf.len() {
            // Only part of a header fits (a tiny initial buffer): make room for a header.
            self.buf.resize(self.end.max(HEADER_LEN), 0);
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Records that `n` bytes were written at the start of [`FrameReader::spare`]. Values
    /// larger than the spare space are clamped.
    pub fn filled(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The next complete frame, consuming it. `Ok(None)`: read more bytes. An error is
    /// permanent for this stream (it cannot be resynchronised); close the connection.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CstpError> {
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        let Some((ty, len)) = decode_header(pending)? else {
            return Ok(None);
        };
        if pending.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload_start = self.start + HEADER_LEN;
        self.start = payload_start + len;
        if self.start == self.end {
            // Everything consumed: the next read starts at the front without a copy. The
            // payload bytes stay intact until `spare()` hands the space out again.
            self.start = 0;
            self.end = 0;
        }
        let payload = self
            .buf
            .get(payload_start..payload_start + len)
            .unwrap_or_default();
        Ok(Some(Frame { ty, payload }))
    }
}
