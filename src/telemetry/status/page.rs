//! The page: one HTML document with its CSS and JavaScript inlined, all embedded in the binary
//! (`include_str!`), so it works offline and behind any proxy. No library, no CDN, no web font:
//! the charts are SVG drawn by a few hundred lines of plain JavaScript in `assets/status.js`.
//!
//! The live page reads the JSON API (relative URLs, so a path prefix works). The report embeds the
//! same documents in a `<script type="application/json">` block and the same script renders them.

use std::sync::OnceLock;

use serde_json::Value;

const HTML: &str = include_str!("assets/status.html");
const CSS: &str = include_str!("assets/status.css");
const JS: &str = include_str!("assets/status.js");

fn assemble(data: &str) -> String {
    HTML.replacen("/*CSS*/", CSS, 1).replacen("/*DATA*/", data, 1).replacen("/*JS*/", JS, 1)
}

/// The live page (`GET /`): no data embedded, it fetches `/api/v1/`.
pub fn live_page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| assemble("null"))
}

/// A self-contained page with `data` embedded (the report).
pub fn page_with_data(data: &Value) -> String {
    // `<` only occurs inside JSON strings, where `\u003c` means the same: the block can never
    // contain `</script>`.
    assemble(&data.to_string().replace('<', "\\u003c"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_inlined_and_nothing_is_fetched_from_elsewhere() {
        let page = live_page();
        assert!(page.contains("function sparkline") && page.contains(".chart svg"));
        assert!(!page.contains("/*CSS*/") && !page.contains("/*JS*/") && !page.contains("/*DATA*/"));
        for external in ["http://", "https://", "//cdn", "@import", "url("] {
            assert!(!page.contains(external), "page refers to {external}");
        }
        let report = page_with_data(&serde_json::json!({ "x": "</script><b>" }));
        assert!(!report.contains("</script><b>") && report.contains("\\u003c/script>"));
    }
}
