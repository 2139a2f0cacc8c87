//! The socket's driver hints: cheap questions a driver asks to skip work, and one-shot flags
//! it takes after an application call. None of them changes the machine; a driver that never
//! asks still works (it just runs rounds that find nothing to do, or writes later).

use super::{Kind, Socket};
#[cfg(doc)]
use crate::error::Error;

/// # Driver hints
///
/// Cheap questions a driver asks to skip work ([`Socket::has_action`],
/// [`Socket::has_any_transmit`], [`Socket::is_readable`], [`Socket::is_writable`],
/// [`Socket::linger_deadline`]) and one-shot flags it takes after an application call
/// ([`Socket::take_flush_hint`], [`Socket::take_decoding_resumed`]). None changes the machine;
/// a driver that never asks still works, it only runs rounds that find nothing to do, or
/// writes later.
impl Socket {
    /// True if [`Socket::poll_action`] has something (a cheap check for drivers deciding
    /// whether a round of work is needed at all).
    ///
    /// ```
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// # use std::time::Instant;
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), Instant::now());
    /// assert!(!push.has_action());
    /// push.connect("tcp://127.0.0.1:5555", Instant::now());
    /// assert!(push.has_action());
    /// ```
    pub fn has_action(&self) -> bool {
        !self.core.actions.is_empty() || !self.core.inproc_actions.is_empty()
    }

    /// True once since the last call if a peer's encoded output reached a full batch
    /// (256 KiB) while messages were being sent.
    ///
    /// A driver that writes only when the application is about to wait (batching without a
    /// flush) should write as soon as this is set: a run of large messages then goes out as
    /// it is sent, in syscalls that are already big enough, instead of piling up to the
    /// high-water mark and cycling far more memory than the caches hold. Small messages
    /// still batch up to the full 256 KiB before it fires.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions};
    /// # use zmtp_proto::{Msg, SocketType};
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), Instant::now());
    /// push.connect("tcp://127.0.0.1:5555", Instant::now());
    /// push.send(Msg::from("queued while not connected")).unwrap();
    /// // Nothing is encoded before the handshake, so no batch is full yet.
    /// assert!(!push.take_flush_hint());
    /// ```
    pub fn take_flush_hint(&mut self) -> bool {
        std::mem::take(&mut self.core.flush_hint)
    }

    /// True once after a `send` or `recv` resumed a peer's decoding (paused at the receive
    /// high-water mark) and what that produced was processed: output, events, a closed
    /// connection, new deadlines. Between such calls, taking or sending a message changes
    /// nothing but the output of [`Socket::poll_transmit`], so a driver may skip re-reading
    /// deadlines and events after each one.
    ///
    /// ```
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), std::time::Instant::now());
    /// assert!(!pull.take_decoding_resumed());
    /// ```
    pub fn take_decoding_resumed(&mut self) -> bool {
        std::mem::take(&mut self.decoding_resumed)
    }

    /// True if some peer has output for [`Socket::poll_transmit`].
    pub fn has_any_transmit(&self) -> bool {
        self.core.has_tx_ready()
    }

    /// True if [`Socket::recv`] may have a message (a cheap hint for waking receivers).
    pub fn is_readable(&self) -> bool {
        match &self.kind {
            Kind::Req(req) => req.is_readable(&self.core),
            Kind::Pub(p) => p.is_readable(&self.core),
            Kind::Push => false,
            _ => self.core.has_inbound(),
        }
    }

    /// True if [`Socket::send`] of an ordinary message would not return
    /// [`Error::WouldBlock`] right now.
    pub fn is_writable(&self) -> bool {
        match &self.kind {
            Kind::Req(req) => req.is_writable(&self.core),
            Kind::Dealer | Kind::Push | Kind::Pair => self.core.round_robin_has_room(),
            Kind::Pub(p) => p.is_writable(&self.core),
            Kind::Pull => false,
            _ => true,
        }
    }

    /// When a closing socket gives up flushing: the `close` time plus `linger`. `None` before
    /// `close`, and with an unbounded linger.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let mut options = SocketOptions::default();
    /// options.linger = Some(Duration::from_millis(10));
    /// let now = Instant::now();
    /// let mut push = Socket::new(SocketType::Push, options, now);
    /// assert_eq!(push.linger_deadline(), None);
    /// push.close(now);
    /// assert_eq!(push.linger_deadline(), Some(now + Duration::from_millis(10)));
    /// ```
    pub fn linger_deadline(&self) -> Option<std::time::Instant> {
        self.core.linger_deadline()
    }
}
