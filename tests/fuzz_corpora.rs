//! Runs every committed fuzz input through the same code as the fuzz targets (issue 11): the
//! hand-picked seeds in `fuzz/corpus/TARGET/` and every crash ever found, kept in
//! `fuzz/regressions/TARGET/`. The long coverage-guided runs are `scripts/fuzz.sh`.

use std::path::Path;

use cxpulse::fuzzing::TARGETS;

#[test]
fn every_corpus_and_regression_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut fed = 0;
    for (name, target) in TARGETS {
        let mut seeds = 0;
        for folder in ["corpus", "regressions"] {
            let dir = root.join(folder).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                    let data = std::fs::read(&path).unwrap();
                    let outcome = std::panic::catch_unwind(|| target(&data));
                    assert!(outcome.is_ok(), "fuzz target `{name}` fails on {}", path.display());
                    seeds += usize::from(folder == "corpus");
                    fed += 1;
                }
            }
        }
        assert!(seeds > 0, "fuzz/corpus/{name}/ has no seed inputs");
    }
    assert!(fed >= TARGETS.len());
}

#[test]
fn targets_reject_nothing_silently_on_hostile_shapes() {
    // A few shapes the hostile-input test also sends, through the fuzz bodies directly.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let long_value = format!(
        r#"{{"type":"interaction","kind":"login","customer_id":"c","ts":0,"segments":{{"plan":"{}"}}}}"#,
        "x".repeat(65)
    );
    for input in [deep.as_bytes(), long_value.as_bytes(), b"\xff\xfe", b"", b"null", b"{}"] {
        for (_, target) in TARGETS {
            target(input);
        }
    }
}
