//! The whole-message view of one in-process peer, beside the byte view of `peer_bytes.rs`: the
//! in-process transport moves [`Carried`] items between two sockets' connections instead of
//! bytes. A peer is in-process when it was connected to an `inproc://` endpoint or accepted
//! with [`Socket::accept_inproc`]; its actions ([`Socket::poll_inproc_action`]) and output
//! ([`Socket::poll_inproc_transmit`]) are listed apart from the byte streams', so a driver
//! that knows nothing of it never sees it.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{Action, PeerId, Socket};
use crate::connection::{Carried, Connection, PeerInfo};

impl Socket {
    /// What this socket announces to an in-process peer (its type and routing id).
    pub fn inproc_info(&self) -> PeerInfo {
        PeerInfo::in_process(
            self.core.socket_type,
            Bytes::clone(&self.core.options.connection.routing_id),
        )
    }

    /// Adds a peer for an in-process connection made to a name this socket bound. `peer`:
    /// what the connecting socket announces; `window`: its receive high-water mark.
    pub fn accept_inproc(&mut self, peer: PeerInfo, window: usize, now: Instant) -> PeerId {
        self.core.now = now;
        let conn = self.inproc_connection(peer, window, now);
        let id = self.core.add_accepted_inproc(conn);
        self.process_events(id);
        id
    }

    /// The in-process connection of the connect-side peer `peer` is made (the bound socket
    /// announced `info`; `window`: its receive high-water mark).
    pub fn attach_inproc(&mut self, peer: PeerId, info: PeerInfo, window: usize, now: Instant) {
        self.core.now = now;
        let conn = self.inproc_connection(info, window, now);
        if self.core.attach_conn(peer, conn) {
            self.process_events(peer);
        }
    }

    fn inproc_connection(&self, peer: PeerInfo, window: usize, now: Instant) -> Connection {
        let config = self.core.options.connection.clone();
        Connection::carrying(self.core.socket_type, config, peer, window, now)
    }

    /// The next thing the in-process transport must do for one of its peers (a
    /// [`Action::Dial`] of an `inproc://` endpoint, a [`Action::Close`]).
    #[must_use]
    pub fn poll_inproc_action(&mut self) -> Option<Action> {
        self.core.inproc_actions.pop_front()
    }

    /// The next in-process peer with items to move or a credit report to make.
    #[must_use]
    pub fn poll_inproc_transmit(&mut self) -> Option<PeerId> {
        self.core.poll_inproc_transmit()
    }

    /// True if `peer` is an in-process peer.
    pub fn is_inproc(&self, peer: PeerId) -> bool {
        self.core.peer(peer).is_some_and(|p| p.inproc)
    }

    /// The whole-message view of `peer`, if it is an in-process peer with a connection.
    pub fn messages(&mut self, peer: PeerId) -> Option<PeerMessages<'_>> {
        let p = self.core.peer(peer)?;
        if !p.inproc || p.conn.is_none() {
            return None;
        }
        Some(PeerMessages { socket: self, peer })
    }
}

/// One in-process peer's messages, as the transport moves them. See [`Socket::messages`].
///
/// Two sockets joined by hand, as the in-process transport joins them:
///
/// ```
/// # use std::collections::VecDeque;
/// # use std::time::Instant;
/// use zmtp_proto::{Action, Socket, SocketOptions};
/// use zmtp_proto::{Msg, PeerInfo, SocketType};
///
/// let now = Instant::now();
/// let options = SocketOptions::default();
/// let mut push = Socket::new(SocketType::Push, options.clone(), now);
/// let mut pull = Socket::new(SocketType::Pull, options, now);
/// let a = push.connect("inproc://work", now);
/// assert!(push.poll_action().is_none(), "not the driver's to dial");
/// assert!(matches!(push.poll_inproc_action(), Some(Action::Dial { .. })));
/// // The transport joined the two: each side learns what the other announces.
/// push.attach_inproc(a, pull.inproc_info(), pull.options().connection.rcvhwm, now);
/// let b = pull.accept_inproc(push.inproc_info(), push.options().connection.rcvhwm, now);
/// push.send(Msg::from("hello")).unwrap();
/// let mut moving = VecDeque::new();
/// while let Some(peer) = push.poll_inproc_transmit() {
///     push.messages(peer).unwrap().take_carried(&mut moving);
/// }
/// pull.messages(b).unwrap().deliver(moving.drain(..), now);
/// assert_eq!(pull.recv().unwrap(), Some(Msg::from("hello")));
/// ```
#[derive(Debug)]
pub struct PeerMessages<'a> {
    socket: &'a mut Socket,
    peer: PeerId,
}

impl PeerMessages<'_> {
    fn conn_mut(&mut self) -> &mut Connection {
        let p = self.socket.core.peer_mut(self.peer).expect("checked");
        p.conn.as_mut().expect("checked")
    }

    /// Moves the items waiting for the peer to the back of `out`, then refills from the
    /// peer's queue what the window allows. Returns the count of messages the application
    /// has taken from this peer in all, when a report of it is due: hand it to the other side's
    /// [`PeerMessages::set_acked`].
    pub fn take_carried(mut self, out: &mut VecDeque<Carried>) -> Option<u64> {
        let report = self.conn_mut().take_carried(out);
        self.socket.core.refresh_peer(self.peer);
        report
    }

    /// Delivers items from the peer (messages to receive, subscriptions) and processes them.
    pub fn deliver(mut self, items: impl Iterator<Item = Carried>, now: Instant) {
        self.socket.core.now = now;
        let conn = self.conn_mut();
        for item in items {
            conn.deliver(item);
        }
        // An ignored peer's input is dropped as it is processed (as in `peer_bytes.rs`).
        let ignored = self.socket.core.peer(self.peer).is_some_and(|p| p.ignored);
        let events = ignored || self.conn_mut().has_events();
        self.socket.after_input(self.peer, events);
    }

    /// The peer's application has taken `acked` of our messages in all: the window opens
    /// and queued messages move into it.
    pub fn set_acked(mut self, acked: u64) {
        self.conn_mut().set_acked(acked);
        self.socket.core.refresh_peer(self.peer);
    }
}
