//! Deterministic ids: the same transition gets the same id in replay, live, after a restart or a
//! redelivery, so consumers can drop repeats.

use sha2::{Digest, Sha256};

/// 32 hex characters of SHA-256 over the parts, separated by a unit separator.
pub fn deterministic_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_separated() {
        assert_eq!(deterministic_id(&["a", "b"]), deterministic_id(&["a", "b"]));
        assert_ne!(deterministic_id(&["ab", ""]), deterministic_id(&["a", "b"]));
        assert_eq!(deterministic_id(&["x"]).len(), 32);
    }
}
