//! Customer ids stored once, in 16 bytes each: a canonical UUID as its 128 bits, any other id in
//! an append-only byte arena.
//!
//! Why it is exact: an id is *canonical* when it is 36 bytes, lowercase hex in the 8-4-4-4-12
//! shape, and does not start with `ffffffff`. Those ids and their 16 bytes map one to one (hex
//! digits and fixed dashes), and [`render`](StoredId) writes back the very same string. Every
//! other id (upper case, other shapes, and the 2^-32 of UUIDs starting with `ffffffff`) is copied
//! verbatim into the arena, and its 16 bytes begin with `ff ff ff ff`, which no canonical UUID's
//! bytes do, so the two kinds never meet. Customers are never forgotten, so the arena only grows
//! and never needs compacting.

use std::hash::BuildHasher;

use crate::event::customer_id::{uuid_bytes, uuid_text, CustomerId};

/// How a customer id is kept: 16 bytes, see the module comment.
pub type StoredId = [u8; 16];

/// First bytes of a [`StoredId`] that points into the arena.
const ARENA_MARK: [u8; 4] = [0xff; 4];
/// Largest arena chunk; an id longer than this gets a chunk of its own.
const MAX_CHUNK: usize = 1 << 20;
const FIRST_CHUNK: usize = 4 << 10;

/// Hashes ids, the same for an id's `&str` and its stored form. Seeded at random per store, so
/// ids chosen to collide cannot be prepared in advance (nothing is ever taken from the table's
/// order, so the seed does not change any output).
#[derive(Debug, Clone)]
pub struct IdHasher(foldhash::quality::FixedState);

impl IdHasher {
    pub fn random() -> Self {
        IdHasher(foldhash::quality::FixedState::with_seed(rand::random()))
    }

    pub fn key(&self, key: &IdKey<'_>) -> u64 {
        match key {
            IdKey::Uuid(bytes) => self.uuid(bytes),
            IdKey::Other(id) => self.text(id.as_bytes()),
        }
    }

    /// The hash of a decoded customer id, as its look-up computes it.
    pub fn customer(&self, id: &CustomerId) -> u64 {
        self.key(&IdKey::from(id))
    }

    /// The hash of a stored id, equal to its [`key`](Self::key) hash.
    pub fn stored(&self, arena: &IdArena, id: &StoredId) -> u64 {
        match arena.text(id) {
            Some(text) => self.text(text),
            None => self.uuid(id),
        }
    }

    fn uuid(&self, bytes: &StoredId) -> u64 {
        self.0.hash_one(u128::from_le_bytes(*bytes))
    }

    fn text(&self, bytes: &[u8]) -> u64 {
        self.0.hash_one(bytes)
    }
}

/// An id as looked up: canonical UUIDs by their 16 bytes, anything else by its text.
#[derive(Debug, Clone, Copy)]
pub enum IdKey<'a> {
    Uuid(StoredId),
    Other(&'a str),
}

impl<'a> IdKey<'a> {
    /// `uuid`: the id's bytes when it is a lowercase UUID; canonical unless they start like an
    /// arena id (see the module comment).
    fn new(id: &'a str, uuid: Option<[u8; 16]>) -> Self {
        match uuid {
            Some(bytes) if bytes[..4] != ARENA_MARK => IdKey::Uuid(bytes),
            _ => IdKey::Other(id),
        }
    }
}

impl<'a> From<&'a str> for IdKey<'a> {
    fn from(id: &'a str) -> Self {
        IdKey::new(id, uuid_bytes(id))
    }
}

impl<'a> From<&'a CustomerId> for IdKey<'a> {
    /// Without parsing: the decoder found the bytes already.
    fn from(id: &'a CustomerId) -> Self {
        IdKey::new(id.as_str(), id.uuid().copied())
    }
}

/// A stored id's text, borrowed from the arena or rendered from a UUID's bytes.
pub enum IdText<'a> {
    Uuid([u8; 36]),
    Other(&'a str),
}

impl IdText<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            // Rendered from hex digits and dashes only: always ASCII.
            IdText::Uuid(text) => std::str::from_utf8(text).unwrap_or_default(),
            IdText::Other(text) => text,
        }
    }
}

impl std::ops::Deref for IdText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Append-only storage of the ids that are not canonical UUIDs, in chunks that never move.
#[derive(Debug, Default)]
pub struct IdArena {
    chunks: Vec<Vec<u8>>,
}

