//! The paths a run writes, each claimed once: two documents may not land
//! on one path, nor on paths that differ only in case (one file on macOS
//! and Windows). A document written back where it was read, nearly every
//! one, is kept as a hash of its lowercase path and its index among the
//! run's documents (whose path gives the rest back); only the others, and
//! the rare path whose hash another took, are kept whole.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use camino::{Utf8Path, Utf8PathBuf};

/// Every path claimed so far.
#[derive(Default)]
pub(super) struct Claims {
    /// Documents written in place: the hash of the lowercase path, and the
    /// document's index.
    in_place: HashMap<u64, usize>,
    /// Every other claim: the lowercase path, and the index of the
    /// document it came from.
    others: BTreeMap<String, usize>,
}

impl Claims {
    /// Claims `path` for the document at `index` of `records` (`in_place`:
    /// `path` is that document's own path); returns the path of the
    /// document that claimed it first, if one did.
    pub(super) fn claim<'r>(
        &mut self,
        records: &'r [(Utf8PathBuf, u32)],
        path: &Utf8Path,
        index: usize,
        in_place: bool,
    ) -> Option<&'r Utf8Path> {
        let lower = path.as_str().to_lowercase();
        let mut hasher = DefaultHasher::new();
        lower.hash(&mut hasher);
        self.claim_hashed(records, lower, hasher.finish(), index, in_place)
    }

    /// [`Claims::claim`] of the lowercase path `lower`, whose hash is
    /// `hash`.
    fn claim_hashed<'r>(
        &mut self,
        records: &'r [(Utf8PathBuf, u32)],
        lower: String,
        hash: u64,
        index: usize,
        in_place: bool,
    ) -> Option<&'r Utf8Path> {
        let lower_of = |i: usize| records[i].0.as_str().to_lowercase();
        if let Some(&first) = self.in_place.get(&hash)
            && lower_of(first) == lower
        {
            return Some(&records[first].0);
        }
        if let Some(&first) = self.others.get(&lower) {
            return Some(&records[first].0);
        }
        match self.in_place.entry(hash) {
            Entry::Vacant(slot) if in_place => {
                slot.insert(index);
            }
            _ => {
                self.others.insert(lower, index);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_claimed_once_whatever_its_case() {
        let records: Vec<(Utf8PathBuf, u32)> = ["A.md", "b.md", "c.md"]
            .iter()
            .map(|p| (Utf8PathBuf::from(p), 1))
            .collect();
        let mut claims = Claims::default();
        assert_eq!(claims.claim(&records, "A.md".into(), 0, true), None);
        assert_eq!(claims.claim(&records, "b.md".into(), 1, true), None);
        // Moved onto a path that differs from the first only in case.
        let first = claims.claim(&records, "a.MD".into(), 2, false);
        assert_eq!(first, Some(Utf8Path::new("A.md")));
        // A path moved to first, then claimed in place.
        assert_eq!(claims.claim(&records, "new/d.md".into(), 1, false), None);
        let first = claims.claim(&records, "NEW/d.md".into(), 2, false);
        assert_eq!(first, Some(Utf8Path::new("b.md")));
    }

    /// Two paths whose hashes are equal are both claimed, each once: the
    /// second is kept whole.
    #[test]
    fn paths_whose_hashes_collide_are_told_apart() {
        let records: Vec<(Utf8PathBuf, u32)> = ["a.md", "b.md", "B.MD", "A.md"]
            .iter()
            .map(|p| (Utf8PathBuf::from(p), 1))
            .collect();
        let mut claims = Claims::default();
        let mut claim = |i: usize| {
            let lower = records[i].0.as_str().to_lowercase();
            claims.claim_hashed(&records, lower, 7, i, true)
        };
        assert_eq!(claim(0), None);
        assert_eq!(claim(1), None, "another path with the same hash");
        assert_eq!(claim(2), Some(Utf8Path::new("b.md")));
        assert_eq!(claim(3), Some(Utf8Path::new("a.md")));
        // A document moved onto a path whose hash collides is told apart
        // too, and claims that path alone.
        let moved = claims.claim_hashed(&records, "c.md".to_owned(), 7, 1, false);
        assert_eq!(moved, None);
        let again = claims.claim_hashed(&records, "c.md".to_owned(), 7, 2, true);
        assert_eq!(again, Some(Utf8Path::new("b.md")));
    }
}
