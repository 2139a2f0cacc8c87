//! Raw mode: the connection of a STREAM socket (`ZMQ_STREAM`) to a peer that speaks plain
//! TCP. No greeting, no mechanism, no framing, no heartbeats: the connection is active from
//! its construction, every chunk read from the peer becomes one inbound message of one frame
//! (at most [`RAW_READ_CAP`] bytes), and every outbound frame is written as it is.
//!
//! An empty outbound frame asks to close: the connection writes what is queued before it,
//! then fails with [`Error::Closed`] (its [`Event::Closed`] makes the socket close the
//! transport), as libzmq's STREAM flushes and closes when it is sent `[routing id, ""]`.
//!
//! Memory: decoding pauses at the receive high-water mark or at
//! [`MAX_INBOUND_BYTES`](super::MAX_INBOUND_BYTES) of held data, whichever comes first, as for
//! ZMTP connections, and the driver stops reading ([`Connection::wants_read`]); a raw peer
//! can make us hold at most that plus one read chunk, whatever it sends.
//!
//! ```
//! use std::time::Instant;
//! use zmtp_proto::{Connection, ConnectionConfig, Event, Msg, SocketType};
//!
//! let now = Instant::now();
//! let mut raw = Connection::new(SocketType::Stream, ConnectionConfig::default(), now);
//! assert!(raw.is_active());
//! assert!(matches!(raw.poll_event(), Some(Event::HandshakeSucceeded(_))));
//! assert!(!raw.has_transmit()); // no greeting
//! raw.handle_input(b"GET / HTTP/1.0\r\n\r\n", now).unwrap();
//! assert_eq!(raw.poll_message(), Some(Msg::from("GET / HTTP/1.0\r\n\r\n")));
//! raw.send(&Msg::from("HTTP/1.0 200 OK\r\n\r\n")).unwrap();
//! let mut out = Vec::new();
//! raw.take_transmit(&mut out);
//! assert_eq!(out.concat(), b"HTTP/1.0 200 OK\r\n\r\n");
//! ```

use std::time::Instant;

use bytes::Bytes;

use super::{Connection, Event, PeerInfo, Receive, State, TimerTable, Transmit};
use crate::config::ConnectionConfig;
use crate::error::Error;
use crate::greeting::{GreetingReader, Version};
use crate::message::{Frame, INLINE_FRAME_BYTES};
use crate::metadata::Metadata;
use crate::socket_type::SocketType;

/// Largest message one read makes: a longer read is cut into messages of this size. libzmq's
/// raw decoder delivers at most its `in_batch_size` (8 KiB) per message; so do we.
pub const RAW_READ_CAP: usize = 8 * 1024;

/// What a raw connection keeps beyond the shared fields.
#[derive(Debug, Default)]
pub(super) struct Raw {
    /// An empty frame was sent: close once the output before it is written.
    close_when_flushed: bool,
}

impl PeerInfo {
    /// What a raw peer is known as: no socket type of its own (reported as
    /// [`SocketType::Stream`]), no routing id, no metadata. `version` means nothing for it.
    pub fn raw() -> Self {
        Self {
            socket_type: SocketType::Stream,
            routing_id: Bytes::new(),
            version: Version::V3_1,
            metadata: Metadata::new(),
        }
    }
}

impl Connection {
    /// A raw connection (see the [module docs](self)): what [`Connection::new`] builds for a
    /// STREAM socket.
    pub(super) fn raw(config: ConnectionConfig, now: Instant) -> Self {
        let output = Transmit::new(config.read_chunk.max(4096), config.zero_copy_threshold);
        let input = Receive::new(config.read_chunk);
        let peer = PeerInfo::raw();
        let mut conn = Self {
            socket_type: SocketType::Stream,
            config,
            state: State::Active,
            greeting: GreetingReader::new(),
            peer_version: None,
            mechanism: crate::mechanism::Mechanism::Null(crate::mechanism::Null::new()),
            cipher: None,
            peer: Some(peer.clone()),
            error: None,
            now,
            timers: TimerTable::default(),
            input,
            events: Default::default(),
            output,
            carry: None,
            raw: Some(Raw::default()),
        };
        conn.events.push_back(Event::HandshakeSucceeded(peer));
        conn
    }

    /// True for a raw connection (a STREAM socket's).
    pub fn is_raw(&self) -> bool {
        self.raw.is_some()
    }

    /// Turns what the arena holds into messages of at most [`RAW_READ_CAP`] bytes, until the
    /// receive queue is full (decoding then pauses with the rest kept in the arena).
    pub(super) fn decode_raw(&mut self) -> Result<(), Error> {
        let rcvhwm = self.config.rcvhwm;
        while !self.input.arena.is_empty() {
            if self.input.is_full(rcvhwm) {
                self.input.pause(rcvhwm);
                return Ok(());
            }
            let n = self.input.arena.len().min(RAW_READ_CAP);
            let body = if n <= INLINE_FRAME_BYTES {
                let body = Frame::copy_from_slice(&self.input.arena[..n]);
                bytes::Buf::advance(&mut self.input.arena, n);
                body
            } else {
                Frame::from(self.input.arena.split_to(n).freeze())
            };
            self.input.push_single(body, self.config.conflate);
        }
        Ok(())
    }

