//! The peer slab: peers behind `Copy` [`PeerId`]s whose generation makes a stale id miss.

use super::{Core, Peer};
use crate::socket::PeerId;

#[derive(Debug)]
pub(super) struct SlabEntry {
    generation: u32,
    peer: Option<Peer>,
}

impl Core {
    pub(crate) fn peer(&self, id: PeerId) -> Option<&Peer> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.peer.as_ref()
    }

    pub(crate) fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        peer_in(&mut self.slots, id)
    }

    pub(crate) fn peer_at(&self, index: usize) -> Option<PeerId> {
        let slot = self.slots.get(index)?;
        slot.peer.as_ref().map(|_| PeerId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    pub(super) fn insert(&mut self, peer: Peer) -> PeerId {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.peer = Some(peer);
            PeerId {
                index,
                generation: slot.generation,
            }
        } else {
            self.slots.push(SlabEntry {
                generation: 0,
                peer: Some(peer),
            });
            PeerId {
                index: (self.slots.len() - 1) as u32,
                generation: 0,
            }
        }
    }

    pub(super) fn remove(&mut self, id: PeerId) {
        if self.peer(id).is_none() {
            return;
        }
        let slot = &mut self.slots[id.index as usize];
        slot.peer = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.round_robin_remove(id);
    }

    /// All live peers.
    pub(crate) fn peer_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.peer.as_ref().filter(|p| !p.zombie).map(|_| PeerId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }

    pub(crate) fn peer_count(&self) -> usize {
        self.peer_ids().count()
    }
}

/// The live peer `id` in `slots` (a free function, so that callers keep the other fields of
/// [`Core`] borrowable).
pub(super) fn peer_in(slots: &mut [SlabEntry], id: PeerId) -> Option<&mut Peer> {
    let slot = slots.get_mut(id.index as usize)?;
    if slot.generation != id.generation {
        return None;
    }
    slot.peer.as_mut()
}
