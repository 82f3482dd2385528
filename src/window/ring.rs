//! A rolling window as a ring of epoch-aligned buckets. Each slot remembers which bucket it holds,
//! so nothing has to tick: a read at clock C simply takes the slots whose bucket lies in
//! `kC - n < k <= kC` (SPEC §2), and a write into a slot holding an older bucket recycles it.
//!
//! The churn-ratio denominator and the retention numerator are counts at the window's start, not
//! sums over the window: they are the running sums of `live_delta` / `kept_delta` over every bucket
//! before the window. Buckets that leave the ring fold their deltas into a base, so the sum stays
//! exact however far the clock has moved.

use super::aggregate::BucketAggregate;
use super::metric::SegmentMetric;
use crate::event::Millis;

#[derive(Debug, Clone)]
pub struct WindowRing {
    bucket_ms: i64,
    /// The bucket index each slot holds (`i64::MIN`: none yet), apart from the aggregates: a
    /// customer's previous activity moves out of a random older bucket, and this dense array
    /// (8 bytes a slot) answers "still held?" from cache, so only a bucket still held is touched
    /// in memory, one cache line of it, and one long gone not at all.
    keys: Box<[i64]>,
    aggs: Box<[BucketAggregate]>,
    /// `live_delta` of every bucket that has been recycled or written too late for its slot: the
    /// count of live customers before the oldest bucket still held.
    live_base: i64,
    /// The same for `kept_delta`.
    kept_base: i64,
    /// One bit per slot written since the last `take_touched`: the cluster publisher sends only
    /// those (`cluster::publisher`).
    touched: Box<[u64]>,
    /// The last bucket written: `(its first ms, bucket index, slot)`. Events come nearly in time
    /// order, so the next write almost always lands in it, and two integer divisions per ring
    /// and update are saved (a pure memo of `bucket_of`, never stale).
    last: Option<(Millis, i64, usize)>,
}

/// Bucket index of a time: floor division, so times before 1970 work too.
pub fn bucket_of(ts: Millis, bucket_ms: i64) -> i64 {
    ts.div_euclid(bucket_ms)
}

impl WindowRing {
    pub fn new(size_ms: i64, bucket_ms: i64) -> Self {
        let n = (size_ms / bucket_ms).max(1) as usize;
        WindowRing {
            bucket_ms,
            keys: vec![i64::MIN; n].into_boxed_slice(),
            aggs: vec![BucketAggregate::default(); n].into_boxed_slice(),
            live_base: 0,
            kept_base: 0,
            touched: vec![0; n.div_ceil(64)].into_boxed_slice(),
            last: None,
        }
    }

    pub fn len(&self) -> i64 {
        self.keys.len() as i64
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Applies `update` to the bucket that holds `ts`.
    pub fn update(&mut self, ts: Millis, update: impl FnOnce(&mut BucketAggregate)) {
        let (k, index) = self.locate(ts);
        self.write(k, index, update);
    }

    /// `moved` on the bucket of `from`, then `update` on the bucket of `ts`: one write when both
    /// fall in the same bucket (a customer active again within a bucket, the usual case), which
    /// is the same as two, since both change the one aggregate in that order.
    pub fn update_moved(
        &mut self,
        from: Millis,
        ts: Millis,
        moved: impl FnOnce(&mut BucketAggregate),
        update: impl FnOnce(&mut BucketAggregate),
    ) {
        let (k, index) = self.locate(ts);
        let same = self.last.is_some_and(|(start, ..)| self.holds(start, from));
        if same {
            self.write(k, index, |a| {
                moved(a);
                update(a);
            });
        } else {
            // `from` is located past the memo, which stays on `ts`: the next event's time.
            let from_k = bucket_of(from, self.bucket_ms);
            self.write(from_k, from_k.rem_euclid(self.len()) as usize, moved);
            self.write(k, index, update);
        }
    }

    /// Whether `ts` lies in the bucket that starts at `start`.
    fn holds(&self, start: Millis, ts: Millis) -> bool {
        ts.checked_sub(start).is_some_and(|d| (0..self.bucket_ms).contains(&d))
    }

    /// The bucket index of `ts` and its slot, through the memo of the last bucket written.
    fn locate(&mut self, ts: Millis) -> (i64, usize) {
        match self.last {
            Some((start, k, index)) if self.holds(start, ts) => (k, index),
            _ => {
                let k = bucket_of(ts, self.bucket_ms);
                let index = k.rem_euclid(self.len()) as usize;
                self.last = k.checked_mul(self.bucket_ms).map(|start| (start, k, index));
                (k, index)
            }
        }
    }

    fn write(&mut self, k: i64, index: usize, update: impl FnOnce(&mut BucketAggregate)) {
        let held = self.keys[index];
        if held > k {
            // That bucket is long gone; only the live count still needs the change.
            let mut scratch = BucketAggregate::default();
            update(&mut scratch);
            self.live_base += scratch.live_delta;
            self.kept_base += scratch.kept_delta;
            return;
        }
        let agg = &mut self.aggs[index];
        if held < k {
            self.live_base += agg.live_delta;
            self.kept_base += agg.kept_delta;
            self.keys[index] = k;
            *agg = BucketAggregate::default();
        }
        update(agg);
        self.touched[index / 64] |= 1 << (index % 64);
    }

    /// Adds changes of the live and kept counts that lie before every bucket this ring can still hold.
    pub fn add_live_base(&mut self, live: i64, kept: i64) {
        self.live_base += live;
        self.kept_base += kept;
    }

    /// The buckets this ring holds, `(bucket index, aggregate)`, in slot order (checkpoints).
    pub(crate) fn held_buckets(&self) -> impl Iterator<Item = (i64, &BucketAggregate)> + '_ {
        self.keys.iter().zip(self.aggs.iter()).filter(|(k, _)| **k != i64::MIN).map(|(k, a)| (*k, a))
    }

