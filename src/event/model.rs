//! The validated event: what the engine consumes once decoding succeeded.

use compact_str::CompactString;

use super::customer_id::CustomerId;

/// Milliseconds since the Unix epoch (UTC). Every time in the engine is one of these.
pub type Millis = i64;

/// A decoded, validated event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub customer_id: CustomerId,
    pub ts: Millis,
    pub event_id: Option<CompactString>,
    /// Segment values for the *configured* dimensions only, in the order they appeared.
    pub segments: Vec<(CompactString, CompactString)>,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Interaction(Interaction),
    Survey(SurveyResponse),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Interaction {
    Login,
    PageView,
    Session {
        duration_seconds: f64,
    },
    Purchase {
        amount: f64,
    },
    SupportOpened {
        ticket_id: CompactString,
    },
    SupportFirstResponse {
        ticket_id: CompactString,
    },
    SupportResolved {
        ticket_id: CompactString,
    },
    Cancellation,
    /// Any kind this version does not know; counted as kind `other`.
    Other,
}

/// The interaction kinds as exported in `cxpulse_interactions{kind}`, in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InteractionKind {
    Login,
    PageView,
    Session,
    Purchase,
    SupportOpened,
    SupportFirstResponse,
    SupportResolved,
    Cancellation,
    Other,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 9] = [
        InteractionKind::Login,
        InteractionKind::PageView,
        InteractionKind::Session,
        InteractionKind::Purchase,
        InteractionKind::SupportOpened,
        InteractionKind::SupportFirstResponse,
        InteractionKind::SupportResolved,
        InteractionKind::Cancellation,
        InteractionKind::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            InteractionKind::Login => "login",
            InteractionKind::PageView => "page_view",
            InteractionKind::Session => "session",
            InteractionKind::Purchase => "purchase",
            InteractionKind::SupportOpened => "support_opened",
            InteractionKind::SupportFirstResponse => "support_first_response",
            InteractionKind::SupportResolved => "support_resolved",
            InteractionKind::Cancellation => "cancellation",
            InteractionKind::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl Interaction {
    pub fn kind(&self) -> InteractionKind {
        match self {
            Interaction::Login => InteractionKind::Login,
            Interaction::PageView => InteractionKind::PageView,
            Interaction::Session { .. } => InteractionKind::Session,
            Interaction::Purchase { .. } => InteractionKind::Purchase,
            Interaction::SupportOpened { .. } => InteractionKind::SupportOpened,
            Interaction::SupportFirstResponse { .. } => InteractionKind::SupportFirstResponse,
            Interaction::SupportResolved { .. } => InteractionKind::SupportResolved,
            Interaction::Cancellation => InteractionKind::Cancellation,
            Interaction::Other => InteractionKind::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Survey {
    Nps,
    Csat,
    Ces,
}

impl Survey {
    pub const ALL: [Survey; 3] = [Survey::Nps, Survey::Csat, Survey::Ces];

    pub fn label(self) -> &'static str {
        match self {
            Survey::Nps => "nps",
            Survey::Csat => "csat",
            Survey::Ces => "ces",
        }
    }

    /// Inclusive score scale of the survey.
    pub fn scale(self) -> (i64, i64) {
        match self {
            Survey::Nps => (0, 10),
            Survey::Csat => (1, 5),
            Survey::Ces => (1, 7),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurveyResponse {
    pub survey: Survey,
    /// Within the survey's scale (checked by the decoder).
    pub score: u8,
}

impl Event {
    /// Whether the event is customer activity (SPEC §1): it refreshes `last_activity` and
    /// reactivates an inactive or churned customer.
    pub fn is_activity(&self) -> bool {
        match &self.payload {
            Payload::Survey(_) => true,
            Payload::Interaction(i) => !matches!(
                i,
                Interaction::SupportFirstResponse { .. }
                    | Interaction::SupportResolved { .. }
                    | Interaction::Cancellation
            ),
        }
    }
}
