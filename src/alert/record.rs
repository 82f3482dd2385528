//! Alert and message records (SPEC §5) and their JSON form.

use serde_json::{Map, Value};

use super::id::deterministic_id;
use crate::event::time::format_rfc3339;
use crate::event::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    CustomerInactive,
    CustomerChurned,
    CustomerReactivated,
    SegmentThreshold,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::CustomerInactive,
        AlertKind::CustomerChurned,
        AlertKind::CustomerReactivated,
        AlertKind::SegmentThreshold,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AlertKind::CustomerInactive => "customer_inactive",
            AlertKind::CustomerChurned => "customer_churned",
            AlertKind::CustomerReactivated => "customer_reactivated",
            AlertKind::SegmentThreshold => "segment_threshold",
        }
    }
}

/// An alert: `alert_id`, `kind`, `at`, then the kind's own fields in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub alert_id: String,
    pub kind: AlertKind,
    pub at: Millis,
    /// Kafka record key: the customer id, or `dimension/segment` for segment alerts.
    pub key: String,
    pub fields: Map<String, Value>,
}

impl Alert {
    /// Builds an alert whose id derives from the kind, the key, the time and `id_parts`.
    pub fn new(kind: AlertKind, at: Millis, key: String, id_parts: &[&str], fields: Map<String, Value>) -> Self {
        let at_ms = at.to_string();
        let mut parts = vec![kind.label(), key.as_str(), at_ms.as_str()];
        parts.extend_from_slice(id_parts);
        Alert { alert_id: deterministic_id(&parts), kind, at, key, fields }
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("alert_id".into(), Value::String(self.alert_id.clone()));
        m.insert("kind".into(), Value::String(self.kind.label().into()));
        m.insert("at".into(), Value::String(format_rfc3339(self.at)));
        m.extend(self.fields.clone());
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReengagementMessage {
    pub message_id: String,
    pub customer_id: String,
    pub segments: Map<String, Value>,
    pub template: String,
    pub incentive: String,
    pub at: Millis,
    pub expires_at: Millis,
}

impl ReengagementMessage {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("message_id".into(), Value::String(self.message_id.clone()));
        m.insert("customer_id".into(), Value::String(self.customer_id.clone()));
        m.insert("segments".into(), Value::Object(self.segments.clone()));
        m.insert("template".into(), Value::String(self.template.clone()));
        m.insert("incentive".into(), Value::String(self.incentive.clone()));
        m.insert("at".into(), Value::String(format_rfc3339(self.at)));
        m.insert("expires_at".into(), Value::String(format_rfc3339(self.expires_at)));
        Value::Object(m)
    }
}

/// Everything the engine asks the sinks to publish, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Alert(Alert),
    Message(ReengagementMessage),
}