    pub(crate) fn live_base(&self) -> i64 {
        self.live_base
    }

    /// Puts back a bucket read from a checkpoint; `false` when its slot already holds another.
    pub(crate) fn restore_bucket(&mut self, k: i64, agg: BucketAggregate) -> bool {
        let n = self.len();
        let index = k.rem_euclid(n) as usize;
        if self.keys[index] != i64::MIN && self.keys[index] != k {
            return false;
        }
        self.keys[index] = k;
        self.aggs[index] = agg;
        true
    }

    /// Calls `f(slot, bucket index, aggregate)` for each slot written since the last call.
    pub(crate) fn take_touched(&mut self, mut f: impl FnMut(usize, i64, &BucketAggregate)) {
        for (word_index, word) in self.touched.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let index = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                f(index, self.keys[index], &self.aggs[index]);
            }
        }
    }

    /// Every held slot as `(slot, bucket index, aggregate)` (a full publish); clears the touched
    /// marks.
    pub(crate) fn take_all(&mut self, mut f: impl FnMut(usize, i64, &BucketAggregate)) {
        self.touched.iter_mut().for_each(|w| *w = 0);
        for (index, (k, agg)) in self.keys.iter().zip(self.aggs.iter()).enumerate() {
            if *k != i64::MIN {
                f(index, *k, agg);
            }
        }
    }

    /// Overwrites a slot with what another instance published for it (`cluster::merged`).
    pub(crate) fn put_slot(&mut self, slot: usize, k: i64, agg: BucketAggregate) {
        if let (Some(key), Some(held)) = (self.keys.get_mut(slot), self.aggs.get_mut(slot)) {
            *key = k;
            *held = agg;
        }
    }

    pub(crate) fn set_live_base(&mut self, live_base: i64) {
        self.live_base = live_base;
    }

    pub(crate) fn kept_base(&self) -> i64 {
        self.kept_base
    }

    pub(crate) fn set_kept_base(&mut self, kept_base: i64) {
        self.kept_base = kept_base;
    }

    /// Merges the buckets inside the window at clock `now` into `into`, and returns the number of
    /// live customers at the window's start (changes strictly before it) and how many of them are
    /// not churned now. With `only`, merges just the fields that metric reads.
    pub fn read_into(&self, now: Millis, into: &mut BucketAggregate, only: Option<SegmentMetric>) -> (i64, i64) {
        let k_now = bucket_of(now, self.bucket_ms);
        let oldest = k_now - self.len();
        let mut live = self.live_base;
        let mut kept = self.kept_base;
        for (k, agg) in self.keys.iter().zip(self.aggs.iter()) {
            if *k > oldest && *k <= k_now {
                match only {
                    Some(metric) => into.merge_for(agg, metric),
                    None => into.merge(agg),
                }
            } else if *k != i64::MIN && *k <= oldest {
                live += agg.live_delta;
                kept += agg.kept_delta;
            }
        }
        (live, kept)
    }

    /// Read-only, for per-bucket series (the status page): adds each bucket of the window at `now`
    /// into `into[i]`, oldest first (`into` holds `len()` entries), and returns the live count at
    /// the window's start exactly as `read_into` does.
    pub fn buckets_into(&self, now: Millis, into: &mut [BucketAggregate]) -> i64 {
        let k_now = bucket_of(now, self.bucket_ms);
        let oldest = k_now - self.len();
        let mut live = self.live_base;
        for (k, agg) in self.keys.iter().zip(self.aggs.iter()) {
            if *k > oldest && *k <= k_now {
                if let Some(slot) = into.get_mut((*k - oldest - 1) as usize) {
                    slot.merge(agg);
                }
            } else if *k != i64::MIN && *k <= oldest {
                live += agg.live_delta;
            }
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `update_moved` leaves every slot and base as `update(from)` then `update(ts)` does: in one
    /// bucket, in two, in one slot reused by a later bucket, and for a bucket long gone.
    #[test]
    fn update_moved_equals_two_updates() {
        let (size, bucket) = (4_000, 1_000);
        let moved = |a: &mut BucketAggregate| {
            a.active -= 1;
            a.live_delta -= 1;
        };
        let update = |a: &mut BucketAggregate| {
            a.active += 1;
            a.live_delta += 2;
        };
        for (from, ts) in [(1_100, 1_900), (1_100, 2_100), (1_100, 5_100), (-7_000, 9_000), (900, 1_000), (-1, 0)] {
            for warm in [None, Some(from), Some(ts), Some(20_000)] {
                let mut one = WindowRing::new(size, bucket);
                if let Some(at) = warm {
                    one.update(at, |a| a.sessions.add(1.0, 1));
                }
                let mut two = one.clone();
                one.update_moved(from, ts, moved, update);
                two.update(from, moved);
                two.update(ts, update);
                assert_eq!((&one.keys, &one.aggs), (&two.keys, &two.aggs), "from {from} ts {ts} warm {warm:?}");
                assert_eq!((one.live_base, one.kept_base), (two.live_base, two.kept_base));
                assert_eq!(one.touched, two.touched);
            }
        }
    }
}
