//! Lifecycle calls of a socket besides `close` (in `mod.rs`): linger changed after creation, a
//! dial's failure with its cause, and whether a send has a peer to go to.

use std::time::{Duration, Instant};

use super::{PeerId, Socket};
use crate::error::Error;

impl Socket {
    /// Sets the `linger` option after creation (libzmq's `ZMQ_LINGER`, settable at any time):
    /// how long a closing socket keeps delivering what is queued; `None` waits forever,
    /// `Some(Duration::ZERO)` discards at once. On a socket already closing, the new time
    /// counts from `now` (libzmq applies the value current at `zmq_close`; this lets a close
    /// that waits forever be bounded later).
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use zmtp_proto::{Msg, Socket, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut req = Socket::new(SocketType::Req, SocketOptions::default(), now);
    /// req.connect("tcp://127.0.0.1:5555", now);
    /// req.send(Msg::from("queued")).unwrap();
    /// req.close(now); // linger forever (the default): it keeps dialling
    /// assert!(!req.is_closed());
    /// req.set_linger(Some(Duration::ZERO), now);
    /// assert!(req.is_closed());
    /// assert_eq!(req.peer_count(), 0, "nothing is dialled any more");
    /// ```
    pub fn set_linger(&mut self, linger: Option<Duration>, now: Instant) {
        self.core.now = now;
        self.core.set_linger(linger);
    }

    /// Like [`Socket::dial_failed`], with the cause the driver saw, reported in the
    /// [`SocketEvent::ConnectRetried`](super::SocketEvent::ConnectRetried) (an
    /// [`Error::Endpoint`] whose kind says refused, unreachable, host not found...; an empty
    /// `endpoint` in it is filled in with the peer's).
    ///
    /// ```
    /// # use std::io::ErrorKind;
    /// # use std::time::Instant;
    /// # use zmtp_proto::{EndpointOp, Error, Socket, SocketEvent, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
    /// let peer = push.connect("tcp://no.such.host:5555", now);
    /// let _dial = push.poll_action();
    /// let cause = Error::Endpoint {
    ///     operation: EndpointOp::Dial,
    ///     endpoint: String::new(),
    ///     kind: ErrorKind::NotFound,
    ///     reason: "failed to lookup address information".into(),
    /// };
    /// push.dial_failed_because(peer, now, cause);
    /// let Some(SocketEvent::ConnectRetried { error, .. }) = push.poll_event() else { panic!() };
    /// assert!(matches!(error, Error::Endpoint { kind: ErrorKind::NotFound, ref endpoint, .. }
    ///     if endpoint == "tcp://no.such.host:5555"));
    /// ```
    pub fn dial_failed_because(&mut self, peer: PeerId, now: Instant, error: Error) {
        self.core.now = now;
        self.core.dial_failed(peer, error);
    }

    /// Records where an accepted peer is (`tcp://203.0.113.7:50512`), as the driver saw it:
    /// its events ([`SocketEvent`](super::SocketEvent)) carry it as `remote`. A peer we dialled
    /// needs none: its `remote` is the endpoint dialled.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Error, Socket, SocketEvent, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), now);
    /// let peer = pull.accept(now);
    /// pull.set_remote(peer, "tcp://192.0.2.1:40000");
    /// pull.bytes(peer).unwrap().handle_input(b"garbage, not a greeting", now);
    /// match pull.poll_event() {
    ///     Some(SocketEvent::HandshakeFailed { remote, .. }) => {
    ///         assert_eq!(remote.as_deref(), Some("tcp://192.0.2.1:40000"));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn set_remote(&mut self, peer: PeerId, remote: impl Into<std::sync::Arc<str>>) {
        if let Some(p) = self.core.peer_mut(peer) {
            p.remote = Some(remote.into());
        }
    }

    /// True if some peer can take a message now or once its connection is up (a connect-side
    /// peer of a type that queues before connecting): for the types that block, a send that
    /// fails with none has no peer at all ([`Error::NoPeer`]) rather than a full queue.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
    /// assert!(!push.has_routable_peer());
    /// push.connect("tcp://127.0.0.1:5555", now);
    /// assert!(push.has_routable_peer());
    /// ```
    pub fn has_routable_peer(&self) -> bool {
        !self.core.round_robin.is_empty()
    }
}
