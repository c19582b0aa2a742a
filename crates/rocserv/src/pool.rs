//! Sans-IO IPv4 lease pool (`ipv4-network` / `ipv4-netmask`, `predictable-ips`, `explicit-ipv4`).
//!
//! # What ocserv does, and what we copy
//!
//! Read in ocserv's `src/ip-lease.c` (`get_ipv4_lease`, `is_ipv4_ok`), for facts only:
//!
//! * The server-side ("local image") address of **every** tun device is the same: the network
//!   address with its lowest bit set, i.e. `network + 1` for any pool of /30 or wider. It is
//!   shared by all tuns; each tun is point-to-point `local peer client/32`, so the kernel is happy
//!   with the same local address on many interfaces. (Very old ocserv versions leased an even/odd
//!   pair per client instead; current ones do not.)
//! * The client ("remote") address is picked from the host part of the network, skipping the
//!   network address, the broadcast address, the local address and addresses already leased.
//! * The starting point is a 32-bit seed chosen by the auth side: a hash of the username when
//!   `predictable-ips` is on, a random number otherwise. ocserv then tries 16 candidates (5
//!   derived from the seed by hashing, then random ones) and gives up with "could not figure out
//!   a valid IPv4 IP" even when the pool still has room.
//! * An explicit address (`explicit-ipv4`) is checked the same way (not network, not broadcast,
//!   not the local address, not leased).
//!
//! Differences, on purpose: we probe linearly from the starting point over the whole host range,
//! so allocation only fails when the pool is really full ([`PoolError::Exhausted`]); the username
//! hash is FNV-1a (stable across builds and Rust versions), so the same user tends to get the same
//! address on every server run, but not the same one ocserv would have picked; an explicit address
//! must lie inside the pool and is recorded as a lease, so two sessions can never share it.
//!
//! The pool does no I/O and reads no clock or RNG: the caller passes the random seed.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Longest prefix accepted: a /30 has exactly one client address besides network, local and
/// broadcast.
pub const MAX_PREFIX_LEN: u8 = 30;

/// Why a lease (or the pool itself) could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every client address of the pool is leased.
    #[error("the IPv4 pool is exhausted: every client address is leased")]
    Exhausted,
    /// The address is not a client address of this pool (outside the network, or its network,
    /// broadcast or server-side local address).
    #[error("{0} is not a client address of the IPv4 pool")]
    NotInPool(Ipv4Addr),
    /// The address is already leased to another session.
    #[error("{0} is already leased")]
    InUse(Ipv4Addr),
    /// The configured network is too small to hold the local address and one client.
    #[error("IPv4 pool {0} is too small: use a /{MAX_PREFIX_LEN} or a wider network")]
    TooSmall(Ipv4Net),
}

/// One client's addresses: the tun's point-to-point pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Lease {
    /// Server-side "local image" address; the same for every lease of a pool.
    pub local: Ipv4Addr,
    /// The client's VPN address (`X-CSTP-Address`, `IP_REMOTE`).
    pub remote: Ipv4Addr,
}

/// The IPv4 addresses of one pool and which of them are leased.
///
/// Client addresses are numbered by their offset from the network address; offsets `2..=size-2`
/// are leasable (0 is the network, 1 the local address, `size-1` the broadcast address). Leases
/// are kept in a `HashSet`, so memory follows the number of sessions, not the pool size.
#[derive(Clone)]
pub struct Ipv4Pool {
    net: Ipv4Net,
    predictable: bool,
    /// Offsets (from the network address) currently leased.
    leased: HashSet<u32>,
}

