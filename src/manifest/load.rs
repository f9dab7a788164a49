//! Reading a manifest: the file (YAML or TOML, duplicate keys refused), `ADMM_SET_*`
//! environment variables and `--set` overrides layered by figment, and the messages that
//! name the file, the key and the reason.

use super::dupkeys;
use super::ManifestError;
use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use figment::value::Value;
use figment::Figment;
use std::path::Path;

/// Prefix of environment variables that override manifest keys: `ADMM_SET_SOLVER__ADMM__RHO=0.1`
/// sets `solver.admm.rho` (a double underscore separates nested keys).
pub const ENV_PREFIX: &str = "ADMM_SET_";

/// Parses `--set key=value` arguments; values are parsed like environment values
/// (numbers, booleans, `[lists]`, `{maps}`, else strings).
pub fn parse_overrides(args: &[String]) -> Result<Vec<(String, Value)>, ManifestError> {
    args.iter()
        .map(|arg| {
            let (k, v) = arg
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ManifestError::BadOverride { arg: arg.clone() })?;
            let value: Value = v.parse().unwrap_or_else(|never| match never {});
            let value = match &value {
                // figment leaves exponent notation (`1e-3`) a string: a number is meant.
                Value::String(_, text) => text.parse::<f64>().map_or(value.clone(), exact_number),
                _ => value,
            };
            Ok((canonical_key(k.trim(), &value), value))
        })
        .collect()
}

/// A number given in exponent notation: an integer when it is one exactly (`1e3` for
/// `data.n_train`, which takes integers only), else the float. A float key reads an integer
/// as the same number, so its run id is unchanged.
fn exact_number(x: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact
    match (x.fract() == 0.0 && x.abs() < EXACT, x >= 0.0) {
        (true, true) => Value::from(x as u64),
        (true, false) => Value::from(x as i64),
        (false, _) => Value::from(x),
    }
}

/// `solver: cg` in a sweep or `--set` means `solver.name: cg`.
pub(super) fn canonical_key(key: &str, value: &Value) -> String {
    if key == "solver" && matches!(value, Value::String(..)) {
        "solver.name".to_string()
    } else {
        key.to_string()
    }
}

/// The characters an experiment name may use (it becomes one path component of the results
/// and plots folders).
pub const NAME_CHARS: &str = "A-Z a-z 0-9 . _ -";

/// The experiment name: the manifest's `name`, else the file stem. Either must be one safe
/// path component: only [A-Za-z0-9._-], not empty, not starting with '.', so that results and
/// plots never land outside `--out` and `--plots`.
pub(super) fn experiment_name(path: &Path, name: Option<&str>) -> Result<String, ManifestError> {
    let (text, whence) = match name {
        Some(n) => (n.to_string(), None),
        None => (
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Some("the file stem is used when `name` is absent; set `name:` to a safe name"),
        ),
    };
    let why = if text.is_empty() {
        Some("is empty".to_string())
    } else if text.starts_with('.') {
        Some(format!("{text:?} starts with '.'"))
    } else {
        text.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("{text:?} contains {c:?}"))
    };
    match why {
        None => Ok(text),
        Some(why) => Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            key: "name".into(),
            reason: format!(
                "the experiment name {why}: it names a results folder, so it must be one path \
                 component of the characters {NAME_CHARS} only, not empty and not starting with \
                 '.'{}",
                whence.map(|w| format!(" ({w})")).unwrap_or_default()
            ),
        }),
    }
}

pub(super) fn base_figment(path: &Path) -> Result<Figment, ManifestError> {
    let text = read_text(path)?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "yaml" | "yml" | "toml") {
        return Err(ManifestError::Extension {
            path: path.to_path_buf(),
        });
    }
    let fig = match ext {
        "toml" => Figment::from(Toml::string(&text)),
        _ => {
            reject_duplicate_keys(path, &text)?;
            Figment::from(Yaml::string(&text))
        }
    };
    Ok(fig.merge(Env::prefixed(ENV_PREFIX).split("__")))
}

/// The most bytes a manifest may hold (real ones are a few kilobytes).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The deepest nesting a manifest may use (real ones use under ten levels): the YAML parser
/// recurses per level, so a file nested 200k deep would take minutes.
pub const MAX_DEPTH: usize = 64;

/// A manifest's text: a regular file (a FIFO or a device is named as such rather than
/// blocking or being "no such file"), at most `MAX_MANIFEST_BYTES`, UTF-8, with a leading
/// byte-order mark dropped (editors on Windows write one), nested at most `MAX_DEPTH` deep.
fn read_text(path: &Path) -> Result<String, ManifestError> {
    let read_err = |reason: String| ManifestError::Read {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(read_err("no such file".into()))
        }
        Ok(m) if m.is_dir() => return Err(read_err("is a directory, not a manifest file".into())),
        _ => {}
    }
    let bytes = crate::results::safe::read_regular(path, MAX_MANIFEST_BYTES)
        .map_err(|e| read_err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        read_err(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if let Some((depth, line)) = too_deep(&text) {
        return Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            key: "(top level)".into(),
            reason: format!(
                "nested more than {MAX_DEPTH} levels deep (at least {depth} at line {line}): \
                 a manifest is a few levels of settings"
            ),
        });
    }
    Ok(text)
}

