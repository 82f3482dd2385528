//! Layering (embedded defaults ← file ← `CXPULSE_SECTION__KEY` environment) and error collection.
//!
//! serde stops at the first error, but an operator wants every problem at once. So after each
//! deserialization error the offending value is put back to its default (or removed) and
//! deserialization runs again, collecting one problem per round.

use std::path::Path;

use thiserror::Error;
use toml::{Table, Value};

use super::{validate, Config};

/// The built-in defaults, also the reference for every key.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

const ENV_PREFIX: &str = "CXPULSE_";
const MAX_ROUNDS: usize = 200;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration ({} problem{}):\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, list(.problems))]
    Invalid { problems: Vec<String> },
}

fn list(problems: &[String]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// Loads the configuration: defaults, then the file if any, then `CXPULSE_*` variables from `env`.
pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let text = match path {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?,
        ),
        None => None,
    };
    let origin = path.map(|p| p.display().to_string()).unwrap_or_default();
    load_text(text.as_deref().map(|t| (t, origin.as_str())), env)
}

/// [`load`] from a config text already in memory; `file` is `(text, name for messages)`. The fuzz
/// target `config` drives this with arbitrary text and environment.
pub fn load_text(file: Option<(&str, &str)>, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid { problems };
    let defaults = parsed_defaults().map_err(|e| invalid(vec![format!("built-in defaults: {e}")]))?;
    let mut tree = defaults.clone();
    if let Some((text, name)) = file {
        let user: Table = text.parse().map_err(|e| invalid(vec![format!("{name}: {e}")]))?;
        let own_rules = user.contains_key("rules");
        merge(&mut tree, user);
        if !own_rules {
            drop_default_rules_without_window(&mut tree);
        }
    }
    let mut problems = Vec::new();
    apply_env(&mut tree, env, &mut problems);
    coerce_properties(&mut tree, &mut problems);
    let mut config = deserialize_collecting(tree, defaults, &mut problems);
    if let Some(config) = &mut config {
        // The changelog belongs to one consumer group, as Kafka Streams ties its changelogs to
        // the application id: another group must not resume from this group's checkpoints.
        config.checkpoint.topic = config.checkpoint.topic.replace("{group_id}", &config.kafka.group_id);
        config.cluster.partials_topic = config.cluster.partials_topic.replace("{group_id}", &config.kafka.group_id);
        config.cluster.claims_topic = config.cluster.claims_topic.replace("{group_id}", &config.kafka.group_id);
        problems.extend(validate::validate(config));
    }
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(invalid(problems)),
    }
}

/// The embedded defaults, parsed once.
fn parsed_defaults() -> Result<&'static Table, &'static toml::de::Error> {
    static DEFAULTS: std::sync::OnceLock<Result<Table, toml::de::Error>> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| DEFAULT_TOML.parse()).as_ref()
}

/// A file that redefines the windows but not the rules keeps only the built-in rules whose window
/// still exists, instead of failing on rules the user never wrote.
fn drop_default_rules_without_window(tree: &mut Table) {
    let names: Vec<String> = match tree.get("windows") {
        Some(Value::Array(windows)) => {
            windows.iter().filter_map(|w| w.get("name").and_then(Value::as_str).map(str::to_string)).collect()
        }
        _ => return,
    };
    if let Some(Value::Array(rules)) = tree.get_mut("rules") {
        rules.retain(|r| r.get("window").and_then(Value::as_str).is_some_and(|w| names.iter().any(|n| n == w)));
    }
}

/// Tables merge key by key; anything else (arrays included) is replaced whole.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn apply_env(tree: &mut Table, env: &[(String, String)], problems: &mut Vec<String>) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        let mut path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        // librdkafka property names are dotted, which environment names cannot be.
        if path.len() > 2 && path[0] == "kafka" && path[1] == "properties" {
            let property = path[2..].join(".").replace('_', ".");
            path.truncate(2);
            path.push(property);
        }
        let value = if path.first().map(String::as_str) == Some("kafka")
            && path.get(1).map(String::as_str) == Some("properties")
        {
            Value::String(raw.clone())
        } else {
            parse_env_value(raw)
        };
        if let Err(e) = set_path(tree, &path, value) {
            problems.push(format!("{name}: {e}"));
        }
    }
}

/// `64`, `true`, `["a","b"]` keep their TOML type; anything else is a string.
fn parse_env_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

