//! What a customer (or an agent on its ticket) will do, and when: the entries of a customer's
//! time-ordered queue of pending events.

use std::cmp::Ordering;

use super::profile::SurveyKind;

/// Something a customer (or an agent on its ticket) will do at a planned time.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum What {
    Login,
    PageView,
    FeatureUsed,
    Session(f64),
    Purchase(f64),
    SupportOpened(u64),
    SupportFirstResponse(u64),
    SupportResolved(u64),
    Cancellation,
    Survey(SurveyKind, u8),
    /// A line rendered earlier (duplicate) or a malformed line, emitted as is.
    Raw(String),
}

impl What {
    pub(super) fn kind(&self) -> Option<&'static str> {
        Some(match self {
            What::Login => "login",
            What::PageView => "page_view",
            What::FeatureUsed => "feature_used",
            What::Session(_) => "session",
            What::Purchase(_) => "purchase",
            What::SupportOpened(_) => "support_opened",
            What::SupportFirstResponse(_) => "support_first_response",
            What::SupportResolved(_) => "support_resolved",
            What::Cancellation => "cancellation",
            What::Survey(..) | What::Raw(_) => return None,
        })
    }

    pub(super) fn ticket(&self) -> Option<u64> {
        match self {
            What::SupportOpened(n) | What::SupportFirstResponse(n) | What::SupportResolved(n) => Some(*n),
            _ => None,
        }
    }

    /// The number carried by a session (seconds) or purchase (amount).
    pub(super) fn amount(&self) -> f64 {
        match self {
            What::Session(x) | What::Purchase(x) => *x,
            _ => 0.0,
        }
    }
}

/// A planned event; ordered by `(ts, seq)` so a customer's events keep their planning order on ties.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) ts: i64,
    pub(super) seq: u64,
    pub(super) what: What,
}

impl PartialEq for Planned {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}

impl Eq for Planned {}

impl PartialOrd for Planned {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Planned {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}
