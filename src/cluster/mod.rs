//! The partials exchange: how instances of one consumer group give every instance the exact
//! figures of the whole group (SPEC §4 "Several instances", `scope="cluster"`).
//!
//! # Mechanism
//! Segment figures are partials per input partition that merge exactly (counts, sums, score
//! histograms, and the ring bases of the churn and retention denominators). Each partition task
//! publishes its partition's partials to one compacted topic (`cluster.partials_topic`), and
//! every instance reads the whole topic and merges the latest partials of all partitions.
//!
//! - **Changes, not rings** (`publisher`): a ring slot is one record keyed by (partition, segment,
//!   window, slot), so a publish sends only the slots written since the previous one plus the
//!   heads of the segments touched, and compaction keeps the latest version of every slot.
//! - **Whole publishes** (`merged`): records are staged per partition until the marker that ends
//!   the publish, so a reader never merges half of one.
//! - **Fencing by epoch** (`merged`, `reader`): an owner publishes under an epoch above every
//!   earlier owner's. With checkpoints in a changelog topic (the default) the epoch comes from the
//!   fence the owner wrote into its changelog partition before restoring (`checkpoint::ownership`):
//!   fences are appended in the order owners take over, so epochs follow that order exactly,
//!   whatever any instance's reader had seen. Without a changelog, it is one above every epoch the
//!   topic holds for the partition once the reader has caught up; the window of risk there is two
//!   owners starting at once (seen with a paused instance that rejoined while the new owner
//!   started). A higher epoch starts the partition over (the new owner's first publish is full); a
//!   lower one is dropped. So a paused instance that wakes after its partition moved (a zombie)
//!   cannot overwrite the new owner's partials: its epoch is lower.
//! - **Rule boundaries** (`detect::boundaries`): with its partials a partition publishes the
//!   snapshot of its rule windows at every boundary it reached since, and its markers vouch for
//!   how far its snapshots have all reached the topic: only as far as its publishes are known
//!   delivered in order (`publisher`), since a publish can be lost while a later one lands. The
//!   owner of partition 0 judges a boundary once every input partition has vouched past it
//!   (`ClusterPartials::with_boundaries`), and its markers say how far a checkpoint holds the
//!   rule state, up to where every reader may drop snapshots.
//! - **Staleness** (`merged::ClusterPartials::ages`): an owner publishes a marker every tick even
//!   when nothing changed; partials whose marker is older than `cluster.stale_after` are left out
//!   of the merge and reported by `cxpulse_partials_age_seconds{partition}` and `/readyz`.
//!
//! - **Same segments everywhere** (`claims`): merging by segment name needs every instance to map
//!   a value to the same segment under `segments.max_values`; admission follows the order of
//!   claims in a second one-partition topic (`cluster.claims_topic`).
//!
//! Merged figures reflect an event after one publish tick (1 s) plus the produce and fetch round
//! trip.

pub mod claims;
pub mod exchange;
pub mod merged;
pub mod publisher;
pub mod reader;
pub mod record;

pub use claims::Claims;
pub use exchange::Exchange;
pub use merged::{ClusterPartials, MergedFigures, PartialsAge};
pub use publisher::PartialsPublisher;
pub use record::{Record, SegmentName};
