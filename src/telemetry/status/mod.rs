//! The live status page (`GET /`) and the JSON API it reads (`/api/v1/`), served by the same HTTP
//! server as `/metrics`; and the static report of `cxpulse replay --report`.
//!
//! ```text
//! StatusSource (engine view, rule states, service metrics, readiness, wall clock)
//!    ▼
//! series.rs   a window's buckets, merged over partitions, grouped into points
//! api.rs      the JSON documents: segments overview, one segment, recent alerts, health
//!    ├─ routes.rs  /api/v1/... and / over HTTP (computed on the blocking pool)
//!    └─ report.rs  the same documents embedded in one static HTML file
//! page.rs     the page: assets/ (HTML, CSS, JS) embedded in the binary; no CDN, no fonts
//! recent.rs   a bounded buffer of segment alerts, and counts of customer transitions
//! ```
//!
//! **Privacy.** The API holds no customer id: figures are per segment, and customer transitions
//! and messages reach [`RecentAlerts`] only as counts. The one exception is
//! `status.customer_rows = true`, an explicit operator choice, which makes the buffer keep recent
//! customer-level rows. Nothing else in this module reads customer state.

pub mod api;
pub mod page;
pub mod recent;
pub mod report;
pub mod routes;
pub mod series;

pub use recent::RecentAlerts;
pub use routes::routes;

use crate::detect::rules::RuleState;
use crate::engine::Engine;
use crate::event::Millis;
use crate::telemetry::Metrics;

/// What the page and the API read. The service implements it over its live parts; replay over
/// its final state.
pub trait StatusSource: Send + Sync {
    fn engine(&self) -> &Engine;
    /// Firing state of every (rule, segment) evaluated with data so far.
    fn rule_states(&self) -> Vec<RuleState>;
    fn metrics(&self) -> &Metrics;
    /// `Ok` when ready, else the reason (as `/readyz`).
    fn readiness(&self) -> Result<(), String>;
    /// Wall clock, milliseconds since the epoch (injected in the service).
    fn wall_ms(&self) -> Millis;
    /// How often the page refreshes (`status.refresh`).
    fn refresh_ms(&self) -> u64;
    /// `live` (the service) or `report` (a replay's static file).
    fn mode(&self) -> &'static str;
}
