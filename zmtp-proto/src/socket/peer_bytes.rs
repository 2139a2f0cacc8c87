//! [`PeerBytes`]: the bytes of one peer, as a driver moves them.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{PeerId, Socket};
use crate::connection::Connection;

/// The bytes of one peer, as a driver moves them: [`Socket::bytes`] hands out this view for a
/// peer whose transport carries bytes (tcp, ipc). Input goes in through the view and is
/// decoded; output comes out of it; each call that changes the connection brings the socket's
/// bookkeeping for that peer up to date before it returns. What a driver only reads (is there
/// output, may it read, the output's slices) it asks the connection itself, through
/// [`Socket::connection`].
///
/// A transport that moves whole messages instead of bytes (in-process) has its own view beside
/// this one, [`PeerMessages`](super::PeerMessages) from [`Socket::messages`]; the socket's
/// scheduling does not care which.
///
/// ```
/// # use std::time::Instant;
/// use zmtp_proto::{Msg, Socket, SocketOptions, SocketType};
///
/// let now = Instant::now();
/// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
/// let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), now);
/// let a = push.connect("tcp://127.0.0.1:5555", now);
/// push.attach(a, now); // the driver's dial succeeded
/// let b = pull.accept(now); // the driver accepted a connection
/// push.send(Msg::from("hello")).unwrap();
/// // Shuttle bytes both ways until neither side has anything to write.
/// loop {
///     let (mut ab, mut ba) = (Vec::new(), Vec::new());
///     push.bytes(a).unwrap().take_transmit(&mut ab);
///     pull.bytes(b).unwrap().take_transmit(&mut ba);
///     if ab.is_empty() && ba.is_empty() {
///         break;
///     }
///     pull.bytes(b).unwrap().handle_input(&ab.concat(), now);
///     push.bytes(a).unwrap().handle_input(&ba.concat(), now);
/// }
/// assert_eq!(pull.recv().unwrap(), Some(Msg::from("hello")));
/// ```
#[derive(Debug)]
pub struct PeerBytes<'a> {
    socket: &'a mut Socket,
    peer: PeerId,
}

impl<'a> PeerBytes<'a> {
    /// The view, if `peer` has a connection.
    pub(super) fn new(socket: &'a mut Socket, peer: PeerId) -> Option<Self> {
        socket.core.peer(peer)?.conn.as_ref()?;
        Some(Self { socket, peer })
    }

    fn conn_mut(&mut self) -> &mut Connection {
        let p = self
            .socket
            .core
            .peer_mut(self.peer)
            .expect("checked in new");
        p.conn.as_mut().expect("checked in new")
    }

    /// The peer this view belongs to.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    // ---- input ----------------------------------------------------------------------------

    /// The arena to read into, for readiness-based I/O (see
    /// [`Connection::read_buf`](crate::Connection::read_buf)); then call
    /// [`PeerBytes::handle_read`].
    pub fn read_buf(&mut self) -> &mut BytesMut {
        self.conn_mut().read_buf()
    }

    /// Decodes what the driver read into [`PeerBytes::read_buf`].
    pub fn handle_read(mut self, now: Instant) {
        self.socket.core.now = now;
        let _ = self.conn_mut().handle_read(now);
        self.after_input();
    }

    /// Feeds bytes received from the peer (copied) and decodes them.
    pub fn handle_input(mut self, data: &[u8], now: Instant) {
        self.socket.core.now = now;
        let _ = self.conn_mut().handle_input(data, now);
        self.after_input();
    }

    /// Lends the arena as an owned buffer for a completion-based read; give it back with
    /// [`PeerBytes::give_read_buf`].
    pub fn take_read_buf(&mut self) -> BytesMut {
        self.conn_mut().take_read_buf()
    }

    /// Returns a buffer from [`PeerBytes::take_read_buf`] with the bytes read into it.
    pub fn give_read_buf(mut self, buf: BytesMut, now: Instant) {
        self.socket.core.now = now;
        let _ = self.conn_mut().give_read_buf(buf, now);
        self.after_input();
    }

    fn after_input(self) {
        // One look-up: an ignored peer's input is dropped as it is processed.
        let events = self
            .socket
            .core
            .peer(self.peer)
            .is_some_and(|p| p.ignored || p.conn.as_ref().is_some_and(Connection::has_events));
        self.socket.after_input(self.peer, events);
    }

    // ---- output ---------------------------------------------------------------------------

    /// Marks `n` bytes of the output as written and refills it from the peer's queue.
    pub fn advance_transmit(mut self, n: usize) {
        self.conn_mut().advance_transmit(n);
        self.after_output();
    }

    /// Moves all pending output into `out` (owned buffers for completion-based writes) and
    /// refills it from the peer's queue up to one batch.
    pub fn take_transmit(mut self, out: &mut Vec<Bytes>) {
        self.conn_mut().take_transmit(out);
        self.after_output();
    }

    fn after_output(mut self) {
        // A raw (STREAM) connection closes itself once the output before a close is written.
        if self.conn_mut().has_events() {
            self.socket.after_input(self.peer, true);
        } else {
            self.socket.core.refresh_peer(self.peer);
        }
    }
}
