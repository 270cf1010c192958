//! Which complete entries the cache holds, their sizes and their recency.
//!
//! A map from key hash to slot plus an ordered map from a recency tick to key hash: the
//! first key of the ordered map is the least recently used entry. Not the `lru` crate: the
//! cache needs each entry's size and generation beside its recency anyway, and two std maps
//! do it with no dependency and no `unsafe`; O(log n) per step is nothing next to an
//! `unlink`. Each insert gets a new generation, so a caller that looked an entry up and then
//! found its file damaged removes that version only, never one committed since.

use std::collections::{BTreeMap, HashMap};

use super::entry::KeyHash;

#[derive(Debug, Default)]
pub(super) struct Index {
    slots: HashMap<KeyHash, Slot>,
    by_recency: BTreeMap<u64, KeyHash>,
    next_tick: u64,
    next_generation: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    size: u64,
    tick: u64,
    generation: u64,
}

impl Index {
    /// Adds (or replaces) `hash` as the most recently used entry; returns its generation.
    pub(super) fn insert(&mut self, hash: KeyHash, size: u64) -> u64 {
        self.remove(hash);
        let generation = self.next_generation;
        self.next_generation += 1;
        let tick = self.next_tick();
        self.slots.insert(
            hash,
            Slot {
                size,
                tick,
                generation,
            },
        );
        self.by_recency.insert(tick, hash);
        self.bytes += size;
        generation
    }

    /// The generation of `hash`, if held.
    pub(super) fn generation(&self, hash: KeyHash) -> Option<u64> {
        self.slots.get(&hash).map(|slot| slot.generation)
    }

    /// Makes `hash` the most recently used entry, if it is still that generation.
    pub(super) fn touch(&mut self, hash: KeyHash, generation: u64) {
        let tick = self.next_tick();
        if let Some(slot) = self.slots.get_mut(&hash)
            && slot.generation == generation
        {
            self.by_recency.remove(&slot.tick);
            slot.tick = tick;
            self.by_recency.insert(tick, hash);
        }
    }

    /// Forgets `hash` if it is still that generation; true when it was.
    pub(super) fn remove_if(&mut self, hash: KeyHash, generation: u64) -> bool {
        if self.generation(hash) == Some(generation) {
            self.remove(hash);
            true
        } else {
            false
        }
    }

    /// Forgets `hash`, whatever its generation.
    pub(super) fn remove(&mut self, hash: KeyHash) {
        if let Some(slot) = self.slots.remove(&hash) {
            self.by_recency.remove(&slot.tick);
            self.bytes -= slot.size;
        }
    }

    /// Removes least recently used entries until at most `max_bytes` remain, returning them
    /// in eviction order. The most recently used entry goes last, so one just inserted that
    /// fits within `max_bytes` alone is never evicted.
    pub(super) fn evict_over(&mut self, max_bytes: u64) -> Vec<KeyHash> {
        let mut evicted = Vec::new();
        while self.bytes > max_bytes {
            let Some((_, hash)) = self.by_recency.pop_first() else {
                break;
            };
            if let Some(slot) = self.slots.remove(&hash) {
                self.bytes -= slot.size;
            }
            evicted.push(hash);
        }
        evicted
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries from least to most recently used.
    #[cfg(test)]
    pub(super) fn lru_order(&self) -> Vec<KeyHash> {
        self.by_recency.values().copied().collect()
    }

    fn next_tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}
