//! The catalog of windowed segment metrics (SPEC §4), shared by the exporter and the rules.

use crate::event::{InteractionKind, Survey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentMetric {
    SurveyResponses,
    NpsScore,
    CsatRatio,
    CesAverage,
    Interactions,
    ActiveCustomers,
    Revenue,
    AverageOrderValue,
    SessionSecondsAverage,
    ResolutionSecondsAverage,
    FirstResponseSecondsAverage,
    ChurnedCustomers,
    ChurnRatio,
    ReengagementMessages,
    ReactivationRatio,
    ReengagementLift,
    RetentionRatio,
    RevenuePerCustomer,
    PurchasesPerCustomer,
    CustomerLifetimeValue,
}

pub const GROUP_LABELS: [&str; 2] = ["treatment", "holdout"];

impl SegmentMetric {
    pub const ALL: [SegmentMetric; 20] = [
        SegmentMetric::SurveyResponses,
        SegmentMetric::NpsScore,
        SegmentMetric::CsatRatio,
        SegmentMetric::CesAverage,
        SegmentMetric::Interactions,
        SegmentMetric::ActiveCustomers,
        SegmentMetric::Revenue,
        SegmentMetric::AverageOrderValue,
        SegmentMetric::SessionSecondsAverage,
        SegmentMetric::ResolutionSecondsAverage,
        SegmentMetric::FirstResponseSecondsAverage,
        SegmentMetric::ChurnedCustomers,
        SegmentMetric::ChurnRatio,
        SegmentMetric::ReengagementMessages,
        SegmentMetric::ReactivationRatio,
        SegmentMetric::ReengagementLift,
        SegmentMetric::RetentionRatio,
        SegmentMetric::RevenuePerCustomer,
        SegmentMetric::PurchasesPerCustomer,
        SegmentMetric::CustomerLifetimeValue,
    ];

    /// Name without the `cxpulse_` prefix, as rules write it.
    pub fn name(self) -> &'static str {
        match self {
            SegmentMetric::SurveyResponses => "survey_responses",
            SegmentMetric::NpsScore => "nps_score",
            SegmentMetric::CsatRatio => "csat_ratio",
            SegmentMetric::CesAverage => "ces_average",
            SegmentMetric::Interactions => "interactions",
            SegmentMetric::ActiveCustomers => "active_customers",
            SegmentMetric::Revenue => "revenue",
            SegmentMetric::AverageOrderValue => "average_order_value",
            SegmentMetric::SessionSecondsAverage => "session_seconds_average",
            SegmentMetric::ResolutionSecondsAverage => "resolution_seconds_average",
            SegmentMetric::FirstResponseSecondsAverage => "first_response_seconds_average",
            SegmentMetric::ChurnedCustomers => "churned_customers",
            SegmentMetric::ChurnRatio => "churn_ratio",
            SegmentMetric::ReengagementMessages => "reengagement_messages",
            SegmentMetric::ReactivationRatio => "reactivation_ratio",
            SegmentMetric::ReengagementLift => "reengagement_lift",
            SegmentMetric::RetentionRatio => "retention_ratio",
            SegmentMetric::RevenuePerCustomer => "revenue_per_customer",
            SegmentMetric::PurchasesPerCustomer => "purchases_per_customer",
            SegmentMetric::CustomerLifetimeValue => "customer_lifetime_value",
        }
    }

    pub fn from_name(name: &str) -> Option<SegmentMetric> {
        let name = name.strip_prefix("cxpulse_").unwrap_or(name);
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn help(self) -> &'static str {
        match self {
            SegmentMetric::SurveyResponses => "Survey responses of each type in the window.",
            SegmentMetric::NpsScore => "Net promoter score: 100 x (promoters - detractors) / NPS responses.",
            SegmentMetric::CsatRatio => "Share of CSAT responses scoring 4 or 5.",
            SegmentMetric::CesAverage => "Mean customer effort score (1-7).",
            SegmentMetric::Interactions => "Interaction events of each kind in the window.",
            SegmentMetric::ActiveCustomers => "Customers of the segment whose last activity lies in the window.",
            SegmentMetric::Revenue => "Sum of purchase amounts.",
            SegmentMetric::AverageOrderValue => "Revenue / purchases.",
            SegmentMetric::SessionSecondsAverage => "Mean session duration in seconds.",
            SegmentMetric::ResolutionSecondsAverage => {
                "Mean seconds from ticket opening to resolution, tickets resolved in the window."
            }
            SegmentMetric::FirstResponseSecondsAverage => {
                "Mean seconds from ticket opening to first response, first responses in the window."
            }
            SegmentMetric::ChurnedCustomers => "Churn transitions in the window.",
            SegmentMetric::ChurnRatio => {
                "Churn transitions / customers of the segment seen and not churned at the window's start."
            }
            SegmentMetric::ReengagementMessages => "Re-engagement messages sent in the window.",
            SegmentMetric::ReactivationRatio => {
                "Of the inactive transitions in the window, the share a reactivation has followed since."
            }
            SegmentMetric::ReengagementLift => "Reactivation ratio of treatment minus that of holdout.",
            SegmentMetric::RetentionRatio => {
                "Of the customers seen and not churned at the window's start, the share not churned now."
            }
            SegmentMetric::RevenuePerCustomer => "Revenue / active customers.",
            SegmentMetric::PurchasesPerCustomer => "Purchases / active customers.",
            SegmentMetric::CustomerLifetimeValue => "Revenue per customer / churn ratio (ARPU / churn).",
        }
    }

    /// Whether SPEC §5 defines a confidence interval for the metric (rules may set `confidence`).
    pub fn has_interval(self) -> bool {
        use SegmentMetric::*;
        matches!(
            self,
            CsatRatio
                | ChurnRatio
                | RetentionRatio
                | ReactivationRatio
                | NpsScore
                | CesAverage
                | SessionSecondsAverage
                | ResolutionSecondsAverage
                | FirstResponseSecondsAverage
                | AverageOrderValue
                | ReengagementLift
        )
    }

    /// The extra label some metrics carry, and its values.
    pub fn label_name(self) -> Option<&'static str> {
        match self {
            SegmentMetric::SurveyResponses => Some("survey"),
            SegmentMetric::Interactions => Some("kind"),
            SegmentMetric::ReactivationRatio => Some("group"),
            _ => None,
        }
    }

    pub fn label_values(self) -> Vec<&'static str> {
        match self {
            SegmentMetric::SurveyResponses => Survey::ALL.iter().map(|s| s.label()).collect(),
            SegmentMetric::Interactions => InteractionKind::ALL.iter().map(|k| k.label()).collect(),
            SegmentMetric::ReactivationRatio => GROUP_LABELS.to_vec(),
            _ => Vec::new(),
        }
    }
}