/// An upper bound on each line's nesting, checked before any parser sees the text: open flow
/// brackets (`[`, `{`, outside quotes and comments) plus the line's block depth (its
/// indentation, and `- ` or `? ` item markers that open a level on the same line). Some((depth,
/// line)) when it passes `MAX_DEPTH`.
pub(super) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut open = 0usize;
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        let mut markers = 0;
        let mut rest = body;
        while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            markers += 1;
            rest = r.trim_start_matches(' ');
        }
        let mut quote = None;
        let mut peak = open;
        for c in rest.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    open += 1;
                    peak = peak.max(open);
                }
                (None, ']' | '}') => open = open.saturating_sub(1),
                _ => {}
            }
        }
        let depth = peak + markers + indent / 2;
        if depth > MAX_DEPTH {
            return Some((depth, i + 1));
        }
    }
    None
}

/// A YAML mapping that repeats a key is an error (figment would silently keep the last).
fn reject_duplicate_keys(path: &Path, text: &str) -> Result<(), ManifestError> {
    let Some((key, lines)) = dupkeys::first_duplicate(text) else {
        return Ok(());
    };
    let at = match lines.as_slice() {
        [first, .., second] => format!(" (lines {first} and {second})"),
        _ => String::new(),
    };
    Err(ManifestError::Invalid {
        path: path.to_path_buf(),
        key,
        reason: format!("the key is given twice in one mapping{at}: keep one"),
    })
}

/// Merges the `--set` overrides over `fig`. `sweep.<axis>=[...]` adds or replaces one axis:
/// the axis name is one dotted key of the `sweep:` map, not a path to nest.
pub(super) fn with_overrides(mut fig: Figment, overrides: &[(String, Value)]) -> Figment {
    for (key, value) in overrides {
        fig = match key.strip_prefix("sweep.") {
            Some(axis) => {
                let mut dict = figment::value::Dict::new();
                dict.insert(axis.to_string(), as_list(value));
                fig.merge(Serialized::default("sweep", dict))
            }
            None => fig.merge(Serialized::default(key, value)),
        };
    }
    fig
}

/// An axis's values: a list as it is, one value as a list of one.
fn as_list(value: &Value) -> Value {
    match value {
        Value::Array(..) => value.clone(),
        one => Value::from(vec![one.clone()]),
    }
}

/// `--sweep KEY=a,b,c` as the override `--set sweep.KEY=[a,b,c]` (one axis more).
pub fn sweep_as_set(arg: &str) -> Result<String, ManifestError> {
    let (key, values) = arg
        .split_once('=')
        .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
        .ok_or_else(|| ManifestError::BadSweep { arg: arg.into() })?;
    Ok(format!("sweep.{}=[{}]", key.trim(), values.trim()))
}

/// Formats figment's errors as `file: key `a.b`: reason`, one per line.
pub(super) fn schema_error(path: &Path, err: figment::Error) -> ManifestError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let source = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                // Values set in code are the `--set` and sweep values, not the file's lines:
                // say so, so that a `--set` typo is not blamed on the manifest.
                Some(figment::Source::Code(_)) => {
                    format!("{} (a --set or sweep value)", path.display())
                }
                None => path.display().to_string(),
                Some(s) => s.to_string(),
            };
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            format!("{source}: key `{key}`: {}{}", e.kind, did_you_mean(&e.kind))
        })
        .collect();
    ManifestError::Schema(lines.join("\n"))
}

/// For an unknown key, the closest known one (" (did you mean `rho`?)"), when one is near.
fn did_you_mean(kind: &figment::error::Kind) -> String {
    let figment::error::Kind::UnknownField(given, expected) = kind else {
        return String::new();
    };
    let best = expected
        .iter()
        .map(|name| (edit_distance(given, name), *name))
        .min();
    match best {
        Some((d, name)) if d <= 2.max(given.len() / 3) => format!(" (did you mean `{name}`?)"),
        _ => String::new(),
    }
}

/// Levenshtein distance between two short strings (key names): insertions, deletions and
/// substitutions of one character each cost 1.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

pub(super) fn with_point(err: ManifestError, point: &[(String, Value)]) -> ManifestError {
    if point.is_empty() {
        return err;
    }
    let desc: Vec<String> = point
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect();
    ManifestError::Schema(format!("{err}\n  (in the sweep point {})", desc.join(", ")))
}

/// A short text for a figment value (used in messages).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(_, s) => s.clone(),
        // Integers as written (`seed=0`, not `U64(0)`), then floats.
        Value::Num(_, n) => n
            .to_u128()
            .map(|u| u.to_string())
            .or_else(|| n.to_i128().map(|i| i.to_string()))
            .or_else(|| n.to_f64().map(|f| f.to_string()))
            .unwrap_or_else(|| format!("{n:?}")),
        Value::Bool(_, b) => b.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}
