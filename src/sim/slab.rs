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
/// Values sit densely in a slab (freed places are reused); a ring of 4-byte cells, cell `i`
/// for id `base + i`, says where. Removing the oldest ids trims the ring's front; nothing
/// trims its back, so a burst of new ids costs one push each however far the span reaches.
/// Memory is the peak of live values plus 4 bytes per id between the oldest live one and the
/// newest (a connection held for a whole run while thousands come and go keeps those cells).
/// With thousands of connections a search tree's lookups missed the cache at every level:
/// this costs one cell and the value. Iteration is in id order, so the simulation sees the
/// same order as with a `BTreeMap`.
#[derive(Debug)]
pub(crate) struct IdMap<T> {
    /// `slab` index + 1 of each id's value; 0 for none.
    cells: VecDeque<u32>,
    /// The id of `cells[0]`.
    base: u64,
    slab: Vec<Place<T>>,
    /// The most recently freed place in `slab`, + 1; 0 for none.
    free: u32,
    len: usize,
}

/// One place of the slab: a value, or a link in the free list (the next free place, + 1).
#[derive(Debug)]
enum Place<T> {
    Taken(T),
    Free(u32),
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        Self {
            cells: VecDeque::new(),
            base: 0,
            slab: Vec::new(),
            free: 0,
            len: 0,
        }
    }
}

impl<T> IdMap<T> {
    /// The ring index of `id`, if it is in the ring.
    fn index(&self, id: u64) -> Option<usize> {
        let offset = usize::try_from(id.checked_sub(self.base)?).ok()?;
        (offset < self.cells.len()).then_some(offset)
    }

    /// The slab index of `id`'s value, if it has one.
    fn place(&self, id: u64) -> Option<usize> {
        let cell = *self.cells.get(self.index(id)?)?;
        (cell != 0).then(|| cell as usize - 1)
    }

    fn value(&self, place: usize) -> &T {
        match &self.slab[place] {
            Place::Taken(value) => value,
            Place::Free(_) => unreachable!("a cell points at a free place"),
        }
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
        Some(self.value(self.place(*id)?))
    }

    /// The value under `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut T> {
        let place = self.place(*id)?;
        match &mut self.slab[place] {
            Place::Taken(value) => Some(value),
            Place::Free(_) => None,
        }
    }

    /// Puts `value` under `id`; returns the value it replaced.
    pub(crate) fn insert(&mut self, id: u64, value: T) -> Option<T> {
        if let Some(place) = self.place(id) {
            return match std::mem::replace(&mut self.slab[place], Place::Taken(value)) {
                Place::Taken(old) => Some(old),
                Place::Free(_) => unreachable!("a cell points at a free place"),
            };
        }
        if self.cells.is_empty() {
            self.base = id;
        }
        while id < self.base {
            self.cells.push_front(0);
            self.base -= 1;
        }
        let offset = usize::try_from(id - self.base).expect("ids are dense");
        if offset >= self.cells.len() {
            self.cells.resize(offset + 1, 0);
        }
        let place = if self.free == 0 {
            self.slab.push(Place::Taken(value));
            self.slab.len()
        } else {
            let place = self.free as usize - 1;
            match std::mem::replace(&mut self.slab[place], Place::Taken(value)) {
                Place::Free(next) => self.free = next,
                Place::Taken(_) => unreachable!("the free list holds a value"),
            }
            place + 1
        };
        self.cells[offset] = u32::try_from(place).expect("fewer than 2^32 live values");
        self.len += 1;
        None
    }

    /// Takes the value under `id` out.
    pub(crate) fn remove(&mut self, id: &u64) -> Option<T> {
        let index = self.index(*id)?;
        let cell = std::mem::take(&mut self.cells[index]);
        if cell == 0 {
            return None;
        }
        let place = cell as usize - 1;
        let value = match std::mem::replace(&mut self.slab[place], Place::Free(self.free)) {
            Place::Taken(value) => value,
            Place::Free(_) => unreachable!("a cell points at a free place"),
        };
        self.free = cell;
        self.len -= 1;
        while self.cells.front() == Some(&0) {
            self.cells.pop_front();
            self.base += 1;
        }
        if self.len == 0 {
            // Nothing live: the slab's places go back with its free list.
            self.slab.clear();
            self.free = 0;
        }
        Some(value)
    }

    /// `(id, value)` pairs in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        let base = self.base;
        self.cells
            .iter()
            .zip(0u64..)
            .filter(|(cell, _)| **cell != 0)
            .map(move |(cell, offset)| (base + offset, self.value(*cell as usize - 1)))
    }

    /// The values in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.iter().map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// One id held from the start while thousands come and go after it (a connection kept
    /// for a whole run): each new id costs one cell, the values share two places, and the
    /// ring never shrinks back only to grow again on the next insert.
    #[test]
    fn a_held_old_id_costs_one_cell_per_later_id() {
        let mut map = IdMap::default();
        map.insert(0, [0u8; 256]);
        for id in 1..10_000u64 {
            assert!(map.insert(id, [1; 256]).is_none());
            assert_eq!(map.cells.len() as u64, id + 1);
            assert_eq!(map.remove(&id).map(|v| v[0]), Some(1));
            assert_eq!(map.slab.len(), 2);
        }
        assert_eq!(map.len(), 1);
        assert_eq!(map.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![0]);
        assert_eq!(map.remove(&0).map(|v| v[0]), Some(0));
        assert!(map.cells.is_empty() && map.slab.is_empty());
        assert!(map.remove(&0).is_none() && map.get(&5).is_none());
    }

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
        assert_eq!(map.cells.len(), 0);
        assert!(map.slab.is_empty());
        // An id below the span still works.
        map.insert(10, 1);
        map.insert(5, 2);
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![(5, &2), (10, &1)]);
        assert_eq!(map.remove(&5), Some(2));
        assert_eq!(map.get(&10), Some(&1));
        // Ids past the span, just past it or far, are absent: removing one changes nothing.
        for id in [11, 12, 1_000] {
            assert_eq!(map.remove(&id), None);
            assert!(map.get(&id).is_none());
        }
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![(10, &1)]);
    }
}
