//! Turning a planned event into its JSON line: the timestamp form, the segments, the event and
//! ticket ids, and the duplicate and malformed echoes a sloppy producer adds.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rand::Rng;
use serde::Serialize;

use super::customer::Customer;
use super::planned::What;
use super::profile::{SurveyKind, DUPLICATE_P, MALFORMED_P, SEGMENTS_P, TS_EPOCH_P, TS_UTC_P};

/// `ts` as written in the JSON: RFC 3339 text or integer epoch milliseconds.
#[derive(Serialize)]
#[serde(untagged)]
enum TsField {
    Text(String),
    Millis(i64),
}

#[derive(Serialize)]
struct SegmentsField {
    plan: &'static str,
    region: &'static str,
}

/// The wire shape of an event (SPEC §1); `None` fields are left out.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind_of: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    ts: TsField,
    event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<SegmentsField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    survey: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u8>,
}

impl Line<'_> {
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event line has only string keys")
    }
}

impl Customer {
    /// Renders a planned event as its JSON line, and plans a duplicate or malformed echo of it.
    pub(super) fn render(&mut self, ts: i64, what: &What) -> String {
        if let Some((at, plan)) = self.plan_change {
            if ts >= at {
                self.plan = plan;
                self.plan_change = None;
                self.force_segments = true;
            }
        }
        let with_segments = !self.segments_sent || self.force_segments || self.rng.gen_bool(SEGMENTS_P);
        self.segments_sent = true;
        self.force_segments = false;
        let ts_field = self.ts_field(ts);
        let event_id = self.next_event_id();
        let json = self.line(ts_field, event_id, what, with_segments).to_json();
        if self.rng.gen_bool(DUPLICATE_P) {
            self.push(ts, What::Raw(json.clone()));
        }
        if self.rng.gen_bool(MALFORMED_P) {
            let bad = self.malformed(ts, &json);
            self.push(ts, What::Raw(bad));
        }
        json
    }

    fn next_event_id(&mut self) -> String {
        self.events += 1;
        format!("e-{}-{}", &self.id[2..], self.events)
    }

    /// Producers disagree on timestamps: epoch ms, UTC `Z`, or the region's own offset.
    fn ts_field(&mut self, ts: i64) -> TsField {
        let u: f64 = self.rng.gen();
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(ts) else {
            return TsField::Millis(ts);
        };
        if u < TS_EPOCH_P {
            TsField::Millis(ts)
        } else if u < TS_UTC_P {
            TsField::Text(utc.to_rfc3339_opts(SecondsFormat::Millis, true))
        } else {
            let offset = FixedOffset::east_opt(self.region.offset_secs()).expect("valid offset");
            TsField::Text(utc.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Millis, false))
        }
    }

    fn line(&self, ts: TsField, event_id: String, what: &What, segments: bool) -> Line<'_> {
        let (kind_of, survey, score) = match what {
            What::Survey(survey, score) => ("survey", Some(survey.name()), Some(*score)),
            _ => ("interaction", None, None),
        };
        Line {
            kind_of,
            customer_id: Some(&self.id),
            ts,
            event_id,
            segments: segments.then(|| SegmentsField { plan: self.plan.name(), region: self.region.name() }),
            kind: what.kind(),
            duration_seconds: matches!(what, What::Session(_)).then(|| what.amount()),
            amount: matches!(what, What::Purchase(_)).then(|| what.amount()),
            ticket_id: what.ticket().map(|n| format!("t-{}-{}", &self.id[2..], n)),
            survey,
            score,
        }
    }

    /// A line the service must dead-letter: broken JSON, missing `customer_id`, negative amount,
    /// NPS 11 or an unknown `type`, in equal shares.
    fn malformed(&mut self, ts: i64, json: &str) -> String {
        let choice = self.rng.gen_range(0..5);
        if choice == 0 {
            let mut cut = json.len() / 2;
            while !json.is_char_boundary(cut) {
                cut -= 1;
            }
            return json[..cut].to_string();
        }
        let ts_field = self.ts_field(ts);
        let event_id = self.next_event_id();
        let what = match choice {
            2 => What::Purchase(-12.5),
            3 => What::Survey(SurveyKind::Nps, 11),
            _ => What::PageView,
        };
        let mut line = self.line(ts_field, event_id, &what, false);
        match choice {
            1 => line.customer_id = None,
            4 => line.kind_of = "clickstream",
            _ => {}
        }
        line.to_json()
    }
}
