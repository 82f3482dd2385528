//! A hint to the CPU that a cache line will be read soon, so that a cache miss overlaps other
//! work instead of stalling it ([`look_ahead`](crate::engine::look_ahead) says where and why). A
//! hint changes no state and no result: it only moves a line into the cache.

/// Asks for the cache line holding `p`. Never faults, whatever `p` is.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing architecturally and never faults, whatever the address
    // (Intel SDM, PREFETCHh); SSE, which it needs, is part of every x86_64 CPU.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
