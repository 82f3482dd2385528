//! The dead-letter record of a refused message (SPEC §1, "Invalid input"): one JSON line in replay,
//! or, on Kafka, the original key and value with everything else in headers.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Serialize;

use super::rejection::{Reason, Rejection};

/// Where the refused message came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SourcePosition {
    Kafka {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// `line` counts from 1.
    File {
        file: String,
        line: u64,
    },
}

/// A refused message, ready for the dead-letter output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub reason: Reason,
    /// Short human message; never quotes the payload.
    pub detail: String,
    pub source: SourcePosition,
    /// The original message bytes.
    pub payload: Vec<u8>,
}

/// The JSON shape of a dead-letter line, fields in this order.
#[derive(Serialize)]
struct Line<'a> {
    reason: &'static str,
    detail: &'a str,
    source: &'a SourcePosition,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_base64: Option<String>,
}

impl DeadLetter {
    pub fn new(rejection: Rejection, source: SourcePosition, payload: impl Into<Vec<u8>>) -> Self {
        DeadLetter { reason: rejection.reason, detail: rejection.detail, source, payload: payload.into() }
    }

    /// One JSON object, no trailing newline: `reason`, `detail`, `source`, then `payload` when the
    /// bytes are valid UTF-8, else `payload_base64` (standard alphabet, padded).
    pub fn to_json_line(&self) -> String {
        let text = std::str::from_utf8(&self.payload).ok();
        let line = Line {
            reason: self.reason.code(),
            detail: &self.detail,
            source: &self.source,
            payload: text,
            payload_base64: match text {
                Some(_) => None,
                None => Some(BASE64.encode(&self.payload)),
            },
        };
        match serde_json::to_string(&line) {
            Ok(json) => json,
            // Unreachable: every field is a string or an integer. Still a valid line, never a panic.
            Err(_) => format!(r#"{{"reason":"{}"}}"#, self.reason.code()),
        }
    }

    /// The Kafka record headers; the record's key and value are the original ones.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(5);
        headers.push(("cxpulse.reason", self.reason.code().to_string()));
        headers.push(("cxpulse.detail", self.detail.clone()));
        match &self.source {
            SourcePosition::Kafka { topic, partition, offset } => {
                headers.push(("cxpulse.source.topic", topic.clone()));
                headers.push(("cxpulse.source.partition", partition.to_string()));
                headers.push(("cxpulse.source.offset", offset.to_string()));
            }
            SourcePosition::File { file, line } => {
                headers.push(("cxpulse.source.file", file.clone()));
                headers.push(("cxpulse.source.line", line.to_string()));
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn kafka() -> SourcePosition {
        SourcePosition::Kafka { topic: "cx.interactions".into(), partition: 3, offset: 42 }
    }

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn utf8_payload_is_a_string() {
        let dl = DeadLetter::new(
            Rejection::new(Reason::MissingField, "missing required field `ts`"),
            kafka(),
            br#"{"type":"survey","note":"caf\u00e9 "}"#.to_vec(),
        );
        let line = dl.to_json_line();
        assert_eq!(
            parse(&line),
            json!({
                "reason": "missing_field",
                "detail": "missing required field `ts`",
                "source": {"topic": "cx.interactions", "partition": 3, "offset": 42},
                "payload": r#"{"type":"survey","note":"caf\u00e9 "}"#,
            })
        );
        assert!(line.starts_with(r#"{"reason":"missing_field","detail":"#), "{line}");
        assert!(!line.ends_with('\n'));
    }

    #[test]
    fn multiline_payload_stays_on_one_line() {
        let dl = DeadLetter::new(
            Rejection::new(Reason::MalformedJson, "payload is not valid json"),
            kafka(),
            "{\n\"a\":\r\n\u{2028}".as_bytes(),
        );
        let line = dl.to_json_line();
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert_eq!(parse(&line)["payload"], "{\n\"a\":\r\n\u{2028}");
    }

    #[test]
    fn non_utf8_payload_is_base64() {
        let payload = vec![b'{', 0xff, 0xfe, b'}'];
        let dl = DeadLetter::new(
            Rejection::new(Reason::NotUtf8, "payload is not valid utf-8 (at byte 1)"),
            SourcePosition::File { file: "events.jsonl".into(), line: 7 },
            payload.clone(),
        );
        let value = parse(&dl.to_json_line());
        assert_eq!(
            value,
            json!({
                "reason": "not_utf8",
                "detail": "payload is not valid utf-8 (at byte 1)",
                "source": {"file": "events.jsonl", "line": 7},
                "payload_base64": "e//+fQ==",
            })
        );
        assert!(value.get("payload").is_none());
        assert_eq!(BASE64.decode(value["payload_base64"].as_str().unwrap()).unwrap(), payload);
    }

    #[test]
    fn empty_payload_is_an_empty_string() {
        let dl = DeadLetter::new(Rejection::new(Reason::MalformedJson, "x"), kafka(), Vec::new());
        assert_eq!(parse(&dl.to_json_line())["payload"], "");
    }

    #[test]
    fn every_reason_code_round_trips() {
        for reason in Reason::ALL {
            let dl = DeadLetter::new(Rejection::new(reason, "d"), kafka(), b"x".to_vec());
            assert_eq!(parse(&dl.to_json_line())["reason"], reason.code());
            assert_eq!(dl.headers()[0], ("cxpulse.reason", reason.code().to_string()));
        }
    }

    #[test]
    fn kafka_headers() {
        let dl = DeadLetter::new(Rejection::new(Reason::TooLarge, "too big"), kafka(), b"x".to_vec());
        assert_eq!(
            dl.headers(),
            vec![
                ("cxpulse.reason", "too_large".to_string()),
                ("cxpulse.detail", "too big".to_string()),
                ("cxpulse.source.topic", "cx.interactions".to_string()),
                ("cxpulse.source.partition", "3".to_string()),
                ("cxpulse.source.offset", "42".to_string()),
            ]
        );
    }

    #[test]
    fn file_headers() {
        let dl = DeadLetter::new(
            Rejection::new(Reason::OutOfRange, "field `score` must be between 0 and 10"),
            SourcePosition::File { file: "-".into(), line: 12 },
            b"x".to_vec(),
        );
        assert_eq!(
            dl.headers(),
            vec![
                ("cxpulse.reason", "out_of_range".to_string()),
                ("cxpulse.detail", "field `score` must be between 0 and 10".to_string()),
                ("cxpulse.source.file", "-".to_string()),
                ("cxpulse.source.line", "12".to_string()),
            ]
        );
    }
}
