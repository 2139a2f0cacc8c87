//! The routing table of ROUTER and STREAM sockets: routing id → peer, keyed per socket (peers
//! choose their ids; see [`IdentityHash`]), and the counter behind libzmq-style generated ids.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use super::idhash::IdentityHash;
use super::PeerId;
use crate::message::Frame;

/// Routing ids in use, and the next generated one.
#[derive(Debug)]
pub(crate) struct RoutingIds {
    by_id: HashMap<Frame, PeerId, IdentityHash>,
    next_id: u32,
}

impl RoutingIds {
    /// An empty table whose generated ids count up from `seed`.
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            by_id: HashMap::with_hasher(IdentityHash::new()),
            next_id: seed,
        }
    }

    /// A new id as libzmq makes them: a zero byte, then the big-endian counter, skipping ids in
    /// use (a peer may have chosen one that looks generated).
    pub(crate) fn generate(&mut self) -> Frame {
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
}

impl RoutingIds {
    /// Releases `routing_id` if `peer` holds it (a peer renamed or ignored may not).
    pub(crate) fn release(&mut self, routing_id: &Frame, peer: PeerId) {
        if self.by_id.get(routing_id) == Some(&peer) {
            self.by_id.remove(routing_id);
        }
    }
}

impl Deref for RoutingIds {
    type Target = HashMap<Frame, PeerId, IdentityHash>;

    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

impl DerefMut for RoutingIds {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.by_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_count_up_and_skip_ids_in_use() {
        let mut ids = RoutingIds::new(u32::MAX);
        let first = ids.generate();
        assert_eq!(&first[..], &[0, 0xff, 0xff, 0xff, 0xff]);
        // The counter wraps; an id a peer already holds is skipped.
        let taken = Frame::copy_from_slice(&[0, 0, 0, 0, 0]);
        ids.insert(
            taken,
            PeerId {
                index: 0,
                generation: 0,
            },
        );
        assert_eq!(&ids.generate()[..], &[0, 0, 0, 0, 1]);
    }
}
