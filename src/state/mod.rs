//! Per-customer state and the bookkeeping beside it: segment ids, de-duplication, open tickets and
//! the inactivity index.

pub mod catalog;
pub mod customer;
pub mod customer_id;
pub mod customer_store;
pub mod dedup;
pub mod holdout;
pub mod id_table;
pub mod inactivity_index;
pub mod prefetch;
pub mod tickets;

pub use catalog::{SegmentCatalog, SegmentId, SegmentName};
pub use customer::{Customer, CustomerState};
pub use customer_store::{CustomerIndex, CustomerStore};
pub use dedup::Deduplicator;
pub use inactivity_index::InactivityIndex;
pub use tickets::TicketBook;
