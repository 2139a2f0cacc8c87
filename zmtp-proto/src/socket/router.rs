//! ROUTER (RFC 28, checklist R3/R4): every message in is prefixed with the identity of the peer
//! it came from; every message out is routed by its first frame.
//!
//! Identities come from the peer's `Identity` property, or are generated like libzmq: five
//! bytes, `0x00` followed by a big-endian counter that starts at a random value. A peer that
//! leaves releases its identity. A duplicate identity is refused unless `router_handover`.
//! Unroutable messages are dropped, or reported with `router_mandatory`.

use std::collections::HashMap;

use super::core::{Core, Skipping};
use super::idhash::IdentityHash;
use super::{PeerId, SocketEvent};
use crate::connection::PeerInfo;
use crate::error::Error;
use crate::message::{Frame, Msg};

#[derive(Debug)]
pub(crate) struct Router {
    /// Keyed per socket: peers choose their identities (see [`IdentityHash`]).
    by_id: HashMap<Frame, PeerId, IdentityHash>,
    next_id: u32,
}

impl Router {
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            by_id: HashMap::with_hasher(IdentityHash::new()),
            next_id: seed,
        }
    }

    /// Entries in the routing table.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    fn generate_id(&mut self) -> Frame {
        loop {
            let mut id = [0; 5];
            id[1..].copy_from_slice(&self.next_id.to_be_bytes());
            self.next_id = self.next_id.wrapping_add(1);
            let id = Frame::copy_from_slice(&id);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn on_active(
        &mut self,
        core: &mut Core,
        id: PeerId,
        info: &PeerInfo,
    ) -> Result<(), Error> {
        let identity = if info.routing_id.is_empty() {
            self.generate_id()
        } else {
            // Inline when small (as most are): prefixing it to each message copies 32 bytes
            // rather than taking a reference count.
            Frame::compact(&info.routing_id)
        };
        if let Some(&old) = self.by_id.get(&identity) {
            if old != id {
                if !core.options.router_handover {
                    return Err(Error::PeerRefused("routing id already in use"));
                }
                // Handover: the new connection takes the identity, the old one is closed.
                let error = Error::PeerRefused("routing id taken over by a new connection");
                if let Some(p) = core.peer_mut(old) {
                    p.routing_id = Frame::new();
                    if let Some(conn) = p.conn.as_mut() {
                        conn.close(error.clone());
                    }
                }
                core.events
                    .push_back(SocketEvent::Disconnected { peer: old, error });
                core.request_close(old);
            }
        }
        self.by_id.insert(identity.clone(), id);
        if let Some(p) = core.peer_mut(id) {
            p.routing_id = identity;
        }
        Ok(())
    }

    /// Releases the identity of a peer whose connection ended. Called while the peer is
    /// still in the core's table (an accepted peer is removed when it detaches).
    pub(crate) fn on_inactive(&mut self, core: &mut Core, id: PeerId, _info: &PeerInfo) {
        if let Some(p) = core.peer(id) {
            if self.by_id.get(&p.routing_id) == Some(&id) {
                self.by_id.remove(&p.routing_id);
            }
        }
    }

    pub(crate) fn recv(&mut self, core: &mut Core) -> Option<Msg> {
        let (_, identity, mut msg) = core.next_inbound_with(|p| p.routing_id.clone())?;
        msg.push_front(identity);
        Some(msg)
    }

    /// Writes the next message, prefixed with its peer's identity, into `out`.
    pub(crate) fn recv_into(&mut self, core: &mut Core, out: &mut Msg) -> bool {
        let Some((_, identity)) = core.next_inbound_into(out, |p| p.routing_id.clone()) else {
            return false;
        };
        out.push_front(identity);
        true
    }

    /// Routes by the first frame. The message is taken in place: left empty once queued (or
    /// dropped), untouched when refused.
    pub(crate) fn send(&mut self, core: &mut Core, msg: &mut Msg) -> Result<(), Error> {
        let mandatory = core.options.router_mandatory;
        let Some(&peer) = self
            .by_id
            .get(msg.first().expect("send checked for frames"))
        else {
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
