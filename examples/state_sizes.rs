//! Sizes of the per-customer structures as compiled (for bench/RESULTS.md's memory budget).
//! `cargo run --release --example state_sizes`

use std::mem::size_of;

use compact_str::CompactString;
use cxpulse::state::Customer;

fn main() {
    let id = CompactString::from("5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50");
    println!("Customer:                         {} bytes", size_of::<Customer>());
    println!("CompactString (inline part):      {} bytes", size_of::<CompactString>());
    println!("(CompactString, Customer) entry:  {} bytes", size_of::<(CompactString, Customer)>());
    println!(
        "36-byte UUID id on the heap:      {} bytes (capacity {}, is_heap_allocated {})",
        id.capacity(),
        id.capacity(),
        id.is_heap_allocated()
    );
    println!("inactivity index entry:           {} bytes + the heap copy of the id", size_of::<CompactString>());
    println!(
        "dedup entry (map + order queue):  {} + {} bytes + two heap copies of the event id when over 24 bytes",
        size_of::<(CompactString, i64)>(),
        size_of::<(i64, CompactString)>()
    );
}
