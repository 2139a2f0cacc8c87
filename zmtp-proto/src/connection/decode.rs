//! From the arena to messages, commands and the handshake: the scan for whole frames, the
//! limits checked on each header before its body is awaited, and what each frame does.

use std::time::Duration;

use bytes::{Buf, Bytes};

use super::receive::{complete_frames, MAX_INBOUND_BYTES};
use super::timer::Timer;
use super::{Connection, Event, PeerInfo, State, MAX_HANDSHAKE_COMMAND};
use crate::command::Command;
use crate::error::Error;
use crate::frame::FrameHeader;
use crate::message::{Frame, INLINE_FRAME_BYTES};
use crate::metadata::{Metadata, IDENTITY, SOCKET_TYPE};
use crate::socket_type::SocketType;

impl Connection {
    pub(super) fn decode(&mut self) -> Result<(), Error> {
        match self.decode_inner() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    fn decode_inner(&mut self) -> Result<(), Error> {
        self.input.paused = false;
        self.input.resume_below = 0;
        if self.raw.is_some() {
            return self.decode_raw();
        }
        if self.state == State::Greeting {
            let used = self.greeting.feed(&self.input.arena)?;
            self.input.arena.advance(used);
            if !self.greeting.is_complete() {
                return Ok(());
            }
            let peer = self.greeting.greeting().expect("complete");
            self.mechanism.check_greeting(&peer)?;
            self.peer_version = Some(peer.version);
            self.state = State::Handshake;
            let ours = self.config.local_metadata(self.socket_type);
            self.mechanism.start(&ours, self.output.buf_mut());
        }
        let rcvhwm = self.config.rcvhwm;
        while self.state != State::Failed {
            if self.input.partial.is_empty() && self.input.is_full(rcvhwm) {
                self.input.pause(rcvhwm);
                return Ok(());
            }
            // Frames held whole in the arena are found in one scan, then decoded without
            // further length checks.
            let room = if rcvhwm == 0 {
                usize::MAX
            } else {
                rcvhwm.saturating_sub(self.input.inbound.len()).max(1)
            };
            let end = complete_frames(
                &self.input.arena,
                room,
                MAX_INBOUND_BYTES
                    .saturating_sub(self.input.inbound_bytes)
                    .max(1),
            );
            if end > 0 {
                self.input.frame_len = 0;
                self.decode_whole(end)?;
                if self.input.arena.is_empty() {
                    return Ok(());
                }
                continue;
            }
            // The frame at the front is incomplete, or its header is invalid.
            let Some(header) = FrameHeader::parse(&self.input.arena)? else {
                return Ok(());
            };
            self.check_limits(&header)?;
            let total = header.header_len + header.size as usize;
            if self.input.arena.len() < total {
                self.input.note_incomplete_frame(total);
                return Ok(());
            }
            self.input.frame_len = 0;
            self.split_frame(&header)?;
        }
        Ok(())
    }

    /// Decodes the whole frames in the first `end` bytes of the arena (found by
    /// [`complete_frames`]). A message frame of up to [`INLINE_FRAME_BYTES`] bytes is copied
    /// into an inline [`Frame`]: no reference to the arena, so no atomic reference count to
    /// take and drop per small message, and the arena's space is free again at once. Any other
    /// frame is split off the arena on its own ([`Connection::split_frame`]).
    fn decode_whole(&mut self, end: usize) -> Result<(), Error> {
        let mut left = end;
        while left > 0 {
            let header = FrameHeader::parse(&self.input.arena)?.expect("a whole frame");
            self.check_limits(&header)?;
            let (start, size) = (header.header_len, header.size as usize);
            left -= start + size;
            if header.is_command() || size > INLINE_FRAME_BYTES || self.cipher.is_some() {
                self.split_frame(&header)?;
            } else {
                let body = Frame::copy_from_slice(&self.input.arena[start..start + size]);
                self.input.arena.advance(start + size);
                self.handle_message_frame(header.more(), body)?;
            }
        }
        Ok(())
    }

    /// Splits the whole frame at the front of the arena off on its own (`split_to` + `freeze`,
    /// built in registers) and handles it. Slicing frames out of one frozen run instead returns
    /// each `Bytes` through memory from the vtable clone and then moves it with wider loads: a
    /// store-forwarding stall on every frame (`docs/benchmarks.md`).
    #[inline(always)]
    fn split_frame(&mut self, header: &FrameHeader) -> Result<(), Error> {
        let total = header.header_len + header.size as usize;
        if self.cipher.is_some() {
            return self.open_frame(header.header_len, total);
        }
        let mut body = self.input.arena.split_to(total).freeze();
        body.advance(header.header_len);
        self.handle_frame(header, body)
    }

    #[inline(always)]
    fn handle_frame(&mut self, header: &FrameHeader, body: Bytes) -> Result<(), Error> {
        if header.is_command() {
            self.handle_command(body)
        } else {
            self.handle_message_frame(header.more(), Frame::from(body))
        }
    }

    fn check_limits(&self, header: &FrameHeader) -> Result<(), Error> {
        if header.is_command() || self.cipher.is_some() {
            if self.state != State::Active && header.size > MAX_HANDSHAKE_COMMAND {
                return Err(Error::MessageTooLarge {
                    size: header.size,
                    max: MAX_HANDSHAKE_COMMAND,
                });
            }
            if let Some(max) = self.config.maxmsgsize {
                // Commands carry subscriptions (and, with CURVE, whole messages).
                if header.size > max.saturating_add(256) {
                    return Err(Error::MessageTooLarge {
                        size: header.size,
                        max,
                    });
                }
            }
        } else {
            // Refuse a message frame before the handshake on its header alone: waiting for its
            // body would let a peer that has not authenticated make us buffer up to 2^63 bytes
            // (checklist N3, §1.13).
            if self.state != State::Active {
                return Err(Error::MessageBeforeHandshake);
            }
            self.check_message_frame(header.size)?;
        }
        if usize::try_from(header.size).is_err() {
            return Err(Error::FrameTooLong(header.size));
        }
        Ok(())
    }

    /// `ZMQ_MAXMSGSIZE` and the frame count, for a message frame of `size` bytes.
    pub(super) fn check_message_frame(&self, size: u64) -> Result<(), Error> {
        if let Some(max) = self.config.maxmsgsize {
            let size = self.input.partial_bytes.saturating_add(size);
            if size > max {
                return Err(Error::MessageTooLarge { size, max });
            }
        }
        if self.input.partial.len() >= self.config.max_frames {
            return Err(Error::TooManyFrames {
                max: self.config.max_frames,
            });
        }
        Ok(())
    }

    #[inline(never)]
    fn handle_command(&mut self, body: Bytes) -> Result<(), Error> {
        match self.state {
            State::Handshake => {
                if let Some(meta) = self.mechanism.handle_command(body, self.output.buf_mut())? {
                    self.cipher = self.mechanism.take_cipher().map(Box::new);
                    self.finish_handshake(meta)?;
                }
                Ok(())
            }
            State::Active => self.handle_active_command(body),
            State::Greeting | State::Failed => Ok(()),
        }
    }

    fn finish_handshake(&mut self, meta: Metadata) -> Result<(), Error> {
        let ours = self.socket_type;
        let theirs = meta.get(SOCKET_TYPE).ok_or(Error::MissingSocketType)?;
        let theirs = SocketType::from_name(theirs).ok_or_else(|| {
            Error::UnknownSocketType(String::from_utf8_lossy(theirs).into_owned())
        })?;
        if !ours.is_compatible(theirs) {
            // RFC 37: SHOULD send ERROR, then disconnect.
            self.send_command(&Command::Error(Bytes::from_static(b"Invalid socket type")));
            return Err(Error::IncompatibleSocketType { ours, theirs });
        }
        let routing_id = if theirs.sends_identity() {
            meta.get(IDENTITY).cloned().unwrap_or_default()
        } else {
            Bytes::new()
        };
        let version = self.peer_version.expect("greeting complete");
        let info = PeerInfo {
            socket_type: theirs,
            routing_id,
            version,
            metadata: meta,
        };
        tracing::debug!(peer = %theirs, ?version, "ZMTP handshake succeeded");
        self.state = State::Active;
        self.timers.stop(Timer::Handshake);
        if let Some(ivl) = self.config.heartbeat_ivl {
            if version.has_commands() && !ivl.is_zero() {
                self.timers.set(Timer::Ping, self.now + ivl);
            }
        }
        self.peer = Some(info.clone());
        self.events.push_back(Event::HandshakeSucceeded(info));
        Ok(())
    }

    pub(super) fn handle_active_command(&mut self, body: Bytes) -> Result<(), Error> {
        match Command::parse(&body)? {
            Command::Ping { ttl_ds, context } => {
                self.send_command(&Command::Pong(context));
                if ttl_ds > 0 && self.timers.get(Timer::PeerTtl).is_none() {
                    let ttl = Duration::from_millis(u64::from(ttl_ds) * 100);
                    self.timers.set(Timer::PeerTtl, self.now + ttl);
                }
            }
            Command::Pong(_) => {}
            Command::Subscribe(topic) => {
                if self.socket_type.is_publisher() {
                    self.events.push_back(Event::Subscribe(topic));
                }
            }
            Command::Cancel(topic) => {
                if self.socket_type.is_publisher() {
                    self.events.push_back(Event::Cancel(topic));
                }
            }
            Command::Error(reason) => return Err(Error::from_peer_reason(&reason)),
            Command::Ready(_) | Command::Other { .. } => {
                // Unknown or late commands are ignored after the handshake, as libzmq does.
                tracing::trace!("ignoring command after handshake");
            }
        }
        Ok(())
    }

    #[inline(always)]
    pub(super) fn handle_message_frame(&mut self, more: bool, body: Frame) -> Result<(), Error> {
        if self.state != State::Active {
            return Err(Error::MessageBeforeHandshake);
        }
        let publisher = self.socket_type.is_publisher();
        let input = &mut self.input;
        if !more && input.partial.is_empty() && !input.partial_is_subscription && !publisher {
            // The common single-frame message goes straight into the queue.
            input.push_single(body, self.config.conflate);
            return Ok(());
        }
        if input.partial_is_subscription {
            // Trailing frames of a subscription message carry nothing for us. Checked first:
            // a trailing frame that starts with 0x00/0x01 is not a new subscription.
            input.partial_is_subscription = more;
            return Ok(());
        }
        if input.partial.is_empty() && publisher && matches!(body.first(), Some(0 | 1)) {
            // A ZMTP 3.0 subscription message (checklist V7): 0x01 topic / 0x00 topic.
            let topic = body.to_bytes().slice(1..);
            self.events.push_back(if body[0] == 1 {
                Event::Subscribe(topic)
            } else {
                Event::Cancel(topic)
            });
            input.partial_is_subscription = more;
            return Ok(());
        }
        input.partial_bytes += body.len() as u64;
        input.partial.push(body);
        if !more {
            let msg = std::mem::take(&mut input.partial);
            input.partial_bytes = 0;
            input.push(msg, self.config.conflate);
        }
        Ok(())
    }
}
