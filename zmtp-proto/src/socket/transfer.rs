//! How a message moves between the application and a peer: [`Outgoing`] on the way out (into
//! the connection's output, or into the peer's queue, copied into a spill chunk where it must
//! be), [`Target`] on the way in (out of the connection or the peer's stranded queue, into the
//! caller's message, possibly behind a [`Filtered`] test).

use bytes::BytesMut;

use super::PeerId;
use crate::connection::Connection;
use crate::error::Error;
use crate::message::{Frame, Msg, INLINE_FRAME_BYTES};

/// Where a received message goes: an `Option` returned by value, or the caller's `Msg`
/// (monomorphised, so that each path moves the message as little as it can), possibly behind
/// a [`Filtered`] test.
pub(crate) trait Target {
    fn put(&mut self, id: PeerId, msg: Msg) -> bool;
    fn take_from(&mut self, id: PeerId, conn: &mut Connection) -> bool;
}

impl Target for Option<Msg> {
    #[inline]
    fn put(&mut self, _: PeerId, msg: Msg) -> bool {
        *self = Some(msg);
        true
    }
    #[inline]
    fn take_from(&mut self, _: PeerId, conn: &mut Connection) -> bool {
        *self = conn.poll_message();
        self.is_some()
    }
}

impl Target for Msg {
    #[inline]
    fn put(&mut self, _: PeerId, msg: Msg) -> bool {
        *self = msg;
        true
    }
    #[inline]
    fn take_from(&mut self, _: PeerId, conn: &mut Connection) -> bool {
        conn.poll_message_into(self)
    }
}

impl<T: Target + ?Sized> Target for &mut T {
    #[inline]
    fn put(&mut self, id: PeerId, msg: Msg) -> bool {
        (**self).put(id, msg)
    }
    #[inline]
    fn take_from(&mut self, id: PeerId, conn: &mut Connection) -> bool {
        (**self).take_from(id, conn)
    }
}

/// Takes a message into `inner` only if `accept` likes it; a refused message is dropped where
/// it waits (and the fair-queue loop moves on as if nothing was taken from that peer).
pub(crate) struct Filtered<T, F> {
    /// Where an accepted message goes.
    pub(crate) inner: T,
    /// The test, seeing the peer each message comes from.
    pub(crate) accept: F,
}

impl<T: Target, F: FnMut(PeerId, &Msg) -> bool> Target for Filtered<T, F> {
    #[inline]
    fn put(&mut self, id: PeerId, msg: Msg) -> bool {
        (self.accept)(id, &msg) && self.inner.put(id, msg)
    }
    #[inline]
    fn take_from(&mut self, id: PeerId, conn: &mut Connection) -> bool {
        match conn.peek_message() {
            Some(m) if (self.accept)(id, m) => self.inner.take_from(id, conn),
            Some(_) => {
                drop(conn.poll_message());
                false
            }
            None => false,
        }
    }
}

/// A message to enqueue: owned, or borrowed by a sender that fans it out (cloned only if it
/// must wait in a queue; encoding reads it in place). A `&mut Msg` is taken in place: left
/// empty once sent, untouched when refused.
pub(crate) trait Outgoing {
    /// Encodes the message on `conn`.
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error>;
    /// The message to keep in a peer's queue; `spill` is the socket's buffer for copies.
    fn into_msg(self, spill: &mut BytesMut) -> Msg;
    /// The message was encoded: release what the sender no longer needs.
    fn encoded(self);
}

impl Outgoing for Msg {
    #[inline]
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.send(self)
    }
    fn into_msg(self, _spill: &mut BytesMut) -> Msg {
        self
    }
    fn encoded(self) {}
}

impl Outgoing for &Msg {
    #[inline]
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.send(self)
    }
    fn into_msg(self, _spill: &mut BytesMut) -> Msg {
        self.clone()
    }
    fn encoded(self) {}
}

impl Outgoing for &mut Msg {
    #[inline]
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.send(self)
    }
    fn into_msg(self, _spill: &mut BytesMut) -> Msg {
        std::mem::take(self)
    }
    fn encoded(self) {
        self.clear();
    }
}

/// A message sent behind an envelope (REQ and REP), taken in place like `&mut Msg`: the
/// envelope is encoded in front of the message without being inserted into it, unless the
/// message must wait in the peer's queue.
pub(crate) struct Enveloped<'a> {
    pub(crate) envelope: &'a [Frame],
    pub(crate) msg: &'a mut Msg,
}

impl Outgoing for Enveloped<'_> {
    #[inline]
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.send_frames(self.envelope, self.msg.frames())
    }
    fn into_msg(self, _spill: &mut BytesMut) -> Msg {
        let mut msg = std::mem::take(self.msg);
        msg.prepend_frames(self.envelope);
        msg
    }
    fn encoded(self) {
        self.msg.clear();
    }
}

/// A message sent without its first `skip` frames (a ROUTER's identity), taken in place like
/// `&mut Msg`: the frames are skipped when encoding rather than removed from the message,
/// unless the message must wait in the peer's queue.
pub(crate) struct Skipping<'a> {
    pub(crate) skip: usize,
    pub(crate) msg: &'a mut Msg,
}

impl Outgoing for Skipping<'_> {
    #[inline]
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.send_frames(&[], &self.msg.frames()[self.skip..])
    }
    fn into_msg(self, _spill: &mut BytesMut) -> Msg {
        let mut msg = std::mem::take(self.msg);
        msg.drop_front(self.skip);
        msg
    }
    fn encoded(self) {
        self.msg.clear();
    }
}

/// Bytes of the chunks that bodies of queued [`Copied`] messages are copied into: one
/// allocation per chunk instead of one per message.
const SPILL_CHUNK: usize = 64 * 1024;

/// A one-frame message still in the caller's buffer: copied straight into the connection's
/// coalescing buffer, or, if it must wait in the peer's queue, into a [`Msg`] (inline, or a
/// slice of the socket's spill chunk).
pub(crate) struct Copied<'a>(pub(crate) &'a [u8]);

impl Outgoing for Copied<'_> {
    #[inline]
    fn send_on(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.send_slice(self.0)
    }
    fn into_msg(self, spill: &mut BytesMut) -> Msg {
        if self.0.len() <= INLINE_FRAME_BYTES {
            return Msg::copy_from_slice(self.0);
        }
        // A slice of a shared chunk rather than an allocation of its own: a sender that runs
        // ahead of its peer queues every message, so this is steady state, not a corner case.
        if spill.capacity() - spill.len() < self.0.len() {
            *spill = BytesMut::with_capacity(SPILL_CHUNK.max(self.0.len()));
        }
        spill.extend_from_slice(self.0);
        Msg::from(Frame::from(spill.split().freeze()))
    }
    fn encoded(self) {}
}
