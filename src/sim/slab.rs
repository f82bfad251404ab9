//! [`IdMap`]: values under dense, increasing `u64` ids (connections, tasks), found by index
//! instead of by search, and iterated in id order as the ordered map it replaces was; and
//! [`FixedHashMap`] / [`FixedHashSet`] for keys that are only ever looked up.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a `u64` id with one multiplication, other keys with one per byte (SipHash cost
/// more than the lookups it served). Only for maps and sets that are never iterated, so the
/// order they store things in cannot reach the simulation.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map looked up only, never iterated (see [`IdHasher`]): ids (timers, connections) or host
/// addresses as keys. No OS randomness either, so even its memory layout is the same from
/// run to run.
pub(crate) type FixedHashMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A set probed only, never iterated, hashed as [`FixedHashMap`].
pub(crate) type FixedHashSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

/// A map from ids handed out in increasing order to values.
///
/// Lookups index a ring of slots (slot `i` holds id `base + i`); removing the oldest ids
/// trims the front, so memory follows the span of live ids, not every id ever used. With
/// thousands of connections a search tree's lookups missed the cache at every level: this
/// costs one slot and the value. Iteration is in id order, so the simulation sees the same
/// order as with a `BTreeMap`.
#[derive(Debug)]
pub(crate) struct IdMap<T> {
    slots: VecDeque<Option<T>>,
    /// The id of `slots[0]`.
    base: u64,
    len: usize,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        Self {
            slots: VecDeque::new(),
            base: 0,
            len: 0,
        }
    }
}

impl<T> IdMap<T> {
    /// The slot index of `id`, if it is in the ring.
    fn index(&self, id: u64) -> Option<usize> {
        let offset = usize::try_from(id.checked_sub(self.base)?).ok()?;
        (offset < self.slots.len()).then_some(offset)
    }

    /// Values held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when no value is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value under `id`.
    pub(crate) fn get(&self, id: &u64) -> Option<&T> {
        self.slots.get(self.index(*id)?)?.as_ref()
    }

    /// The value under `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut T> {
        let index = self.index(*id)?;
        self.slots.get_mut(index)?.as_mut()
    }

    /// Puts `value` under `id`; returns the value it replaced.
    pub(crate) fn insert(&mut self, id: u64, value: T) -> Option<T> {
        if self.slots.is_empty() {
            self.base = id;
        }
        while id < self.base {
            self.slots.push_front(None);
            self.base -= 1;
        }
        let offset = usize::try_from(id - self.base).expect("ids are dense");
        if offset >= self.slots.len() {
            self.slots.resize_with(offset + 1, || None);
        }
        let old = self.slots[offset].replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Takes the value under `id` out.
    pub(crate) fn remove(&mut self, id: &u64) -> Option<T> {
        let index = self.index(*id)?;
        let value = self.slots[index].take()?;
        self.len -= 1;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        while let Some(None) = self.slots.back() {
            self.slots.pop_back();
        }
        Some(value)
    }

    /// `(id, value)` pairs in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        let base = self.base;
        self.slots
            .iter()
            .zip(0u64..)
            .filter_map(move |(slot, offset)| slot.as_ref().map(|value| (base + offset, value)))
    }

    /// The values in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Against a `BTreeMap`, through inserts and removals in a scrambled order: the same
    /// lookups, the same iteration order, and memory that follows the live span.
    #[test]
    fn behaves_as_an_ordered_map() {
        let mut map = IdMap::default();
        let mut model = BTreeMap::new();
        let mut x = 7u64;
        for id in 0..2_000u64 {
            assert_eq!(map.insert(id, id * 10), model.insert(id, id * 10));
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let victim = (x >> 33) % (id + 1);
            assert_eq!(map.remove(&victim), model.remove(&victim));
            assert_eq!(map.len(), model.len());
            assert_eq!(map.is_empty(), model.is_empty());
        }
        for id in 0..2_100u64 {
            assert_eq!(map.get(&id), model.get(&id));
        }
        let pairs: Vec<(u64, &u64)> = map.iter().collect();
        let expected: Vec<(u64, &u64)> = model.iter().map(|(k, v)| (*k, v)).collect();
        assert_eq!(pairs, expected);
        assert!(map.values().eq(model.values()));
        if let Some(v) = map.get_mut(&1_999) {
            *v = 1;
        }
        assert!(map.get(&1_999).is_none_or(|v| *v == 1));
        // Everything removed: nothing kept.
        let ids: Vec<u64> = model.keys().copied().collect();
        for id in ids {
            assert!(map.remove(&id).is_some());
        }
        assert!(map.is_empty());
        assert_eq!(map.slots.len(), 0);
        // An id below the span still works.
        map.insert(10, 1);
        map.insert(5, 2);
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![(5, &2), (10, &1)]);
        assert_eq!(map.remove(&5), Some(2));
        assert_eq!(map.get(&10), Some(&1));
    }
}