    /// Writes the data frames as they are; an empty frame closes once what precedes it is
    /// written. `envelope` is empty for a STREAM socket (it has no envelopes).
    pub(super) fn send_raw(&mut self, envelope: &[Frame], frames: &[Frame]) -> Result<(), Error> {
        let raw = self.raw.as_ref().expect("raw connection");
        if raw.close_when_flushed {
            return Err(Error::Closed);
        }
        for frame in envelope.iter().chain(frames) {
            if frame.is_empty() {
                self.raw.as_mut().expect("raw").close_when_flushed = true;
                self.close_if_flushed();
                return Ok(());
            }
            self.output.write_raw(frame);
        }
        Ok(())
    }

    /// Fails the connection with [`Error::Closed`] once a close was asked for and the output
    /// before it is written. Called after each write.
    pub(super) fn close_if_flushed(&mut self) {
        if self
            .raw
            .as_ref()
            .is_some_and(|r| r.close_when_flushed && self.output.len() == 0)
        {
            self.fail(Error::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::{Connection, ConnectionConfig, Error, Event, Msg, SocketType};

    fn raw(rcvhwm: usize) -> Connection {
        let config = ConnectionConfig {
            rcvhwm,
            ..ConnectionConfig::default()
        };
        let mut conn = Connection::new(SocketType::Stream, config, Instant::now());
        assert!(
            matches!(conn.poll_event(), Some(Event::HandshakeSucceeded(p)) if p.socket_type == SocketType::Stream)
        );
        conn
    }

    #[test]
    fn no_greeting_no_timer_no_framing() {
        let mut conn = raw(1000);
        assert!(conn.is_raw() && conn.is_active());
        assert!(!conn.has_transmit(), "a raw connection sends no greeting");
        assert_eq!(
            conn.poll_timeout(),
            None,
            "no handshake deadline, no heartbeat"
        );
        // A ZMTP greeting is only bytes to a raw connection.
        let greeting = crate::greeting::encode(b"NULL", false);
        conn.handle_input(&greeting, Instant::now()).unwrap();
        assert_eq!(conn.poll_message().unwrap().frames()[0], &greeting[..]);
        // Two frames go out as their bytes, nothing else.
        conn.send(&Msg::from_frames([&b"ab"[..], &b"cd"[..]]))
            .unwrap();
        let mut out = Vec::new();
        conn.take_transmit(&mut out);
        assert_eq!(out.concat(), b"abcd");
    }

    #[test]
    fn a_read_is_cut_at_the_cap() {
        let mut conn = raw(1000);
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        conn.handle_input(&data, Instant::now()).unwrap();
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(m) = conn.poll_message() {
            assert_eq!(m.len(), 1);
            sizes.push(m.byte_len());
            all.extend_from_slice(&m.frames()[0]);
        }
        assert_eq!(
            sizes,
            [
                super::RAW_READ_CAP,
                super::RAW_READ_CAP,
                20_000 - 2 * super::RAW_READ_CAP
            ]
        );
        assert_eq!(all, data);
    }

    #[test]
    fn decoding_pauses_at_the_receive_hwm_and_resumes() {
        let mut conn = raw(4);
        let data = vec![7u8; 10 * super::RAW_READ_CAP];
        conn.handle_input(&data, Instant::now()).unwrap();
        assert_eq!(conn.inbound_len(), 4);
        assert!(!conn.wants_read(), "the driver must stop reading");
        let mut total = 0;
        while let Some(m) = conn.poll_message() {
            total += m.byte_len();
        }
        assert_eq!(total, data.len(), "nothing lost across the pauses");
        assert!(conn.wants_read());
    }

    #[test]
    fn held_bytes_are_bounded_below_the_hwm_too() {
        // With no message limit, the byte budget still stops decoding.
        let mut conn = raw(0);
        let data = vec![1u8; 2 * crate::connection::MAX_INBOUND_BYTES];
        conn.handle_input(&data, Instant::now()).unwrap();
        let held = conn.inbound_len() * super::RAW_READ_CAP;
        assert!(held >= crate::connection::MAX_INBOUND_BYTES);
        assert!(held < crate::connection::MAX_INBOUND_BYTES + super::RAW_READ_CAP);
        assert!(!conn.wants_read());
    }

    #[test]
    fn an_empty_frame_closes_after_the_output_before_it() {
        let mut conn = raw(1000);
        conn.send(&Msg::from("last words")).unwrap();
        conn.send(&Msg::from(crate::Frame::new())).unwrap();
        assert!(conn.error().is_none(), "not before the output is written");
        assert_eq!(conn.send(&Msg::from("more")), Err(Error::Closed));
        let n = conn.transmit_len();
        conn.advance_transmit(n);
        assert_eq!(conn.poll_event(), Some(Event::Closed(Error::Closed)));
        // With nothing queued it closes at once.
        let mut idle = raw(1000);
        idle.send(&Msg::from(crate::Frame::new())).unwrap();
        assert_eq!(idle.poll_event(), Some(Event::Closed(Error::Closed)));
    }
}