impl fmt::Debug for Ipv4Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ipv4Pool")
            .field("net", &self.net)
            .field("predictable", &self.predictable)
            .field("in_use", &self.leased.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// First leasable offset: network (0) and local (1) come before it.
const FIRST_CLIENT_OFFSET: u32 = 2;

impl Ipv4Pool {
    /// A pool over `net` (host bits are masked off, as ocserv does). Networks narrower than a
    /// /30 are refused with [`PoolError::TooSmall`].
    pub fn new(net: Ipv4Net, predictable: bool) -> Result<Self, PoolError> {
        let net = net.trunc();
        if net.prefix_len() > MAX_PREFIX_LEN {
            return Err(PoolError::TooSmall(net));
        }
        Ok(Self {
            net,
            predictable,
            leased: HashSet::new(),
        })
    }

    /// The pool's network.
    pub fn network(&self) -> Ipv4Net {
        self.net
    }

    /// The server-side address of every tun: network + 1 (see the module doc).
    pub fn local_address(&self) -> Ipv4Addr {
        self.addr_at(1)
    }

    /// The pool's netmask (`X-CSTP-Netmask`).
    pub fn netmask(&self) -> Ipv4Addr {
        self.net.netmask()
    }

    /// Number of addresses in the network (2^(32 - prefix)), as u64 so a /0 fits.
    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.net.prefix_len()))
    }

    /// Number of client addresses the pool can lease at once.
    pub fn capacity(&self) -> usize {
        // size >= 4 (prefix <= 30); minus network, local, broadcast.
        usize::try_from(self.client_count()).unwrap_or(usize::MAX)
    }

    fn client_count(&self) -> u64 {
        self.size().saturating_sub(3)
    }

    /// Number of addresses currently leased.
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.leased.len()
    }

    /// Whether `addr` is currently leased.
    #[cfg(test)]
    pub fn is_leased(&self, addr: Ipv4Addr) -> bool {
        self.client_offset(addr)
            .is_some_and(|off| self.leased.contains(&off))
    }

    /// Leases a client address.
    ///
    /// With `predictable-ips` the search starts at a hash of `key` (the username), so the same
    /// user tends to get the same address; otherwise it starts at `seed` (a random number from
    /// the caller). From there it probes the host range in order, wrapping around, skipping
    /// addresses in use. Fails only with [`PoolError::Exhausted`].
    pub fn allocate(&mut self, key: &str, seed: u64) -> Result<Ipv4Lease, PoolError> {
        let count = self.client_count();
        if count == 0 || self.leased.len() as u64 >= count {
            return Err(PoolError::Exhausted);
        }
        let start = if self.predictable { fnv1a(key) } else { seed } % count;
        for i in 0..count {
            let idx = (start + i) % count;
            // idx < count <= 2^32 - 3, so the offset fits in u32.
            let Ok(off) = u32::try_from(idx + u64::from(FIRST_CLIENT_OFFSET)) else {
                continue;
            };
            if self.leased.insert(off) {
                return Ok(self.lease_for(off));
            }
        }
        Err(PoolError::Exhausted)
    }

    /// Leases a given address (`explicit-ipv4`). It must be a client address of this pool
    /// ([`PoolError::NotInPool`]) and not already leased ([`PoolError::InUse`]).
    pub fn allocate_explicit(&mut self, addr: Ipv4Addr) -> Result<Ipv4Lease, PoolError> {
        let off = self.client_offset(addr).ok_or(PoolError::NotInPool(addr))?;
        if !self.leased.insert(off) {
            return Err(PoolError::InUse(addr));
        }
        Ok(self.lease_for(off))
    }

    /// Returns `remote` to the pool. Releasing an address that is not leased does nothing.
    pub fn release(&mut self, remote: Ipv4Addr) {
        if let Some(off) = self.client_offset(remote) {
            self.leased.remove(&off);
        }
    }

    /// The offset of `addr` if it is a leasable client address of this pool.
    fn client_offset(&self, addr: Ipv4Addr) -> Option<u32> {
        if !self.net.contains(&addr) {
            return None;
        }
        let off = u32::from(addr).wrapping_sub(u32::from(self.net.network()));
        let last = self.size().checked_sub(2)?; // broadcast is size - 1
        (u64::from(off) >= u64::from(FIRST_CLIENT_OFFSET) && u64::from(off) <= last).then_some(off)
    }

    fn addr_at(&self, off: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net.network()).wrapping_add(off))
    }

    fn lease_for(&self, off: u32) -> Ipv4Lease {
        Ipv4Lease {
            local: self.local_address(),
            remote: self.addr_at(off),
        }
    }
}

