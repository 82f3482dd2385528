//! Sizes of the per-customer structures as compiled, and what a store of `N` customers with
//! 36-character UUID ids holds (for bench/RESULTS.md's memory budget).
//! `cargo run --release --example state_sizes [N]` (default 1000000)

use std::mem::size_of;

use cxpulse::state::customer_id::StoredId;
use cxpulse::state::{Customer, CustomerIndex, CustomerStore};

fn uuid(i: u64) -> String {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = format!("{x:016x}{:016x}", x.rotate_left(17) ^ i);
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    println!("Customer:                           {} bytes", size_of::<Customer>());
    println!("stored id (a UUID as its 16 bytes): {} bytes", size_of::<StoredId>());
    println!("table slot (index + control byte):  {} bytes, at 7/16 to 7/8 load", size_of::<CustomerIndex>() + 1);
    println!("inactivity index entry:             {} bytes (a customer index)", size_of::<CustomerIndex>());
    let mut store = CustomerStore::default();
    for i in 0..n {
        store.insert_new(uuid(i).as_str(), Customer::new(0, 2, false));
    }
    println!(
        "store of {n} UUID customers: {:.1} bytes per customer (capacity of records, table, id arena)",
        store.bytes() as f64 / n.max(1) as f64
    );
}
