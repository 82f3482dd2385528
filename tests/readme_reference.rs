//! The README's configuration reference lists every key the config structs accept. The keys are
//! read from the structs themselves: an unknown key makes serde name every field it expects.

use std::path::Path;

const PROBE: &str = "zz_probe";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Table,
    Array,
}

/// The fields of the struct at `path`, or None when `path` is not a struct of that kind.
fn fields(path: &[(String, Kind)]) -> Option<Vec<String>> {
    let name = path.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".");
    let header = match path.last() {
        None => String::new(),
        Some((_, Kind::Table)) => format!("[{name}]\n"),
        Some((_, Kind::Array)) => format!("[[{name}]]\n"),
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    std::fs::write(&file, format!("{header}{PROBE} = 1\n")).unwrap();
    let err = cxpulse::config::load(Some(&file), &[]).err()?.to_string();
    let line = err.lines().find(|l| l.contains(&format!("unknown field `{PROBE}`")))?;
    let expected = line.split("expected").nth(1)?;
    Some(expected.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

fn collect(path: Vec<(String, Kind)>, out: &mut Vec<String>) {
    for field in fields(&path).unwrap_or_default() {
        let mut table = path.clone();
        table.push((field.clone(), Kind::Table));
        let mut array = path.clone();
        array.push((field.clone(), Kind::Array));
        if fields(&table).is_some() {
            collect(table, out);
        } else if fields(&array).is_some() {
            collect(array, out);
        } else {
            out.push(
                path.iter()
                    .map(|(n, k)| if *k == Kind::Array { format!("{n}[]") } else { n.clone() })
                    .chain(std::iter::once(field))
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
    }
}

#[test]
fn readme_documents_every_config_key() {
    let mut keys = Vec::new();
    collect(Vec::new(), &mut keys);
    assert!(keys.len() > 40, "introspection found too few keys: {keys:?}");
    assert!(keys.contains(&"inactivity.overrides[].churn_after".to_string()), "{keys:?}");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let missing: Vec<_> = keys.iter().filter(|k| !readme.contains(&format!("| `{k}` |"))).collect();
    assert!(missing.is_empty(), "README.md's configuration table lacks: {missing:?}");
    // And nothing documented that does not exist.
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|k| k.contains('.') && !k.starts_with("cxpulse"))
        .collect();
    let stale: Vec<_> = documented.iter().filter(|k| !keys.iter().any(|x| x == *k)).collect();
    assert!(stale.is_empty(), "README.md documents keys that do not exist: {stale:?}");
}
