//! The 64-record anti-replay window of one epoch (RFC 4347 §4.1.2.5, RFC 6347 §4.1.2.6), shared
//! by the DTLS 0.9 and the DTLS 1.2 record layers.

/// Sliding window over the highest sequence number seen and the 63 before it.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number, if any.
    top: Option<u64>,
    /// Bit `i` set = `top - i` was seen.
    seen: u64,
}

/// Window width in records.
pub const WINDOW: u64 = 64;

impl ReplayWindow {
    /// Whether `seq` is new and inside the window (check before authenticating).
    pub fn is_fresh(&self, seq: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if seq > top => true,
            Some(top) => {
                let age = top - seq;
                age < WINDOW && self.seen & (1u64 << age) == 0
            }
        }
    }

    /// Records `seq` as seen (call only after the record authenticated).
    pub fn mark(&mut self, seq: u64) {
        match self.top {
            None => {
                self.top = Some(seq);
                self.seen = 1;
            }
            Some(top) if seq > top => {
                let shift = seq - top;
                self.seen = if shift >= WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.top = Some(seq);
            }
            Some(top) => {
                let age = top - seq;
                if age < WINDOW {
                    self.seen |= 1u64 << age;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rejects_duplicates_and_old_records() {
        let mut w = ReplayWindow::default();
        assert!(w.is_fresh(5));
        w.mark(5);
        assert!(!w.is_fresh(5));
        assert!(w.is_fresh(3));
        w.mark(3);
        assert!(!w.is_fresh(3));
        w.mark(100);
        assert!(!w.is_fresh(36), "100 - 36 = 64 is outside the window");
        assert!(w.is_fresh(37));
        assert!(!w.is_fresh(100));
        w.mark(37);
        assert!(!w.is_fresh(37));
        assert!(w.is_fresh(99));
        w.mark(1000);
        assert!(w.is_fresh(999));
        assert!(!w.is_fresh(100));
    }
}
