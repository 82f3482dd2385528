//! The bodies of the fuzz targets, kept in the library so that `fuzz/` (cargo-fuzz, libFuzzer) and
//! the ordinary test suite (`tests/fuzz_corpora.rs`, which feeds every committed corpus and
//! regression file through [`TARGETS`]) run exactly the same code.
//!
//! Each target does more than "must not panic": it checks the properties the rest of the service
//! relies on (an accepted event is within SPEC §1's bounds, a refused one yields a dead letter that
//! gives back the exact original bytes, a config that loads is within its validated bounds, a
//! checkpoint that restores can be checkpointed and restored again to the same state).
//!
//! Adding a target: write `pub fn NAME(data: &[u8])` here,
//! add `("NAME", NAME)` to [`TARGETS`], copy `fuzz/fuzz_targets/decode.rs` to `NAME.rs` with the
//! call changed, add its `[[bin]]` to `fuzz/Cargo.toml`, and seed `fuzz/corpus/NAME/` with a few
//! small valid inputs. `fuzz/README.md` has the commands.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;

use crate::checkpoint::chunk::{self, ChunkEncoder, DecodeContext, Entry};
use crate::checkpoint::codec::DecodeError;
use crate::checkpoint::format::MAGIC;
use crate::checkpoint::restore::latest;
use crate::checkpoint::snapshot::meta_key;
use crate::checkpoint::{restore, Checkpointer, Extras, MemoryStore, Meta, Plan, RestoreError, Restored};
use crate::config::{load_text, Config, ConfigError};
use crate::engine::{Partition, PartitionView, Settings};
use crate::event::decode::{MAX_ID_BYTES, MAX_SEGMENT_VALUE_BYTES};
use crate::event::{DeadLetter, Decoder, Event, Interaction, Payload, Reason, Rejection, SourcePosition};
use crate::state::SegmentCatalog;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every fuzz target by name; the name is its folder under `fuzz/corpus/` and `fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[("decode", decode), ("config", config), ("checkpoint", checkpoint)];

/// A fixed wall clock for the live-mode decode (2026-11-01T00:00:00Z).
const NOW_MS: i64 = 1_793_491_200_000;
/// Years 0000 to 9999, RFC 3339's range.
const TS_RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;
/// A dead letter's `detail` is a short human message that never quotes the payload.
const MAX_DETAIL_BYTES: usize = 256;

fn decoder() -> &'static Decoder {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    DECODER.get_or_init(|| Decoder::new(65_536, vec!["plan".into(), "region".into()], 300_000))
}

/// The event decoder, in replay and live mode, and the dead letter of anything it refuses.
pub fn decode(data: &[u8]) {
    let replay = decoder().decode(data, None);
    let live = decoder().decode(data, Some(NOW_MS));
    match &replay {
        Ok(event) => check_event(event),
        Err(rejection) => check_dead_letter(rejection, data),
    }
    // Live mode differs from replay only by the future-timestamp check.
    match (&replay, &live) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "live and replay decode differently"),
        (Err(a), Err(b)) => assert_eq!(a.reason, b.reason, "live and replay refuse differently"),
        (Ok(_), Err(b)) => assert_eq!(b.reason, Reason::FutureTimestamp, "live refused a valid event: {b}"),
        (Err(a), Ok(_)) => panic!("live accepted what replay refused: {a}"),
    }
}

fn check_event(e: &Event) {
    let id_ok = |id: &str| !id.is_empty() && id.len() <= MAX_ID_BYTES;
    assert!(id_ok(&e.customer_id), "customer_id out of bounds");
    assert!(e.event_id.as_deref().is_none_or(id_ok), "event_id out of bounds");
    assert!(TS_RANGE.contains(&e.ts), "ts {} outside years 0000-9999", e.ts);
    for (key, value) in &e.segments {
        assert!(key == "plan" || key == "region", "unconfigured dimension `{key}` kept");
        assert!(!value.is_empty() && value.len() <= MAX_SEGMENT_VALUE_BYTES, "segment value out of bounds");
    }
    match &e.payload {
        Payload::Survey(s) => {
            let (low, high) = s.survey.scale();
            assert!((low..=high).contains(&i64::from(s.score)), "score outside its scale");
        }
        Payload::Interaction(Interaction::Purchase { amount }) => {
            assert!(amount.is_finite() && *amount >= 0.0, "amount {amount}")
        }
        Payload::Interaction(Interaction::Session { duration_seconds: d }) => {
            assert!(d.is_finite() && *d >= 0.0, "duration {d}")
        }
        Payload::Interaction(
            Interaction::SupportOpened { ticket_id }
            | Interaction::SupportFirstResponse { ticket_id }
            | Interaction::SupportResolved { ticket_id },
        ) => assert!(id_ok(ticket_id), "ticket_id out of bounds"),
        Payload::Interaction(_) => {}
    }
}

/// The dead letter is one JSON line that gives back the exact bytes, with a short detail.
fn check_dead_letter(rejection: &Rejection, data: &[u8]) {
    assert!(rejection.detail.len() <= MAX_DETAIL_BYTES, "detail too long: {}", rejection.detail.len());
    let source = SourcePosition::File { file: "fuzz.jsonl".into(), line: 1 };
    let line = DeadLetter::new(rejection.clone(), source, data.to_vec()).to_json_line();
    assert!(!line.contains('\n'), "a dead letter must be one line");
    let value: serde_json::Value = serde_json::from_str(&line).expect("a dead letter is JSON");
    assert_eq!(value["reason"], rejection.reason.code());
    let back = match (&value["payload"], &value["payload_base64"]) {
        (serde_json::Value::String(text), _) => text.as_bytes().to_vec(),
        (_, serde_json::Value::String(b64)) => {
            base64::engine::general_purpose::STANDARD.decode(b64).expect("payload_base64 is base64")
        }
        _ => panic!("a dead letter without its payload"),
    };
    assert_eq!(back, data, "the dead letter does not give back the original bytes");
}

/// Config parsing, layering and validation: the input is a TOML file, then optionally a NUL byte
/// and `NAME=value` lines taken as the environment.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> =
        env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match load_text(Some((file, "fuzz.toml")), &env) {
        Ok(config) => {
            // What the engine relies on after validation.
            assert!(!config.windows.is_empty());
            for w in &config.windows {
                assert!(w.bucket.0 > 0 && w.size.0 % w.bucket.0 == 0);
                assert!(w.size.0 / w.bucket.0 <= config.limits.max_buckets_per_window);
            }
            assert!(config.inactivity.churn_after > config.inactivity.inactive_after);
            assert!(config.segments.max_values >= 1 && config.limits.max_customers >= 1);
            let settings = Settings::from_config(&config);
            assert_eq!(settings.windows.len(), config.windows.len());
        }
        Err(ConfigError::Invalid { problems }) => assert!(!problems.is_empty(), "refused without a reason"),
        Err(ConfigError::Read { .. }) => panic!("nothing is read from disk here"),
    }
}

/// The configuration the `checkpoint` target restores into, and its seeds were taken with (the
/// fingerprint must match for a restore to reach the chunks). Two small windows keep a segment
/// entry cheap to build and make ring slots collide; `max_values = 2` reaches the `other` overflow;
/// short inactivity thresholds let a small seed hold inactive and churned customers.
pub const CHECKPOINT_CONFIG: &str = r#"
[segments]
max_values = 2

[inactivity]
inactive_after = "2h"
churn_after = "6h"

[[windows]]
name = "1h"
size = "1h"
bucket = "10m"

[[windows]]
name = "1d"
size = "1d"
bucket = "6h"
"#;

/// The changelog partition the `checkpoint` target restores.
pub const CHECKPOINT_PARTITION: i32 = 0;

/// [`CHECKPOINT_CONFIG`] over the defaults.
pub fn checkpoint_config() -> Config {
    load_text(Some((CHECKPOINT_CONFIG, "fuzz-checkpoint.toml")), &[]).expect("the checkpoint fuzz config is valid")
}

fn checkpoint_settings() -> &'static Arc<Settings> {
    static SETTINGS: OnceLock<Arc<Settings>> = OnceLock::new();
    SETTINGS.get_or_init(|| Arc::new(Settings::from_config(&checkpoint_config())))
}

/// A fresh, empty partition with its own catalog, as a restore starts from.
pub fn checkpoint_partition() -> Partition {
    let settings = Arc::clone(checkpoint_settings());
    let catalog = Arc::new(SegmentCatalog::new(settings.dimensions.clone(), settings.max_values));
    Partition::new(settings, catalog, Arc::new(PartitionView::default()))
}

/// The changelog decoder, entry by entry as a restore reaches it. The input is one changelog
/// partition: a meta record, then the chunk records it names in the order it names them, each
/// record starting with the magic `CXPK` (the input is cut before every later `CXPK`; see
/// [`checkpoint_records`]). The whole is restored into a fresh partition, and every record is
/// decoded on its own as a meta and as a chunk (but for the chunks of a successful restore, whose
/// round trip the restored state's own checkpoint checks).
pub fn checkpoint(data: &[u8]) {
    let records = checkpoint_records(data);
    let restored = check_restore(&records);
    for (key, (_, bytes)) in &records {
        check_meta(bytes);
        if !restored || key == &meta_key(CHECKPOINT_PARTITION) || key.contains("/extra/") {
            check_chunk(bytes);
        }
    }
}

/// The input cut before every `CXPK` but the one it may start with.
fn split_records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 1;
    while i + MAGIC.len() <= data.len() {
        if data[i..i + MAGIC.len()] == MAGIC {
            out.push(&data[start..i]);
            start = i;
            i += MAGIC.len();
        } else {
            i += 1;
        }
    }
    out.push(&data[start..]);
    out
}

/// The stored records of a `checkpoint` input, keyed as a store holds them: the first record is
/// the meta, the following ones get the chunk keys the meta names (when it decodes), in order;
/// records past those get keys no meta can name (`{p}/extra/{i}`).
pub fn checkpoint_records(data: &[u8]) -> BTreeMap<String, (i64, Vec<u8>)> {
    let p = CHECKPOINT_PARTITION;
    let mut records = split_records(data).into_iter();
    let mut map = BTreeMap::new();
    let Some(meta) = records.next() else { return map };
    map.insert(meta_key(p), (0, meta.to_vec()));
    let decoded = Meta::decode(meta).ok();
    let mut named = decoded.iter().flat_map(|m| named_keys(m, p));
    for (i, record) in records.enumerate() {
        let key = named.by_ref().find(|k| !map.contains_key(k)).unwrap_or_else(|| format!("{p}/extra/{i}"));
        map.insert(key, (i as i64 + 1, record.to_vec()));
    }
    map
}

/// The inverse of [`checkpoint_records`]: the latest meta of `partition` in `store`, then the chunks
/// it names. `None` without a meta.
pub fn checkpoint_input(store: &MemoryStore, partition: i32) -> Option<Vec<u8>> {
    let records = latest(store.records());
    let (_, meta) = records.get(&meta_key(partition))?;
    let mut out = meta.clone();
    for key in named_keys(&Meta::decode(meta).ok()?, partition) {
        out.extend_from_slice(&records.get(&key)?.1);
    }
    Some(out)
}

/// The chunk keys a meta names, in the order restore reads them (lazily: a hostile meta may name
/// billions).
fn named_keys(meta: &Meta, p: i32) -> impl Iterator<Item = String> + '_ {
    let pieces = meta.base.iter().map(|piece| ("base", piece)).chain(meta.deltas.iter().map(|piece| ("delta", piece)));
    pieces.flat_map(move |(kind, piece)| (0..piece.chunks).map(move |c| format!("{p}/{kind}/{}/{c}", piece.seq)))
}

/// A meta that decodes re-encodes to itself; a refused one says why.
fn check_meta(bytes: &[u8]) {
    match Meta::decode(bytes) {
        Ok(meta) => {
            let again = Meta::decode(&meta.encode()).unwrap_or_else(|e| panic!("a re-encoded meta is refused: {e}"));
            assert_eq!(again, meta, "a meta changes through encode and decode");
        }
        Err(e) => check_decode_error(&e),
    }
}

/// A chunk that decodes re-encodes to a chunk that decodes to the same entries; a refused one says why.
fn check_chunk(bytes: &[u8]) {
    let settings = checkpoint_settings();
    let catalog = SegmentCatalog::new(settings.dimensions.clone(), settings.max_values);
    let cx = DecodeContext { catalog: &catalog, windows: &settings.windows };
    let mut first = ChunkEncoder::default();
    match chunk::decode(bytes, &cx, |entry| encode_entry(&mut first, &catalog, entry)) {
        Ok(()) => {
            let once = first.finish();
            let mut second = ChunkEncoder::default();
            chunk::decode(&once, &cx, |entry| encode_entry(&mut second, &catalog, entry))
                .unwrap_or_else(|e| panic!("a re-encoded chunk is refused: {e}"));
            assert!(second.finish() == once, "a chunk changes through decode, encode and decode");
        }
        Err(e) => check_decode_error(&e),
    }
}

fn encode_entry(out: &mut ChunkEncoder, catalog: &SegmentCatalog, entry: Entry) {
    match entry {
        Entry::Customer(id, customer) => out.customer(catalog, &id, &customer),
        Entry::Segment(id, partial) => out.segment(catalog, id, &partial),
        Entry::Dedup(id, at) => out.dedup(&id, at),
        Entry::Ticket(ticket) => out.ticket(ticket),
    }
}

/// A decode error is a short one-line message.
fn check_decode_error(e: &DecodeError) {
    let message = e.to_string();
    assert!(!message.is_empty() && message.len() <= 200 && !message.contains('\n'), "decode error message `{message}`");
}

/// Restores the records into a fresh partition. A refusal names the record, and is the record's
/// own decode error; an accepted state is checkpointed and restored again, to the same state.
/// Whether the restore succeeded.
fn check_restore(records: &BTreeMap<String, (i64, Vec<u8>)>) -> bool {
    let p = CHECKPOINT_PARTITION;
    let mut partition = checkpoint_partition();
    match restore(records, p, &mut partition) {
        Ok(Some(restored)) => {
            check_restored(records, &restored, &mut partition);
            return true;
        }
        Ok(None) => assert!(!records.contains_key(&meta_key(p)), "a meta was not read"),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(&format!("partition {p}")),
                "restore error `{message}` does not name the partition"
            );
            match &e {
                RestoreError::Corrupt { key, source, .. } => {
                    assert!(message.contains(key.as_str()), "restore error `{message}` does not name the record");
                    let (_, bytes) = records.get(key).unwrap_or_else(|| panic!("corrupt record `{key}` was not given"));
                    assert_eq!(
                        Some(source),
                        standalone_error(key, bytes, p).as_ref(),
                        "`{key}` fails differently alone"
                    );
                }
                RestoreError::Missing { key, .. } => assert!(!records.contains_key(key), "`{key}` is there"),
                RestoreError::Incompatible { changes, .. } => assert!(!changes.is_empty()),
                // Only with claims, which a fuzzed restore never has.
                RestoreError::Unclaimed { .. } => panic!("restore error `{message}` without claims"),
            }
        }
    }
    false
}

/// The error of one record decoded on its own (meta or chunk, by its key).
fn standalone_error(key: &str, bytes: &[u8], p: i32) -> Option<DecodeError> {
    if key == meta_key(p) {
        return Meta::decode(bytes).err();
    }
    let settings = checkpoint_settings();
    let catalog = SegmentCatalog::new(settings.dimensions.clone(), settings.max_values);
    chunk::decode(bytes, &DecodeContext { catalog: &catalog, windows: &settings.windows }, |_| {}).err()
}

/// What a successful restore promises: it reports what it restored and which records it left
/// unused, and the state it built checkpoints and restores again unchanged.
fn check_restored(records: &BTreeMap<String, (i64, Vec<u8>)>, restored: &Restored, partition: &mut Partition) {
    let p = CHECKPOINT_PARTITION;
    assert_eq!(restored.customers, partition.customer_count());
    let meta = records.get(&meta_key(p)).and_then(|(_, bytes)| Meta::decode(bytes).ok());
    assert_eq!(Some(&restored.meta), meta.as_ref(), "restore read another meta");
    let extra: Vec<&String> = records.keys().filter(|k| k.starts_with(&format!("{p}/extra/"))).collect();
    assert_eq!(restored.unreferenced.iter().collect::<Vec<_>>(), extra, "unused records misreported");

    let m = &restored.meta;
    let extras = Extras { offsets: m.offsets.clone(), outputs: m.outputs.clone(), rules: m.rules.clone() };
    let first = Checkpointer::new(p, 1 << 20, 1).plan(partition, extras.clone());
    let mut store = MemoryStore::default();
    store.write(&first);
    let mut again = checkpoint_partition();
    let back = restore(&latest(store.records()), p, &mut again)
        .unwrap_or_else(|e| panic!("the checkpoint of a restored state is refused: {e}"))
        .expect("a checkpoint has a meta");
    assert_eq!(back.customers, restored.customers, "customers lost through a checkpoint");
    let second = Checkpointer::new(p, 1 << 20, 1).plan(&mut again, extras);
    let summary = |plan: &Plan| Meta { base: None, ..plan.next.clone() };
    assert_eq!(summary(&first), summary(&second), "the meta changes through a checkpoint and restore");
    // Equal chunks are equal states; else the entries may only be in another order.
    if !first.chunks.iter().map(|r| &r.value).eq(second.chunks.iter().map(|r| &r.value)) {
        assert!(canonical(&first) == canonical(&second), "the state changes through a checkpoint and restore");
    }
}

/// A plan's entries, each encoded on its own, sorted: equal for equal states whatever the order.
fn canonical(plan: &Plan) -> Vec<Vec<u8>> {
    let settings = checkpoint_settings();
    let catalog = SegmentCatalog::new(settings.dimensions.clone(), settings.max_values);
    let cx = DecodeContext { catalog: &catalog, windows: &settings.windows };
    let mut out = Vec::new();
    for record in &plan.chunks {
        let bytes = record.value.as_deref().unwrap_or_default();
        chunk::decode(bytes, &cx, |entry| {
            let mut alone = ChunkEncoder::default();
            encode_entry(&mut alone, &catalog, entry);
            out.push(alone.finish());
        })
        .unwrap_or_else(|e| panic!("a chunk just written is refused: {e}"));
    }
    out.sort_unstable();
    out
}
