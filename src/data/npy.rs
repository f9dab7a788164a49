//! A small `.npy` reader (format 1.0-3.0, little-endian, C order) and the `npy` data source.

use super::{DataConfig, DataError, Dataset};
use std::path::Path;

/// Reads an array as f64 values (row-major) and its shape.
pub fn read_npy_f64(path: &Path) -> Result<(Vec<f64>, Vec<usize>), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::file(path, e))?;
    let bad = |reason: String| DataError::file(path, reason);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .ok_or_else(|| bad("header is cut short".into()))?;
    let descr = header_value(&header, "descr")
        .and_then(quoted)
        .ok_or_else(|| bad(format!("header has no 'descr': {header}")))?;
    if header_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad(
            "fortran_order arrays are not supported: save with C order".into(),
        ));
    }
    let shape =
        parse_shape(&header).ok_or_else(|| bad(format!("cannot read 'shape' in {header}")))?;
    let count: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    let (size, decode): (usize, fn(&[u8]) -> f64) = match descr.as_str() {
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
        "<f4" => (4, |b| {
            f64::from(f32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        }),
        "<i8" => (8, |b| {
            i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f64
        }),
        "<i4" => (4, |b| {
            f64::from(i32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        }),
        "|u1" | "|b1" => (1, |b| f64::from(b[0])),
        "|i1" => (1, |b| f64::from(b[0] as i8)),
        other => {
            return Err(bad(format!(
                "dtype {other} is not supported (use little-endian f4/f8, i4/i8, u1/i1 or bool)"
            )))
        }
    };
    if data.len() != count * size {
        return Err(bad(format!(
            "shape {shape:?} of {descr} needs {} data bytes, the file has {}",
            count * size,
            data.len()
        )));
    }
    Ok((data.chunks(size).map(decode).collect(), shape))
}

/// The text after `'key':` up to the next top-level comma.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pos = header.find(&format!("'{key}'"))?;
    let rest = header[pos + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    Some(rest.trim_start())
}

/// The leading quoted string of `text`.
fn quoted(text: &str) -> Option<String> {
    let q = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &text[1..];
    Some(rest[..rest.find(q)?].to_string())
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let rest = header_value(header, "shape")?.strip_prefix('(')?;
    let inner = &rest[..rest.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

/// The `npy` source: X (n x d) and y (n), optionally a test pair; labels +1/-1 or 0/1.
pub fn load(cfg: &DataConfig) -> Result<Dataset, DataError> {
    let need = |p: &Option<std::path::PathBuf>, key: &str| {
        p.clone()
            .ok_or_else(|| DataError::Config(format!("source npy needs data.{key}")))
    };
    let (x, y, n, d) = pair(&need(&cfg.x, "x")?, &need(&cfg.y, "y")?, cfg.n_train)?;
    let (x_test, y_test, n_test) = match (&cfg.x_test, &cfg.y_test) {
        (Some(xt), Some(yt)) => {
            let (x_test, y_test, n_test, d_test) = pair(xt, yt, cfg.n_test)?;
            if d_test != d {
                return Err(DataError::file(
                    xt,
                    format!("has {d_test} columns but the training X has {d}"),
                ));
            }
            (x_test, y_test, n_test)
        }
        (None, None) => (Vec::new(), Vec::new(), 0),
        _ => {
            return Err(DataError::Config(
                "give both data.x_test and data.y_test, or neither".into(),
            ))
        }
    };
    Ok(Dataset {
        n,
        d,
        x,
        y,
        n_test,
        x_test,
        y_test,
    })
}

/// Reads X and y, checks shapes and labels, keeps the first `limit` rows (0 = all).
fn pair(
    xp: &Path,
    yp: &Path,
    limit: usize,
) -> Result<(Vec<f32>, Vec<f32>, usize, usize), DataError> {
    let (x, xs) = read_npy_f64(xp)?;
    let (y, ys) = read_npy_f64(yp)?;
    let [n, d] = xs[..] else {
        return Err(DataError::file(
            xp,
            format!("X must be 2-D, got shape {xs:?}"),
        ));
    };
    if ys.len() != 1 || ys[0] != n {
        return Err(DataError::file(
            yp,
            format!(
                "y must have shape ({n},) to match {}, got {ys:?}",
                xp.display()
            ),
        ));
    }
    let labels = y
        .iter()
        .enumerate()
        .map(|(i, &v)| match v {
            1.0 => Ok(1.0),
            -1.0 | 0.0 => Ok(-1.0),
            v => Err(DataError::file(
                yp,
                format!("label {v} at index {i} is not +1/-1 or 0/1"),
            )),
        })
        .collect::<Result<Vec<f32>, _>>()?;
    let keep = if limit == 0 { n } else { limit.min(n) };
    if limit > n {
        return Err(DataError::file(
            xp,
            format!("{limit} rows wanted, the file has {n}"),
        ));
    }
    let x = x[..keep * d].iter().map(|&v| v as f32).collect();
    Ok((x, labels[..keep].to_vec(), keep, d))
}
