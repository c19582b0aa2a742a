//! rocserv-proto: the sans-IO protocol core of rocserv.
//!
//! Everything in this crate is a pure function or a plain state machine over bytes, values and
//! caller-supplied time. It opens no sockets, spawns no tasks, never reads the clock and never
//! draws random numbers: the daemon passes `Instant`s and random bytes in and moves the bytes
//! this crate produces to the network. That keeps the wire formats testable (unit, property and
//! fuzz tests call these functions directly) and keeps protocol logic out of the I/O shell.
//!
//! Modules, in the order a connection meets them (protocol.md):
//! * [`http`]: bounded HTTP/1.x request-head parsing and the response writer (§1.6);
//! * [`auth_xml`]: the `config-auth` authentication exchange (§2);
//! * [`cookie`]: the `webvpn` session cookie and its hash (§2.6);
//! * [`connect`]: the tunnel `CONNECT` request and the `200 CONNECTED` reply (§3, §8);
//! * [`mtu`]: link and data MTU arithmetic (§6);
//! * [`cstp`]: CSTP framing over the TLS stream (§4);
//! * [`timers`]: DPD, idle and session timeouts for one tunnel (§4.4, §7.3);
//! * [`dtls`]: DTLS mode selection, reply parameters and the ClientHello peek (§5);
//! * [`dtls09`]: the resumption-only DTLS 0.9 (`0x0100`) server, sans-IO (§5.3);
//! * [`offload`]: the TUN device's virtio-net header and the cutting of its TSO/USO
//!   super-packets into packets;
//! * [`secret`]: redacting, zeroizing wrappers for credentials.
//!
//! The crate's `clippy.toml` forbids reading the clock and socket types (tests alone take one base
//! instant from the clock).
//! Fuzz targets can call the parsers directly: [`http::parse_request_head`],
//! [`auth_xml::parse_client_auth`], [`cstp::decode_frame`] / [`cstp::FrameReader`],
//! [`connect::ConnectRequest::from_head`], [`cstp::parse_disconnect`] and
//! [`timers::counts_as_activity`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth_xml;
pub mod connect;
pub mod cookie;
pub mod cstp;
pub mod dtls;
pub mod dtls09;
pub mod http;
pub mod mtu;
pub mod offload;
pub mod secret;
pub mod timers;

pub use secret::{Secret, SecretBytes};