fn set_path(tree: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else { return Err("empty key".into()) };
    let mut table = tree;
    for part in parents {
        let entry = table.entry(part.clone()).or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => return Err(format!("`{part}` is not a section, cannot set a key below it")),
        };
    }
    table.insert(last.clone(), value);
    Ok(())
}

/// librdkafka properties are strings; accept `batch.size = 1000` as well.
fn coerce_properties(tree: &mut Table, problems: &mut Vec<String>) {
    let Some(Value::Table(props)) = tree.get_mut("kafka").and_then(|k| k.get_mut("properties")) else { return };
    let mut bad = Vec::new();
    for (key, value) in props.iter_mut() {
        match value {
            Value::String(_) => {}
            Value::Integer(i) => *value = Value::String(i.to_string()),
            Value::Float(f) => *value = Value::String(f.to_string()),
            Value::Boolean(b) => *value = Value::String(b.to_string()),
            _ => bad.push(key.clone()),
        }
    }
    for key in bad {
        props.remove(&key);
        problems.push(format!("kafka.properties.{key}: must be a string, number or boolean"));
    }
}

fn deserialize_collecting(mut tree: Table, defaults: &Table, problems: &mut Vec<String>) -> Option<Config> {
    for _ in 0..MAX_ROUNDS {
        match serde_path_to_error::deserialize::<_, Config>(Value::Table(tree.clone())) {
            Ok(config) => return Some(config),
            Err(err) => {
                let path = parse_path(&err.path().to_string());
                // toml appends "in `section`" on later lines; the path already says where.
                let message = err.inner().to_string().lines().next().unwrap_or_default().trim().to_string();
                let shown = err.path().to_string();
                problems.push(if shown == "." { message.clone() } else { format!("{shown}: {message}") });
                if !repair(&mut tree, defaults, &path, &message) {
                    return None;
                }
            }
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `windows[1].size` → [Key(windows), Index(1), Key(size)].
fn parse_path(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    if text == "." {
        return steps;
    }
    for part in text.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                steps.push(Step::Key(rest[..open].to_string()));
            }
            rest = &rest[open..];
            // Only `[n]` groups are indexes; a key that itself holds brackets (the fuzzer found
            // `]rt_window `) ends the path rather than being sliced backwards.
            while let Some(inner) = rest.strip_prefix('[') {
                let Some(close) = inner.find(']') else { break };
                if let Ok(i) = inner[..close].parse() {
                    steps.push(Step::Index(i));
                }
                rest = &inner[close + 1..];
            }
        } else {
            steps.push(Step::Key(rest.to_string()));
        }
    }
    steps
}

