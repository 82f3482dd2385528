//! The fingerprint of the configuration that shapes durable state: windows (name, size, bucket),
//! dimensions and `max_values`, and the format version. Thresholds, templates, holdout settings
//! and rules do not shape state (the inactivity index is rebuilt with the thresholds configured
//! now; a customer keeps the holdout group it was given) and may change freely.

use crate::engine::Settings;

pub fn fingerprint(settings: &Settings) -> Vec<(String, String)> {
    let windows: Vec<String> =
        settings.windows.iter().map(|w| format!("{}={}ms/{}ms", w.name, w.size_ms, w.bucket_ms)).collect();
    vec![
        ("windows".to_string(), windows.join(",")),
        ("segments.dimensions".to_string(), settings.dimensions.join(",")),
        ("segments.max_values".to_string(), settings.max_values.to_string()),
    ]
}

/// What differs, item by item ("windows: 1h=... → ..."); empty when compatible.
pub fn differences(stored: &[(String, String)], now: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in now {
        match stored.iter().find(|(k, _)| k == key) {
            Some((_, old)) if old == value => {}
            Some((_, old)) => out.push(format!("{key}: checkpoint has `{old}`, config has `{value}`")),
            None => out.push(format!("{key}: not in the checkpoint, config has `{value}`")),
        }
    }
    for (key, old) in stored {
        if !now.iter().any(|(k, _)| k == key) {
            out.push(format!("{key}: checkpoint has `{old}`, unknown to this build"));
        }
    }
    out
}
