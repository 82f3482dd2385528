//! Detection: customer transitions and segment threshold rules.

pub mod boundaries;
pub mod rules;
pub mod transitions;

pub use rules::RuleEvaluator;