/// Puts the value at `path` back to its default, or removes it; an unknown field is removed.
fn repair(tree: &mut Table, defaults: &Table, path: &[Step], message: &str) -> bool {
    let mut path = path.to_vec();
    if let Some(field) = unknown_field(message) {
        if path.last() != Some(&Step::Key(field.clone())) {
            path.push(Step::Key(field));
        }
        return remove_at(tree, &path);
    }
    if let Some(field) = missing_field(message) {
        // A required key without a default: supply the default if the defaults have one here.
        path.push(Step::Key(field));
        return match get_at_table(defaults, &path) {
            Some(v) => set_at(tree, &path, v.clone()),
            None => false,
        };
    }
    match get_at_table(defaults, &path) {
        Some(v) => set_at(tree, &path, v.clone()),
        None => remove_at(tree, &path),
    }
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn get_at_table<'a>(table: &'a Table, path: &[Step]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(k) = first else { return None };
    let mut value = table.get(k)?;
    for step in rest {
        value = match (step, value) {
            (Step::Key(k), Value::Table(t)) => t.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

fn parent_mut<'a>(table: &'a mut Table, path: &[Step]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(k) = first else { return None };
    let mut value = table.get_mut(k)?;
    for step in rest {
        value = match (step, value) {
            (Step::Key(k), Value::Table(t)) => t.get_mut(k)?,
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

fn set_at(tree: &mut Table, path: &[Step], new: Value) -> bool {
    match path.split_last() {
        Some((Step::Key(k), [])) => {
            tree.insert(k.clone(), new);
            true
        }
        Some((last, parents)) => match (parent_mut(tree, parents), last) {
            (Some(Value::Table(t)), Step::Key(k)) => {
                t.insert(k.clone(), new);
                true
            }
            (Some(Value::Array(a)), Step::Index(i)) if *i < a.len() => {
                a[*i] = new;
                true
            }
            _ => false,
        },
        None => false,
    }
}

fn remove_at(tree: &mut Table, path: &[Step]) -> bool {
    match path.split_last() {
        Some((Step::Key(k), [])) => tree.remove(k).is_some(),
        Some((last, parents)) => match (parent_mut(tree, parents), last) {
            (Some(Value::Table(t)), Step::Key(k)) => t.remove(k).is_some(),
            (Some(Value::Array(a)), Step::Index(i)) if *i < a.len() => {
                a.remove(*i);
                true
            }
            _ => false,
        },
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(Some(&path), &env)
    }

    #[test]
    fn error_paths_with_brackets_in_key_names_are_parsed_without_panicking() {
        use Step::{Index, Key};
        assert_eq!(parse_path("windows[1].size"), vec![Key("windows".into()), Index(1), Key("size".into())]);
        assert_eq!(parse_path("a[0]]rt_window "), vec![Key("a".into()), Index(0)]);
        assert_eq!(parse_path("a[x"), vec![Key("a".into())]);
        assert_eq!(parse_path("x[é]"), vec![Key("x".into())]);
    }

    fn problems(result: Result<Config, ConfigError>) -> Vec<String> {
        match result {
            Err(ConfigError::Invalid { problems }) => problems,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_load() {
        let config = Config::builtin().unwrap();
        assert_eq!(config.windows.len(), 4);
        assert_eq!(config.inactivity.inactive_after.0, 14 * 86_400_000);
        assert_eq!(config.kafka.brokers, "embedded");
    }

    #[test]
    fn every_problem_is_listed() {
        let p = problems(load_text(
            "[segments]\nbogus = 1\nmax_values = \"x\"\n[inactivity]\ninactive_after = \"14x\"\n[[inactivity.overrides]]\ndimension = \"tier\"\nsegment = \"gold\"\n[[windows]]\nname = \"w\"\nsize = \"90m\"\nbucket = \"1h\"\n[nope]\n",
            &[],
        ));
        let all = p.join("\n");
        assert!(all.contains("bogus"), "{all}");
        assert!(all.contains("max_values"), "{all}");
        assert!(all.contains("inactive_after"), "{all}");
        assert!(all.contains("tier"), "{all}");
        assert!(all.contains("multiple"), "{all}");
        assert!(all.contains("nope"), "{all}");
    }

    #[test]
    fn each_group_has_its_own_changelog_topic() {
        assert_eq!(Config::builtin().unwrap().checkpoint.topic, "cx.cxpulse-changelog");
        let c = load_text("[kafka]\ngroup_id = \"cx-eu\"\n", &[]).unwrap();
        assert_eq!(c.checkpoint.topic, "cx.cx-eu-changelog");
        let p = problems(load_text("[kafka]\ngroup_id = \"eu west\"\n", &[]));
        assert!(p.iter().any(|p| p.contains("`cx.eu west-changelog` is not a legal topic name")), "{p:?}");
    }

    #[test]
    fn environment_overrides() {
        let c = load_text(
            "",
            &[
                ("CXPULSE_INACTIVITY__INACTIVE_AFTER", "21d"),
                ("CXPULSE_SEGMENTS__MAX_VALUES", "8"),
                ("CXPULSE_KAFKA__PROPERTIES__SECURITY_PROTOCOL", "SASL_SSL"),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        assert_eq!(c.inactivity.inactive_after.0, 21 * 86_400_000);
        assert_eq!(c.segments.max_values, 8);
        assert_eq!(c.kafka.properties.get("security.protocol").map(String::as_str), Some("SASL_SSL"));
    }

    #[test]
    fn file_arrays_replace_defaults() {
        let c = load_text("[[windows]]\nname = \"2h\"\nsize = \"2h\"\nbucket = \"10m\"\n", &[]).unwrap();
        assert_eq!(c.windows.len(), 1);
        assert!(c.rules.is_empty(), "built-in rules on removed windows are dropped");
        let p = problems(load_text(
            "[[windows]]\nname = \"2h\"\nsize = \"2h\"\nbucket = \"10m\"\n[[rules]]\nname = \"r\"\nmetric = \"nps_score\"\nwindow = \"7d\"\nbelow = 1.0\n",
            &[],
        ));
        assert!(p.join("\n").contains("unknown window"));
    }
}
