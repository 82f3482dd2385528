//! Detection: customer transitions and segment threshold rules.

pub mod rules;
pub mod transitions;

pub use rules::RuleEvaluator;
