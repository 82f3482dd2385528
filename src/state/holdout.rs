//! Holdout assignment (SPEC §5): reproducible in SQL by analysts.

/// FNV-1a 64-bit over bytes.
pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// `fnv1a64(salt + ":" + customer_id) % 10000 < holdout_percent × 100`.
pub fn is_holdout(salt: &str, customer_id: &str, holdout_percent: f64) -> bool {
    let hash = fnv1a64(salt.bytes().chain(std::iter::once(b':')).chain(customer_id.bytes()));
    ((hash % 10_000) as f64) < holdout_percent * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a64(*b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(*b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(*b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn holdout_share_is_close_to_the_percentage() {
        let n = (0..20_000).filter(|i| is_holdout("cxpulse", &format!("c-{i:06}"), 10.0)).count();
        assert!((1_700..2_300).contains(&n), "{n}");
        assert!(!(0..1000).any(|i| is_holdout("cxpulse", &format!("c-{i}"), 0.0)));
        assert!((0..1000).all(|i| is_holdout("cxpulse", &format!("c-{i}"), 100.0)));
    }
}
