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
                Value::String(_, text) => text.parse::<f64>().map_or(value.clone(), Value::from),
                _ => value,
            };
            Ok((canonical_key(k.trim(), &value), value))
        })
        .collect()
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

pub(super) fn with_overrides(mut fig: Figment, overrides: &[(String, Value)]) -> Figment {
    for (key, value) in overrides {
        fig = fig.merge(Serialized::default(key, value));
    }
    fig
}

/// Formats figment's errors as `file: key `a.b`: reason`, one per line.
pub(super) fn schema_error(path: &Path, err: figment::Error) -> ManifestError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let source = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                // Values set in code are the `--set` and sweep values, not our source lines.
                Some(figment::Source::Code(_)) | None => path.display().to_string(),
                Some(s) => s.to_string(),
            };
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            format!("{source}: key `{key}`: {}", e.kind)
        })
        .collect();
    ManifestError::Schema(lines.join("\n"))
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
        Value::Num(_, n) => n
            .to_f64()
            .map(|f| f.to_string())
            .unwrap_or_else(|| format!("{n:?}")),
        Value::Bool(_, b) => b.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}
