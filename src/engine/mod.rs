//! The engine: the stream clock and everything it drives, per input partition. Replay and the
//! Kafka service run this same code; only the sources and sinks differ.

pub mod clock;
pub mod context;
mod durable;
mod lookahead;
pub mod partition;
pub mod settings;
pub mod view;

use std::sync::Arc;

pub use lookahead::look_ahead;
pub use partition::{BoundaryHook, NoBoundaries, Outcome, Partition};
pub use settings::Settings;
pub use view::{EngineView, FigureSource, LocalFigures, PartitionView};

use crate::config::Config;
use crate::detect::RuleEvaluator;
use crate::event::Millis;
use crate::state::SegmentCatalog;
use crate::telemetry::render_segment_metrics;

/// What all partitions share: settings, the segment catalog, the merged view and the rules.
pub struct Engine {
    pub settings: Arc<Settings>,
    pub catalog: Arc<SegmentCatalog>,
    pub view: EngineView,
}

impl Engine {
    pub fn new(config: &Config) -> Self {
        let settings = Arc::new(Settings::from_config(config));
        let catalog = Arc::new(SegmentCatalog::new(settings.dimensions.clone(), settings.max_values));
        Engine { settings, catalog, view: EngineView::default() }
    }

    /// A fresh partition registered in the merged view.
    pub fn partition(&self, id: i32) -> Partition {
        let view = Arc::new(PartitionView::default());
        self.view.register(id, Arc::clone(&view));
        Partition::new(Arc::clone(&self.settings), Arc::clone(&self.catalog), view)
    }

    pub fn rule_evaluator(&self) -> RuleEvaluator {
        RuleEvaluator::new(Arc::clone(&self.settings), Arc::clone(&self.catalog), self.view.clone())
    }

    /// The segment gauges at clock `at` in Prometheus text format.
    pub fn render_segments(&self, rules: &RuleEvaluator, at: Millis) -> String {
        render_segment_metrics(&self.settings, &self.local_figures(), &rules.states(), at)
    }

    /// This process's partitions as a figure source.
    pub fn local_figures(&self) -> LocalFigures<'_> {
        LocalFigures { catalog: &self.catalog, view: &self.view }
    }
}