impl IdArena {
    /// Stores `key` and returns its 16 bytes; None past 2^32 chunks (never in practice).
    pub fn store(&mut self, key: IdKey<'_>) -> Option<StoredId> {
        let text = match key {
            IdKey::Uuid(bytes) => return Some(bytes),
            IdKey::Other(text) => text.as_bytes(),
        };
        let fits = self.chunks.last().is_some_and(|c| c.capacity() - c.len() >= text.len());
        if !fits {
            let previous = self.chunks.last().map_or(FIRST_CHUNK / 2, Vec::capacity);
            let capacity = (previous * 2).clamp(FIRST_CHUNK, MAX_CHUNK).max(text.len());
            self.chunks.push(Vec::with_capacity(capacity));
        }
        let chunk_index = u32::try_from(self.chunks.len() - 1).ok()?;
        let chunk = self.chunks.last_mut()?;
        let start = u32::try_from(chunk.len()).ok()?;
        let len = u32::try_from(text.len()).ok()?;
        chunk.extend_from_slice(text);
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&ARENA_MARK);
        out[4..8].copy_from_slice(&chunk_index.to_le_bytes());
        out[8..12].copy_from_slice(&start.to_le_bytes());
        out[12..].copy_from_slice(&len.to_le_bytes());
        Some(out)
    }

    /// The arena bytes of a stored id that points here, else None (a canonical UUID).
    fn text(&self, id: &StoredId) -> Option<&[u8]> {
        if id[..4] != ARENA_MARK {
            return None;
        }
        let word = |at: usize| u32::from_le_bytes([id[at], id[at + 1], id[at + 2], id[at + 3]]) as usize;
        let (chunk, start, len) = (word(4), word(8), word(12));
        self.chunks.get(chunk)?.get(start..start + len)
    }

    /// The text of a stored id.
    pub fn render<'a>(&'a self, id: &StoredId) -> IdText<'a> {
        match self.text(id) {
            // Stored from a `&str` whole, so always valid UTF-8.
            Some(text) => IdText::Other(std::str::from_utf8(text).unwrap_or_default()),
            None => IdText::Uuid(uuid_text(id)),
        }
    }

    /// Whether a stored id is `key`.
    pub fn matches(&self, id: &StoredId, key: &IdKey<'_>) -> bool {
        match key {
            IdKey::Uuid(bytes) => id == bytes,
            IdKey::Other(text) => self.text(id) == Some(text.as_bytes()),
        }
    }

    /// Bytes held (capacity), for the memory budget.
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuids_take_16_bytes_and_render_back_exactly() {
        let mut arena = IdArena::default();
        for id in ["5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50", "00000000-0000-0000-0000-000000000000"] {
            let key = IdKey::from(id);
            assert!(matches!(key, IdKey::Uuid(_)), "{id}");
            let stored = arena.store(key).unwrap();
            assert_eq!(arena.render(&stored).as_str(), id);
            let hasher = IdHasher::random();
            assert_eq!(hasher.stored(&arena, &stored), hasher.key(&key));
            assert!(arena.matches(&stored, &IdKey::from(id)));
            assert!(arena.matches(&stored, &IdKey::from(&CustomerId::from(id))));
        }
        assert_eq!(arena.bytes(), 0);
    }

    #[test]
    fn other_ids_go_to_the_arena_verbatim() {
        let mut arena = IdArena::default();
        let ids = [
            "c-000001",
            "5F0C6A7E-1B2D-4C3E-8F9A-0B1C2D3E4F50",
            "ffffffff-1b2d-4c3e-8f9a-0b1c2d3e4f50",
            "5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f5g",
            "5f0c6a7e_1b2d-4c3e-8f9a-0b1c2d3e4f50",
            "é-ü-ß",
        ];
        let stored: Vec<StoredId> = ids.iter().map(|id| arena.store(IdKey::from(*id)).unwrap()).collect();
        for (id, s) in ids.iter().zip(&stored) {
            assert!(matches!(IdKey::from(*id), IdKey::Other(_)), "{id}");
            assert!(matches!(IdKey::from(&CustomerId::from(*id)), IdKey::Other(_)), "{id}");
            assert_eq!(arena.render(s).as_str(), *id);
            let hasher = IdHasher::random();
            assert_eq!(hasher.stored(&arena, s), hasher.key(&IdKey::from(*id)));
            assert!(arena.matches(s, &IdKey::from(*id)));
        }
        assert!(!arena.matches(&stored[0], &IdKey::from("c-000002")));
        assert!(!arena.matches(&stored[0], &IdKey::from("5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50")));
    }

    #[test]
    fn a_long_id_gets_a_chunk_of_its_own_and_older_ids_stay_put() {
        let mut arena = IdArena::default();
        let first = arena.store(IdKey::Other("a")).unwrap();
        let long = "x".repeat(MAX_CHUNK + 3);
        let stored = arena.store(IdKey::Other(&long)).unwrap();
        let after = arena.store(IdKey::Other("b")).unwrap();
        assert_eq!(arena.render(&stored).len(), long.len());
        assert_eq!(arena.render(&first).as_str(), "a");
        assert_eq!(arena.render(&after).as_str(), "b");
    }
}
