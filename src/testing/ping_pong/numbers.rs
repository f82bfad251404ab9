//! [`Numbers`]: a set of request numbers, a bit each.

use std::collections::BTreeSet;

/// Numbers up to this go in the bitset; a larger one (never sent by a client, so only from a
/// bad reply) goes in a tree, so no reply can make the bitset huge.
const DENSE: u64 = 1 << 20;

/// A set of request numbers. A client's numbers run from 0 up, so a bit per number is
/// smaller than a tree and needs no allocation per insert.
#[derive(Debug, Default, Clone)]
pub(super) struct Numbers {
    words: Vec<u64>,
    sparse: BTreeSet<u64>,
    len: usize,
}

impl Numbers {
    /// Adds `n`; false if it was already there.
    pub fn insert(&mut self, n: u64) -> bool {
        let added = if n < DENSE {
            let (word, bit) = ((n / 64) as usize, 1u64 << (n % 64));
            if word >= self.words.len() {
                self.words.resize(word + 1, 0);
            }
            let added = self.words[word] & bit == 0;
            self.words[word] |= bit;
            added
        } else {
            self.sparse.insert(n)
        };
        self.len += usize::from(added);
        added
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u64) -> bool {
        if n < DENSE {
            let word = (n / 64) as usize;
            self.words
                .get(word)
                .is_some_and(|w| w & (1 << (n % 64)) != 0)
        } else {
            self.sparse.contains(&n)
        }
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The numbers in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let dense = self.words.iter().enumerate().flat_map(|(i, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| i as u64 * 64 + bit)
        });
        dense.chain(self.sparse.iter().copied())
    }

    /// The numbers in `self` and not in `other`, in increasing order.
    pub fn difference<'a>(&'a self, other: &'a Numbers) -> impl Iterator<Item = u64> + 'a {
        self.iter().filter(|&n| !other.contains(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_behave_as_a_set() {
        let mut a = Numbers::default();
        for n in [5, 0, 64, 5, 130, DENSE + 7, u64::MAX] {
            a.insert(n);
        }
        assert_eq!(a.len(), 6);
        assert!(!a.insert(64), "already there");
        assert!(a.contains(0) && a.contains(130) && a.contains(u64::MAX));
        assert!(!a.contains(1) && !a.contains(DENSE) && !a.contains(1 << 40));
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [0, 5, 64, 130, DENSE + 7, u64::MAX]
        );
        let mut b = Numbers::default();
        for n in [5, 130, u64::MAX, 9] {
            b.insert(n);
        }
        assert_eq!(a.difference(&b).collect::<Vec<_>>(), [0, 64, DENSE + 7]);
        assert_eq!(
            a.words.len(),
            3,
            "a bit per number, up to the largest dense one"
        );
    }
}
