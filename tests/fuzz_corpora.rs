//! Runs every committed fuzz input through the same code as the fuzz targets (issue 11): the
//! hand-picked seeds in `fuzz/corpus/TARGET/` and every crash ever found, kept in
//! `fuzz/regressions/TARGET/`. The long coverage-guided runs are `scripts/fuzz.sh`. The `checkpoint`
//! seeds are written by the real encoder (`write_checkpoint_seeds`, ignored) and must restore.

use std::path::Path;

use compact_str::CompactString;
use cxpulse::checkpoint::meta::{RuleFiring, RulesState};
use cxpulse::checkpoint::{restore, Checkpointer, Extras, MemoryStore};
use cxpulse::engine::{Engine, NoBoundaries, Partition};
use cxpulse::event::{Event, Interaction, Payload, Survey, SurveyResponse};
use cxpulse::fuzzing::{
    checkpoint_config, checkpoint_input, checkpoint_partition, checkpoint_records, CHECKPOINT_PARTITION, TARGETS,
};

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

#[test]
fn checkpoint_seeds_are_checkpoints_that_restore() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/checkpoint");
    let mut customers = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        assert!(data.len() < 4096, "{} is not a small seed", path.display());
        let mut partition = checkpoint_partition();
        let restored = restore(&checkpoint_records(&data), CHECKPOINT_PARTITION, &mut partition);
        let restored = restored.unwrap_or_else(|e| panic!("{}: {e}", path.display())).expect("a meta");
        assert!(restored.unreferenced.is_empty(), "{}: records its meta does not name", path.display());
        customers += restored.customers;
    }
    assert!(customers > 0, "no seed holds a customer");
}

/// Writes the `checkpoint` seeds with the real encoder:
/// `cargo test --test fuzz_corpora -- --ignored write_checkpoint_seeds`.
#[test]
#[ignore = "writes fuzz/corpus/checkpoint/"]
fn write_checkpoint_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/checkpoint");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, store: &MemoryStore| {
        let data = checkpoint_input(store, CHECKPOINT_PARTITION).expect("a checkpoint was written");
        assert!(data.len() < 4096, "seed {name} is {} bytes", data.len());
        std::fs::write(dir.join(name), data).unwrap();
    };
    let engine = Engine::new(&checkpoint_config());
    let checkpoint = |store: &mut MemoryStore, cp: &mut Checkpointer, p: &mut Partition, extras: Extras| {
        let plan = cp.plan(p, extras);
        store.write(&plan);
        cp.written(&plan);
    };

    // Nothing processed yet.
    let (mut store, mut cp) = (MemoryStore::default(), Checkpointer::new(CHECKPOINT_PARTITION, 1024, 4));
    checkpoint(&mut store, &mut cp, &mut engine.partition(CHECKPOINT_PARTITION), Extras::default());
    write("empty", &store);

    // A base: customers in every state and segment (`team` is `other` past max_values = 2), a
    // remembered event id, an open ticket; then a delta on top of it, with rule state and offsets.
    let mut p = engine.partition(CHECKPOINT_PARTITION);
    let (mut store, mut cp) = (MemoryStore::default(), Checkpointer::new(CHECKPOINT_PARTITION, 1024, 4));
    apply(&mut p, &events(0..4, 0));
    p.advance_to(BASE + 3 * HOUR, &mut Vec::new(), &mut NoBoundaries);
    apply(&mut p, &events(1..2, 4 * HOUR));
    p.advance_to(BASE + 8 * HOUR, &mut Vec::new(), &mut NoBoundaries);
    checkpoint(&mut store, &mut cp, &mut p, Extras::default());
    write("base", &store);
    apply(&mut p, &events(4..6, 9 * HOUR));
    let rules = RulesState {
        evaluated_until: Some(BASE + 9 * HOUR),
        primed: true,
        firing: vec![RuleFiring {
            rule: "low-nps".into(),
            dimension: "all".into(),
            segment: "all".into(),
            firing: true,
        }],
    };
    let extras = Extras {
        offsets: vec![("cx.interactions".into(), 42), ("cx.surveys".into(), 7)],
        outputs: vec![("cx.alerts".into(), 0, 3)],
        rules: Some(rules),
    };
    checkpoint(&mut store, &mut cp, &mut p, extras);
    write("delta", &store);

    // Enough customers for several chunks of the smallest size.
    let mut p = engine.partition(CHECKPOINT_PARTITION);
    let (mut store, mut cp) = (MemoryStore::default(), Checkpointer::new(CHECKPOINT_PARTITION, 1024, 4));
    apply(&mut p, &events(0..12, 0));
    checkpoint(&mut store, &mut cp, &mut p, Extras::default());
    write("chunks", &store);
}

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;

fn apply(p: &mut Partition, events: &[Event]) {
    for e in events {
        p.apply(e, &mut Vec::new(), &mut NoBoundaries);
    }
}

/// One event of each kind per customer in `customers`, from `BASE + at` on.
fn events(customers: std::ops::Range<usize>, at: i64) -> Vec<Event> {
    let mut out = Vec::new();
    for c in customers {
        let ticket = || CompactString::from(format!("t{c}"));
        let payloads = [
            Payload::Survey(SurveyResponse { survey: Survey::Nps, score: (c % 11) as u8 }),
            Payload::Interaction(Interaction::Purchase { amount: 12.5 + c as f64 }),
            Payload::Interaction(Interaction::Session { duration_seconds: 30.0 }),
            Payload::Interaction(Interaction::SupportOpened { ticket_id: ticket() }),
            Payload::Interaction(Interaction::SupportFirstResponse { ticket_id: ticket() }),
            Payload::Interaction(if c % 3 == 0 { Interaction::Cancellation } else { Interaction::Login }),
        ];
        for (i, payload) in payloads.into_iter().enumerate() {
            out.push(Event {
                customer_id: format!("c{c}").into(),
                ts: BASE + at + (c * 6 + i) as i64 * 60_000,
                event_id: (i == 0).then(|| CompactString::from(format!("e{c}"))),
                segments: vec![
                    ("plan".into(), ["free", "pro", "team"][c % 3].into()),
                    ("region".into(), ["eu", "na"][c % 2].into()),
                ],
                payload,
            });
        }
    }
    out
}
