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
        let entry = self.slab.get(id.index as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        entry.peer.as_ref()
    }

    pub(crate) fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        peer_in(&mut self.slab, id)
    }

    pub(crate) fn peer_at(&self, index: usize) -> Option<PeerId> {
        let entry = self.slab.get(index)?;
        entry.peer.as_ref().map(|_| PeerId {
            index: index as u32,
            generation: entry.generation,
        })
    }

    pub(super) fn insert(&mut self, peer: Peer) -> PeerId {
        if let Some(index) = self.free.pop() {
            let entry = &mut self.slab[index as usize];
            entry.peer = Some(peer);
            PeerId {
                index,
                generation: entry.generation,
            }
        } else {
            self.slab.push(SlabEntry {
                generation: 0,
                peer: Some(peer),
            });
            PeerId {
                index: (self.slab.len() - 1) as u32,
                generation: 0,
            }
        }
    }

    pub(super) fn remove(&mut self, id: PeerId) {
        if self.peer(id).is_none() {
            return;
        }
        let entry = &mut self.slab[id.index as usize];
        entry.peer = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(id.index);
        self.round_robin_remove(id);
    }

    /// All live peers.
    pub(crate) fn peer_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.slab.iter().enumerate().filter_map(|(i, s)| {
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

/// The live peer `id` in `slab` (a free function, so that callers keep the other fields of
/// [`Core`] borrowable).
pub(super) fn peer_in(slab: &mut [SlabEntry], id: PeerId) -> Option<&mut Peer> {
    let entry = slab.get_mut(id.index as usize)?;
    if entry.generation != id.generation {
        return None;
    }
    entry.peer.as_mut()
}