/// FNV-1a, 64 bit: a stable hash of the username for `predictable-ips`.
fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn local_netmask_capacity() {
        let p = Ipv4Pool::new(net("192.168.99.0/24"), true).unwrap();
        assert_eq!(p.local_address(), Ipv4Addr::new(192, 168, 99, 1));
        assert_eq!(p.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(p.capacity(), 253);
        assert_eq!(p.in_use(), 0);
        // host bits are masked off
        let p = Ipv4Pool::new(net("10.1.2.77/16"), false).unwrap();
        assert_eq!(p.local_address(), Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(p.network(), net("10.1.0.0/16"));
        // a /0 does not overflow
        let p = Ipv4Pool::new(net("0.0.0.0/0"), false).unwrap();
        assert_eq!(p.capacity() as u64, (1u64 << 32) - 3);
    }

    #[test]
    fn too_small_refused() {
        for n in ["10.0.0.0/31", "10.0.0.0/32"] {
            assert_eq!(
                Ipv4Pool::new(net(n), true).unwrap_err(),
                PoolError::TooSmall(net(n))
            );
        }
        let mut p = Ipv4Pool::new(net("10.0.0.0/30"), true).unwrap();
        assert_eq!(p.capacity(), 1);
        let l = p.allocate("bob", 0).unwrap();
        assert_eq!(l.local, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(l.remote, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.allocate("alice", 7), Err(PoolError::Exhausted));
    }

    #[test]
    fn predictable_same_user_same_address() {
        let mut p = Ipv4Pool::new(net("10.20.0.0/16"), true).unwrap();
        let a = p.allocate("alice", 1).unwrap();
        p.release(a.remote);
        // a different seed does not matter when predictable
        let b = p.allocate("alice", 999_999).unwrap();
        assert_eq!(a, b);
        // and a fresh pool gives the same address too
        let mut q = Ipv4Pool::new(net("10.20.0.0/16"), true).unwrap();
        assert_eq!(q.allocate("alice", 5).unwrap(), a);
        // another user gets another address
        let c = p.allocate("bob", 1).unwrap();
        assert_ne!(c.remote, a.remote);
        // the same user twice at once gets two different addresses
        let d = p.allocate("alice", 1).unwrap();
        assert_ne!(d.remote, a.remote);
    }

    #[test]
    fn unpredictable_follows_seed() {
        let mut p = Ipv4Pool::new(net("10.0.0.0/24"), false).unwrap();
        // offset 2 + (seed % 253)
        assert_eq!(
            p.allocate("x", 0).unwrap().remote,
            Ipv4Addr::new(10, 0, 0, 2)
        );
        assert_eq!(
            p.allocate("x", 10).unwrap().remote,
            Ipv4Addr::new(10, 0, 0, 12)
        );
        // taken: probes on to the next one
        assert_eq!(
            p.allocate("x", 10).unwrap().remote,
            Ipv4Addr::new(10, 0, 0, 13)
        );
        // wraps from the last host (.254) to the first (.2 is taken, so .3)
        assert_eq!(
            p.allocate("x", 252).unwrap().remote,
            Ipv4Addr::new(10, 0, 0, 254)
        );
        assert_eq!(
            p.allocate("x", 252).unwrap().remote,
            Ipv4Addr::new(10, 0, 0, 3)
        );
    }

    #[test]
    fn explicit() {
        let mut p = Ipv4Pool::new(net("10.0.0.0/24"), true).unwrap();
        let a = Ipv4Addr::new(10, 0, 0, 50);
        let l = p.allocate_explicit(a).unwrap();
        assert_eq!(l.remote, a);
        assert_eq!(l.local, Ipv4Addr::new(10, 0, 0, 1));
        assert!(p.is_leased(a));
        assert_eq!(p.allocate_explicit(a), Err(PoolError::InUse(a)));
        for bad in [
            Ipv4Addr::new(10, 0, 0, 0),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 255),
            Ipv4Addr::new(10, 0, 1, 5),
        ] {
            assert_eq!(p.allocate_explicit(bad), Err(PoolError::NotInPool(bad)));
        }
        p.release(a);
        assert!(!p.is_leased(a));
        assert!(p.allocate_explicit(a).is_ok());
    }

    #[test]
    fn release_of_unknown_is_noop() {
        let mut p = Ipv4Pool::new(net("10.0.0.0/29"), true).unwrap();
        let l = p.allocate("a", 0).unwrap();
        p.release(Ipv4Addr::new(1, 2, 3, 4));
        p.release(p.local_address());
        assert_eq!(p.in_use(), 1);
        p.release(l.remote);
        p.release(l.remote);
        assert_eq!(p.in_use(), 0);
    }

    /// One step of a random workload.
    #[derive(Debug, Clone)]
    enum Op {
        Alloc(String, u64),
        Explicit(u8),
        Release(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => ("[a-d]{1,3}", any::<u64>()).prop_map(|(k, s)| Op::Alloc(k, s)),
            1 => any::<u8>().prop_map(Op::Explicit),
            3 => any::<usize>().prop_map(Op::Release),
        ]
    }

    proptest! {
        #[test]
        fn never_leased_twice(
            prefix in 26u8..=30,
            predictable in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let n = Ipv4Net::new(Ipv4Addr::new(172, 16, 5, 0), prefix).unwrap();
            let mut pool = Ipv4Pool::new(n, predictable).unwrap();
            let mut held: Vec<Ipv4Addr> = Vec::new();
            for op in ops {
                match op {
                    Op::Alloc(k, seed) => match pool.allocate(&k, seed) {
                        Ok(l) => {
                            prop_assert!(!held.contains(&l.remote), "{} leased twice", l.remote);
                            prop_assert_eq!(l.local, pool.local_address());
                            prop_assert!(n.contains(&l.remote));
                            prop_assert!(l.remote != n.network() && l.remote != n.broadcast());
                            prop_assert!(l.remote != pool.local_address());
                            held.push(l.remote);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, PoolError::Exhausted);
                            prop_assert_eq!(held.len(), pool.capacity());
                        }
                    },
                    Op::Explicit(last) => {
                        let a = Ipv4Addr::new(172, 16, 5, last);
                        match pool.allocate_explicit(a) {
                            Ok(l) => {
                                prop_assert!(!held.contains(&l.remote));
                                held.push(l.remote);
                            }
                            Err(PoolError::InUse(x)) => prop_assert!(held.contains(&x)),
                            Err(PoolError::NotInPool(x)) => prop_assert!(
                                !n.contains(&x) || x == n.network() || x == n.broadcast()
                                    || x == pool.local_address()
                            ),
                            Err(e) => prop_assert!(false, "unexpected {e}"),
                        }
                    }
                    Op::Release(i) => {
                        if !held.is_empty() {
                            let a = held.swap_remove(i % held.len());
                            pool.release(a);
                            prop_assert!(!pool.is_leased(a));
                            // the released address is available again
                            prop_assert_eq!(pool.allocate_explicit(a).map(|l| l.remote), Ok(a));
                            pool.release(a);
                        }
                    }
                }
                prop_assert_eq!(pool.in_use(), held.len());
            }
            // fill up: every remaining address can be had, then Exhausted
            while held.len() < pool.capacity() {
                let l = pool.allocate("fill", held.len() as u64);
                prop_assert!(l.is_ok());
                if let Ok(l) = l {
                    prop_assert!(!held.contains(&l.remote));
                    held.push(l.remote);
                }
            }
            prop_assert_eq!(pool.allocate("x", 0), Err(PoolError::Exhausted));
        }
    }
}
