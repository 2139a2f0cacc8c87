//! # zmtp-proto: ZeroMQ's wire protocol as a pure state machine
//!
//! This crate implements ZMTP 3.x (RFC 23 and RFC 37) without performing any I/O: it reads no
//! clock, opens no socket, spawns no thread and never blocks. Bytes go in, bytes, events and
//! messages come out, and time is an argument. Drivers (tokio, compio, or your own event loop)
//! move the bytes.
//!
//! The layers, one module each:
//!
//! | module | what it owns |
//! |---|---|
//! | [`greeting`] | the 64-byte greeting and version negotiation |
//! | [`mechanism`] | security handshakes (NULL, PLAIN) and, for encrypting mechanisms, the frame transform |
//! | [`frame`] | frame headers: flags, short and long sizes, limits |
//! | [`command`] | READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG |
//! | [`metadata`] | READY/INITIATE properties |
//! | [`endpoint`] | `tcp://` and `ipc://` endpoint strings |
//! | [`connection`] | the per-connection machine tying the above together, with heartbeats |
//! | [`message`] | multipart messages |
//! | [`socket`] | socket engines: peers, queues, high-water marks and the routing of the 11 socket types; a peer's bytes through [`PeerBytes`] |
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
//! let mut conn = Connection::new(ConnectionConfig::new(SocketType::Dealer), Instant::now());
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

pub mod command;
pub mod config;
pub mod connection;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod greeting;
pub mod mechanism;
pub mod message;
pub mod metadata;
pub mod socket;
pub mod socket_type;
pub mod z85;

pub use config::ConnectionConfig;
pub use connection::{Connection, Event, PeerInfo};
pub use error::{EndpointOp, Error};
pub use greeting::Version;
pub use mechanism::MechanismConfig;
pub use message::{Frame, Msg};
pub use metadata::Metadata;
pub use socket::{Action, PeerBytes, PeerId, SendError, Socket, SocketEvent, SocketOptions};
pub use socket_type::SocketType;
