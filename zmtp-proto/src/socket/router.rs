//! ROUTER (RFC 28, checklist R3/R4): every message in is prefixed with the identity of the peer
//! it came from; every message out is routed by its first frame.
//!
//! Identities come from `connect_routing_id` for a peer we connected to with it set, else from
//! the peer's `Identity` property, or are generated like libzmq: five bytes, `0x00` followed
//! by a big-endian counter that starts at a random value. A peer that
//! leaves releases its identity; one we connected to keeps it while it is redialled (unless
//! `immediate`), so that messages routed to it wait for the reconnection. A peer announcing
//! an identity still in use is, as in libzmq 4.3, kept connected but ignored; with
//! `router_handover` it takes the identity instead, and the old connection is the one kept
//! connected but ignored. Unroutable messages are dropped, or reported with
//! `router_mandatory`.

use super::core::Core;
use super::routing_ids::RoutingIds;
use super::transfer::Skipping;
use super::{PeerId, SocketOptions};
use crate::connection::PeerInfo;
use crate::error::Error;
use crate::message::{Frame, Msg};

/// What a ROUTER makes of a peer whose handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The peer has its identity: its messages are delivered and routed to. `displaced` is a
    /// peer that held the identity before (`router_handover`), now ignored; the caller
    /// processes its events.
    Routed { displaced: Option<PeerId> },
    /// The identity is held by another live peer and `router_handover` is off: as libzmq
    /// (`router.cpp` `identify_peer`), the connection is kept but ignored (its messages are
    /// dropped, nothing is routed to it) rather than refused, which would make the peer
    /// redial in a loop.
    Ignored,
}

#[derive(Debug)]
pub(crate) struct Router {
    /// Identity → peer, and the generator of libzmq-style ids.
    ids: RoutingIds,
}

impl Router {
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            ids: RoutingIds::new(seed),
        }
    }

    /// Entries in the routing table.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// `connect` with `connect_routing_id` set: the peer is routed to by that id from now on
    /// (messages wait for the connection, unless it is refused), whatever it announces
    /// (libzmq's `identify_peer` for a locally initiated pipe). An id in use is ignored and
    /// logged (libzmq asserts): the peer gets the one it announces.
    pub(crate) fn on_connect(&mut self, core: &mut Core, id: PeerId) {
        let Some(chosen) = core.options.connect_routing_id.take() else {
            return;
        };
        let chosen = Frame::compact(&chosen);
        if chosen.is_empty() || self.ids.contains_key(&chosen) {
            tracing::warn!("connect_routing_id empty or in use; the peer's own id is used");
            return;
        }
        self.ids.insert(chosen.clone(), id);
        if let Some(p) = core.peer_mut(id) {
            p.routing_id = chosen;
        }
    }

    /// Gives a peer whose handshake completed its identity (see [`Admission`]).
    pub(crate) fn on_active(&mut self, core: &mut Core, id: PeerId, info: &PeerInfo) -> Admission {
        let identity = if info.routing_id.is_empty() {
            self.ids.generate()
        } else {
            // Inline when small (as most are): prefixing it to each message copies 32 bytes
            // rather than taking a reference count.
            Frame::compact(&info.routing_id)
        };
        if core
            .peer(id)
            .is_some_and(|p| self.ids.get(&p.routing_id) == Some(&id))
        {
            // A connect-side peer back from a redial keeps its identity, whatever it announces
            // now: libzmq identifies a pipe once and skips the identity of a reconnection.
            // `router_notify` still announces the new connection.
            Self::notify_connect(core, id);
            return Admission::Routed { displaced: None };
        }
        let mut displaced = None;
        if let Some(&old) = self.ids.get(&identity) {
            if old != id {
                if !core.options.router_handover {
                    return Admission::Ignored;
                }
                // Handover: the new connection takes the identity. As in libzmq, the old one
                // is renamed (what it sent before, still undelivered, arrives under a generated
                // identity, never an empty one) and ignored from now on, its connection left
                // open: closing it would make a live peer redial and take the identity back,
                // again and again.
                let renamed = self.ids.generate();
                if let Some(p) = core.peer_mut(old) {
                    p.routing_id = renamed;
                }
                core.ignore(old);
                displaced = Some(old);
            }
        }
        self.ids.insert(identity.clone(), id);
        if let Some(p) = core.peer_mut(id) {
            p.routing_id = identity;
        }
        Self::notify_connect(core, id);
        Admission::Routed { displaced }
    }

    /// `router_notify` with `NOTIFY_CONNECT`: an empty message from the peer before its first
    /// one on this connection.
    fn notify_connect(core: &mut Core, id: PeerId) {
        if core.options.router_notify & SocketOptions::NOTIFY_CONNECT == 0 {
            return;
        }
        if let Some(p) = core.peer_mut(id) {
            p.stranded_in.push_back(Msg::from(Frame::new()));
        }
    }

    /// Releases the identity of a peer whose connection ended. Called while the peer is
    /// still in the core's table (an accepted peer is removed when it detaches).
    ///
    /// A connect-side peer keeps it while it is redialled (unless `immediate`), as libzmq's
    /// pipe outlives the connection: messages routed to it wait in its queue.
    pub(crate) fn on_inactive(&mut self, core: &mut Core, id: PeerId, _info: &PeerInfo) {
        let stops =
            core.options.reconnect_stop & SocketOptions::RECONNECT_STOP_AFTER_DISCONNECT != 0;
        let redialled = core.peer(id).is_some_and(|p| {
            p.endpoint.is_some() && !core.options.immediate && !core.is_closing() && !stops
        });
        if core.options.router_notify & SocketOptions::NOTIFY_DISCONNECT != 0 {
            if let Some(p) = core.peer_mut(id).filter(|p| !p.ignored) {
                p.notify_on_detach = true;
            }
        }
        if !redialled {
            self.forget(core, id);
        }
    }

    /// Releases the identity of a peer that is going away.
    pub(crate) fn forget(&mut self, core: &Core, id: PeerId) {
        if let Some(p) = core.peer(id) {
            self.ids.release(&p.routing_id, id);
        }
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Option<Msg> {
        let mut msg = Msg::new();
        self.recv_into(core, &mut msg).then_some(msg)
    }

    /// Writes the next message, prefixed with its peer's identity, into `out`.
    pub(crate) fn recv_into(&mut self, core: &mut Core, out: &mut Msg) -> bool {
        let Some((_, identity)) = core.next_inbound(out, |p| p.routing_id.clone()) else {
            return false;
        };
        out.push_front(identity);
        true
    }

    /// Routes by the first frame. The message is taken in place: left empty once queued (or
    /// dropped), untouched when refused.
    pub(crate) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<(), Error> {
        let mandatory = core.options.router_mandatory;
        let Some(&peer) = self.ids.get(msg.first().expect("send checked for frames")) else {
            if mandatory {
                return Err(Error::Unroutable);
            }
            tracing::trace!("ROUTER dropped an unroutable message");
            msg.clear();
            return Ok(());
        };
        if msg.len() == 1 {
            // The identity alone: nothing to send.
            msg.clear();
            return Ok(());
        }
        // The identity frame is skipped when encoding, not removed from the message.
        match core.enqueue(peer, Skipping { skip: 1, msg }) {
            Ok(()) => Ok(()),
            Err(_) if mandatory => Err(Error::WouldBlock),
            Err(refused) => {
                tracing::trace!("ROUTER dropped a message for a peer at its high-water mark");
                refused.msg.clear();
                Ok(())
            }
        }
    }
}
