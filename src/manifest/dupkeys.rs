//! Duplicate keys in a YAML mapping. figment's YAML provider keeps the last of two equal keys
//! silently; a manifest that says `rho` twice is a mistake, so the file is read once more here
//! and every mapping is walked for a key seen before.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// The dotted path of the first key that a mapping repeats, and the lines where it stands
/// (both, when they can be found: block mappings; empty for flow mappings and lists).
pub fn first_duplicate(text: &str) -> Option<(String, Vec<usize>)> {
    let found = RefCell::new(None);
    // A YAML syntax error is figment's to report: only a duplicate is ours.
    let _ = Node {
        path: String::new(),
        found: &found,
    }
    .deserialize(serde_yaml::Deserializer::from_str(text));
    let path = found.into_inner()?;
    let lines = lines_of(text, &path);
    Some((path, lines))
}

/// One value at `path`; records the first duplicate key in `found` and stops.
struct Node<'a> {
    path: String,
    found: &'a RefCell<Option<String>>,
}

impl Node<'_> {
    fn child(&self, part: &str) -> Self {
        Node {
            path: if self.path.is_empty() {
                part.to_string()
            } else if part.starts_with('[') {
                format!("{}{part}", self.path)
            } else {
                format!("{}.{part}", self.path)
            },
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! leaf {
    ($($f:ident: $t:ty),*) => {
        $(fn $f<E: de::Error>(self, _: $t) -> Result<(), E> { Ok(()) })*
    };
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    leaf!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str,
          visit_i128: i128, visit_u128: u128, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(self.child(&format!("[{i}]")))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let text = match &key {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| format!("{other:?}")),
            };
            let child = self.child(&text);
            if !seen.insert(key) {
                *self.found.borrow_mut() = Some(child.path.clone());
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!tag x`): its content cannot hold a mapping that figment reads.
        let (IgnoredAny, variant) = data.variant()?;
        de::VariantAccess::newtype_variant::<IgnoredAny>(variant).map(|_| ())
    }
}

/// The 1-based lines of block-mapping keys whose dotted path is `path` (indentation tracked
/// line by line; keys inside lists and flow mappings are not found).
fn lines_of(text: &str, path: &str) -> Vec<usize> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut lines = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') || body.starts_with("---") {
            continue;
        }
        let indent = line.len() - body.len();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if body.starts_with('-') {
            // A list item: what follows is not addressed by a dotted key path.
            stack.push((indent, "\u{0}".into()));
            continue;
        }
        let Some((key, _)) = body.split_once(':') else {
            continue;
        };
        let key = key
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        let mut full: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        full.push(&key);
        if full.join(".") == path {
            lines.push(no + 1);
        }
        stack.push((indent, key));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::first_duplicate;

    #[test]
    fn a_repeated_key_is_found_with_its_path_and_lines() {
        let text = "data: {source: synthetic}\nsolver:\n  name: cg\n  admm:\n    rho: 1\n    \
                    gamma: 1\n    rho: 2\n";
        let (path, lines) = first_duplicate(text).unwrap();
        assert_eq!(path, "solver.admm.rho");
        assert_eq!(lines, vec![5, 7]);
        assert_eq!(first_duplicate("a: 1\nb: {c: 1, d: 2}\n"), None);
        let (path, _) = first_duplicate("a: {c: 1, c: 2}\n").unwrap();
        assert_eq!(path, "a.c");
        let (path, _) = first_duplicate("v:\n  - {x: 1}\n  - {x: 1, x: 2}\n").unwrap();
        assert_eq!(path, "v[1].x");
        assert_eq!(first_duplicate("a: [unclosed\n"), None, "syntax: figment's");
    }
}
