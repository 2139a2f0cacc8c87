//! What one thread keeps for its pinned sockets without a lock: a slab of values reached by
//! keys that name the thread, the slot and the slot's use. The in-process transport keeps its
//! same-thread pipes in one (`inproc.rs`), the signal its home registrations in another
//! (`signal/home.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// This thread's number.
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// The calling thread's number, unique in the process (`std::thread::current()` would cost a
/// reference count on every look-up); `None` while the thread exits.
#[inline]
pub(crate) fn this_thread() -> Option<u64> {
    THREAD.try_with(|t| *t).ok()
}

/// Where a value of a [`ThreadSlab`] is: its thread, its slot, and which use of the slot it
/// is (a slot freed and reused is another value's, and a stale key finds nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlabKey {
    pub(crate) thread: u64,
    slot: u32,
    generation: u32,
}

impl SlabKey {
    /// True if the calling thread is the key's.
    #[inline]
    pub(crate) fn is_here(self) -> bool {
        this_thread() == Some(self.thread)
    }
}

/// One thread's values, by slot (kept in a `thread_local!`).
#[derive(Debug)]
pub(crate) struct ThreadSlab<T> {
    thread: Option<u64>,
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for ThreadSlab<T> {
    fn default() -> Self {
        Self {
            thread: this_thread(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> ThreadSlab<T> {
    /// Takes the value out of `value` into the slab; leaves it there if the slab is full
    /// (2^32 values) or the thread is exiting.
    pub(crate) fn insert(&mut self, value: &mut Option<T>) -> Option<SlabKey> {
        let thread = self.thread?;
        if let Some(&slot) = self.free.last() {
            let entry = &mut self.slots[slot as usize];
            entry.1 = Some(value.take()?);
            entry.0 = entry.0.wrapping_add(1);
            self.free.pop();
            return Some(SlabKey {
                thread,
                slot,
                generation: entry.0,
            });
        }
        let slot = u32::try_from(self.slots.len()).ok()?;
        self.slots.push((0, Some(value.take()?)));
        Some(SlabKey {
            thread,
            slot,
            generation: 0,
        })
    }

    /// The value of `key`, if it is this thread's and still there.
    pub(crate) fn get_mut(&mut self, key: SlabKey) -> Option<&mut T> {
        if Some(key.thread) != self.thread {
            return None;
        }
        match self.slots.get_mut(key.slot as usize) {
            Some((generation, value)) if *generation == key.generation => value.as_mut(),
            _ => None,
        }
    }

    /// Takes the value of `key` out (its slot is free for another); the caller drops it.
    pub(crate) fn remove(&mut self, key: SlabKey) -> Option<T> {
        if Some(key.thread) != self.thread {
            return None;
        }
        let (generation, value) = self.slots.get_mut(key.slot as usize)?;
        if *generation != key.generation {
            return None;
        }
        let value = value.take()?;
        self.free.push(key.slot);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_is_not_found_by_the_old_key() {
        let mut slab = ThreadSlab::default();
        let first = slab.insert(&mut Some("first")).unwrap();
        assert!(first.is_here());
        assert_eq!(slab.remove(first), Some("first"));
        assert_eq!(slab.remove(first), None, "removed once, freed once");
        let second = slab.insert(&mut Some("second")).unwrap();
        assert_eq!(slab.get_mut(first), None);
        assert_eq!(slab.get_mut(second).copied(), Some("second"));
        let third = slab.insert(&mut Some("third")).unwrap();
        assert_ne!(second, third, "the slot was freed once");
    }

    #[test]
    fn another_threads_key_finds_nothing() {
        let mut slab = ThreadSlab::default();
        let key = slab.insert(&mut Some(1)).unwrap();
        let elsewhere = std::thread::spawn(move || {
            let mut theirs: ThreadSlab<i32> = ThreadSlab::default();
            (key.is_here(), theirs.get_mut(key).is_none())
        })
        .join()
        .unwrap();
        assert_eq!(elsewhere, (false, true));
    }
}
