//! # zmtp-proto: ZeroMQ's wire protocol as a pure state machine
//!
//! This crate implements ZMTP 3.x (RFC 23 and RFC 37) without performing any I/O: it reads no
//! clock, opens no socket, spawns no thread and never blocks. Bytes go in, bytes, events and
//! messages come out, and time is an argument. Drivers (tokio, compio, or your own event loop)
//! move the bytes.
//!
//! The layers, one private module each, behind the re-exports below:
//!
//! | module | what it owns |
//! |---|---|
//! | `greeting.rs` | the 64-byte greeting and version negotiation ([`Version`]) |
//! | `mechanism/` | security handshakes (NULL, PLAIN, CURVE: [`MechanismConfig`]) and CURVE's frame transform |
//! | `frame.rs` | frame headers: flags, short and long sizes, limits |
//! | `command.rs` | READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG |
//! | `metadata.rs` | READY/INITIATE properties ([`Metadata`]) |
//! | `endpoint.rs` | `tcp://`, `ipc://` and `inproc://` endpoint strings ([`Endpoint`]) |
//! | `connection/` | the per-connection machine tying the above together, with heartbeats ([`Connection`]) |
//! | `message.rs` | multipart messages ([`Msg`], [`Frame`]) |
//! | `socket/` | socket engines: peers, queues, high-water marks and the routing of the 11 socket types ([`Socket`]); a peer's bytes through [`PeerBytes`], an in-process peer's messages through [`PeerMessages`] |
//!
//! The wire-level codecs (frame headers, commands, the greeting, Z85) are not part of the API;
//! fuzz targets and tests reach them through the hidden `fuzzing` module.
//!
//! # The run loop
//!
//! Every machine follows the same contract: mutate with `handle_*` or a command verb (`send`),
//! then drain every `poll_*` until it returns `None`, write what is pending, and sleep until
//! `poll_timeout`. At the socket level, a driver carries out [`Socket::poll_action`]'s dials
//! and closes, moves each peer's bytes through [`Socket::bytes`], and hands the application
//! [`Socket::recv`]'s whole messages. Two sockets pumped in memory:
//!
//! ```
//! use std::time::Instant;
//! use zmtp_proto::{Action, Msg, Socket, SocketOptions, SocketType};
//!
//! let now = Instant::now();
//! let mut client = Socket::new(SocketType::Req, SocketOptions::default(), now);
//! let mut server = Socket::new(SocketType::Rep, SocketOptions::default(), now);
//! // The application: connect (the machine asks for a dial) and send a request.
//! let c = client.connect("tcp://server:5555", now);
//! client.send(Msg::from("ping")).unwrap();
//! // The driver: carry out the dial; the server's driver accepts the connection.
//! while let Some(action) = client.poll_action() {
//!     if let Action::Dial { peer, .. } = action {
//!         client.attach(peer, now);
//!     }
//! }
//! let s = server.accept(now);
//! // Move bytes both ways until neither side has anything to write.
//! fn pump(a: &mut Socket, pa: zmtp_proto::PeerId, b: &mut Socket, pb: zmtp_proto::PeerId, now: Instant) -> bool {
//!     let mut out = Vec::new();
//!     if let Some(view) = a.bytes(pa) {
//!         view.take_transmit(&mut out);
//!     }
//!     if let Some(view) = b.bytes(pb) {
//!         view.handle_input(&out.concat(), now);
//!     }
//!     !out.is_empty()
//! }
//! while pump(&mut client, c, &mut server, s, now) | pump(&mut server, s, &mut client, c, now) {}
//! // The application on the server side: the request, and its reply.
//! let request = server.recv().unwrap().expect("a request");
//! server.send(request).unwrap();
//! while pump(&mut server, s, &mut client, c, now) {}
//! assert_eq!(client.recv().unwrap(), Some(Msg::from("ping")));
//! // Monitor events and the next deadline, drained after every step.
//! while let Some(_event) = client.poll_event() {}
//! let _next_wake_up = client.poll_timeout();
//! ```
//!
//! The same contract one level down, for one connection:
//!
//! ```
//! use std::time::Instant;
//! use zmtp_proto::{Connection, ConnectionConfig, Event, SocketType};
//!
//! let mut conn = Connection::new(SocketType::Dealer, ConnectionConfig::default(), Instant::now());
//! // 1. Input: bytes from the socket (here: nothing yet).
//! conn.handle_input(&[], Instant::now()).unwrap();
//! // 2. Events and messages.
//! while let Some(event) = conn.poll_event() {
//!     if let Event::Closed(reason) = event {
//!         eprintln!("peer dropped: {reason}");
//!     }
//! }
//! while let Some(_msg) = conn.poll_message() {}
//! // 3. Output: our greeting is already queued.
//! let mut out = Vec::new();
//! conn.take_transmit(&mut out);
//! assert_eq!(out.iter().map(|b| b.len()).sum::<usize>(), 64);
//! // 4. Timer: the handshake deadline.
//! assert!(conn.poll_timeout().is_some());
//! ```
#![forbid(unsafe_code)]

mod command;
mod config;
mod connection;
mod endpoint;
mod error;
mod frame;
mod greeting;
mod mechanism;
mod message;
mod metadata;
mod socket;
mod socket_type;
mod z85;

pub use config::ConnectionConfig;
pub use connection::{
    Carried, Connection, Event, PeerInfo, MAX_HANDSHAKE_COMMAND, MAX_INBOUND_BYTES, RAW_READ_CAP,
};
pub use endpoint::{inproc_name, is_inproc, names_bound, Endpoint, EndpointError, Host};
pub use error::{EndpointOp, Error};
pub use greeting::Version;
pub use mechanism::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    CurveServerConfig, MechanismConfig, PlainCredentials, PlainUsers, USER_ID,
};
pub use message::{Frame, Msg, INLINE_FRAME_BYTES};
pub use metadata::Metadata;
pub use socket::{
    Action, PeerBytes, PeerId, PeerMessages, SendError, Socket, SocketEvent, SocketOptions,
};
pub use socket_type::SocketType;

/// What fuzz targets and tests need beyond the API: the wire-level codecs, to build and check
/// raw bytes. Not a stable interface (as quinn-proto's `fuzzing` module).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::command::{split_name, Command, MAX_PING_CONTEXT};
    pub use crate::config::DEFAULT_HANDSHAKE_IVL;
    pub use crate::frame::{encode_frame, encode_header, FrameHeader, FLAG_COMMAND, FLAG_MORE};
    pub use crate::greeting::{encode as encode_greeting, GreetingReader, GREETING_LEN};
    /// Z85 (RFC 32), the text form of CURVE keys.
    pub mod z85 {
        pub use crate::z85::{decode, decode_into, encode, Z85Error};
    }
}
