//! A small `.npy` reader (format 1.0-3.0, little-endian, C order) and the `npy` data source.
//!
//! Written by hand because the format is tiny: a magic string, a version, a header length, a
//! Python dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }` padded
//! with spaces, then the raw values.

use super::{DataConfig, DataError, Dataset};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Element types this reader decodes (all little-endian or single-byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    I4,
    I8,
    U1,
    I1,
    B1,
}

impl Dtype {
    fn parse(descr: &str) -> Result<Self, String> {
        Ok(match descr {
            "<f4" => Dtype::F4,
            "<f8" => Dtype::F8,
            "<i4" => Dtype::I4,
            "<i8" => Dtype::I8,
            "|u1" => Dtype::U1,
            "|i1" => Dtype::I1,
            "|b1" => Dtype::B1,
            d if d.starts_with('>') => {
                return Err(format!(
                    "dtype {d} is big-endian: save the array little-endian \
                     (numpy: a.astype(a.dtype.newbyteorder('<')))"
                ))
            }
            d => {
                return Err(format!(
                    "dtype {d} is not supported: use <f4 or <f8 (labels may also be <i4, \
                     <i8, |u1, |i1 or |b1)"
                ))
            }
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F8 | Dtype::I8 => 8,
            Dtype::F4 | Dtype::I4 => 4,
            Dtype::U1 | Dtype::I1 | Dtype::B1 => 1,
        }
    }

    /// One element from exactly `self.size()` bytes.
    fn decode(self, b: &[u8]) -> f64 {
        match self {
            Dtype::F8 => f64::from_le_bytes(array(b)),
            Dtype::F4 => f64::from(f32::from_le_bytes(array(b))),
            Dtype::I8 => i64::from_le_bytes(array(b)) as f64,
            Dtype::I4 => f64::from(i32::from_le_bytes(array(b))),
            Dtype::U1 | Dtype::B1 => f64::from(b[0]),
            Dtype::I1 => f64::from(i8::from_le_bytes([b[0]])),
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Dtype::F4 | Dtype::F8)
    }
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(b);
    a
}

/// A decoded array.
struct Array {
    values: Vec<f64>,
    shape: Vec<usize>,
    dtype: Dtype,
}

/// Reads an array of any supported dtype as f64 values (row-major) and its shape.
pub fn read_npy_f64(path: &Path) -> Result<(Vec<f64>, Vec<usize>), DataError> {
    let a = read_npy(path)?;
    Ok((a.values, a.shape))
}

fn read_npy(path: &Path) -> Result<Array, DataError> {
    let bytes = read_checked(path).map_err(|reason| DataError::file(path, reason))?;
    parse_npy(&bytes).map_err(|reason| DataError::file(path, reason))
}

/// The bytes of an `.npy` file, read only when it is a regular file (a FIFO would block,
/// `/dev/zero` never ends) whose length is what its header declares: the header is read and
/// checked first, so a file that claims (or holds) more data than its shape is refused before
/// anything large is read.
fn read_checked(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut file = crate::results::safe::open_regular(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut bytes = Vec::new();
    file.by_ref()
        .take(HEAD_LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let (header, data_start) = parse_header(&bytes)?;
    let need = data_bytes(&header)?;
    let have = len.saturating_sub(data_start as u64);
    if need != have {
        return Err(format!(
            "shape {:?} of {:?} needs {need} data bytes, the file has {have}",
            header.shape, header.dtype
        ));
    }
    let rest = len.saturating_sub(bytes.len() as u64);
    bytes
        .try_reserve_exact(rest as usize)
        .map_err(|_| format!("{len} bytes do not fit in memory"))?;
    file.take(rest)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 != len {
        return Err(format!(
            "the file changed while it was read ({} of {len} bytes)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The header (with its prefix) is read from at most this many bytes; real headers are under
/// a kilobyte.
const HEAD_LIMIT: u64 = 1 << 20;

/// The data bytes a header's shape and dtype declare (checked: an overflow is an error).
fn data_bytes(header: &Header) -> Result<u64, String> {
    header
        .shape
        .iter()
        .try_fold(header.dtype.size() as u64, |acc, &k| {
            acc.checked_mul(k as u64)
        })
        .ok_or_else(|| format!("shape {:?} is too large", header.shape))
}

fn parse_npy(bytes: &[u8]) -> Result<Array, String> {
    let (header, data_start) = parse_header(bytes)?;
    let data = &bytes[data_start..];
    let size = header.dtype.size();
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &k| acc.checked_mul(k))
        .filter(|c| c.checked_mul(size).is_some())
        .ok_or_else(|| format!("shape {:?} is too large", header.shape))?;
    if data.len() != count * size {
        return Err(format!(
            "shape {:?} of {:?} needs {} data bytes, the file has {}",
            header.shape,
            header.dtype,
            count * size,
            data.len()
        ));
    }
    Ok(Array {
        values: data
            .chunks_exact(size)
            .map(|b| header.dtype.decode(b))
            .collect(),
        shape: header.shape,
        dtype: header.dtype,
    })
}

/// The header of a `.npy` file and the offset where its data begins. `bytes` may be only the
/// start of the file (at least the header).
fn parse_header(bytes: &[u8]) -> Result<(Header, usize), String> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(array(&bytes[8..12])) as usize, 12),
        v => return Err(format!("unsupported .npy format version {v}.{}", bytes[7])),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("the header is cut short")?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    Ok((Header::parse(header)?, start + header_len))
}

/// The shape an `.npy` file declares, from its header alone: what the memory estimate needs
/// before anything is loaded.
pub fn read_shape(path: &Path) -> Result<Vec<usize>, DataError> {
    use std::io::Read;
    let file = crate::results::safe::open_regular(path).map_err(|e| DataError::file(path, e))?;
    let mut head = Vec::new();
    // Magic, version and length (12 bytes), then a header of at most 4 GiB; real headers are
    // under a kilobyte, so read a generous prefix and let `parse_header` say if it is cut.
    file.take(HEAD_LIMIT)
        .read_to_end(&mut head)
        .map_err(|e| DataError::file(path, e))?;
    parse_header(&head)
        .map(|(h, _)| h.shape)
        .map_err(|reason| DataError::file(path, reason))
}

/// The three keys of the header dict.
struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
}

impl Header {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let malformed = |what: &str| format!("malformed header ({what}): {text}");
        if !text.starts_with('{') || !text.ends_with('}') {
            return Err(malformed("not a dict"));
        }
        let descr = value_of(text, "descr")
            .and_then(quoted)
            .ok_or_else(|| malformed("no 'descr' string"))?;
        let fortran =
            value_of(text, "fortran_order").ok_or_else(|| malformed("no 'fortran_order'"))?;
        if fortran.starts_with("True") {
            return Err("fortran_order arrays are not supported: save in C order \
                        (numpy: np.save(f, np.ascontiguousarray(a)))"
                .into());
        }
        if !fortran.starts_with("False") {
            return Err(malformed("'fortran_order' is not True or False"));
        }
        let shape = value_of(text, "shape")
            .and_then(parse_shape)
            .ok_or_else(|| malformed("no 'shape' tuple of integers"))?;
        Ok(Header {
            dtype: Dtype::parse(descr)?,
            shape,
        })
    }
}

/// The text after `'key':`, up to the end of the header.
fn value_of<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let quoted_key = ["'", key, "'"].concat();
    let pos = header.find(&quoted_key)?;
    let rest = header[pos + quoted_key.len()..]
        .trim_start()
        .strip_prefix(':')?;
    Some(rest.trim_start())
}

/// The leading quoted string of `text`.
fn quoted(text: &str) -> Option<&str> {
    let q = text.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let rest = &text[1..];
    Some(&rest[..rest.find(q)?])
}

/// A tuple of integers such as `(3, 2)`, `(3,)` or `()`.
fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let rest = text.strip_prefix('(')?;
    let inner = &rest[..rest.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

/// The `npy` source: X (n x d) and y (n) from the user's own files, optionally a test pair.
///
/// The files are the user's split, so rows are taken in order: `n_train` (and `n_test`) = 0
/// means every row, otherwise the first rows. Labels may be +1/-1 or 0/1 (0 becomes -1) for two
/// classes, or class indices 0..K-1 for K >= 3 (K is read from the training labels; the test
/// labels are read the same way).
pub fn load(cfg: &DataConfig) -> Result<Dataset, DataError> {
    let need = |p: &Option<PathBuf>, key: &str| {
        p.clone()
            .ok_or_else(|| DataError::config(format!("source npy needs data.{key}")))
    };
    let train = Pair::read(
        &need(&cfg.x, "x")?,
        &need(&cfg.y, "y")?,
        cfg.n_train,
        "n_train",
        None,
    )?;
    if train.y.is_empty() {
        return Err(DataError::file(
            cfg.x.as_deref().unwrap_or(Path::new("")),
            "has 0 rows: the training set needs at least one example",
        ));
    }
    if train.d == 0 {
        return Err(DataError::file(
            cfg.x.as_deref().unwrap_or(Path::new("")),
            "has 0 columns: the data needs at least one feature",
        ));
    }
    let test = match (&cfg.x_test, &cfg.y_test) {
        (Some(xt), Some(yt)) => {
            let test = Pair::read(xt, yt, cfg.n_test, "n_test", Some(train.kind))?;
            if test.d != train.d {
                return Err(DataError::file(
                    xt,
                    format!("has {} columns but the training X has {}", test.d, train.d),
                ));
            }
            test
        }
        (None, None) => Pair::empty(train.d, train.kind),
        _ => {
            return Err(DataError::config(
                "give both data.x_test and data.y_test, or neither",
            ))
        }
    };
    Ok(Dataset {
        n: train.y.len(),
        d: train.d,
        x: train.x,
        y: train.y,
        n_test: test.y.len(),
        x_test: test.x,
        y_test: test.y,
        classes: train.kind.classes(),
    })
}

/// How a label file encodes classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelKind {
    /// +1/-1 or 0/1.
    Binary,
    /// Class indices 0..K-1, K >= 3.
    Indices(usize),
}

impl LabelKind {
    /// Binary when every value is -1, 0 or 1; class indices otherwise (K = the largest + 1).
    /// Training labels that are no class at all (NaN, 0.5, -2), or class indices that leave a
    /// class without an example ({2, 3} would make a 4-class model with two empty classes),
    /// are refused, naming the value and its index.
    fn of(values: &[f64]) -> Result<Self, String> {
        if values.iter().all(|v| [-1.0, 0.0, 1.0].contains(v)) {
            return Ok(LabelKind::Binary);
        }
        let bad = |v: f64| !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 65536.0);
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, &v)| bad(v) && v != -1.0)
        {
            return Err(format!(
                "label {v} at index {i} is not a class: labels must be +1/-1, 0/1, or the \
                 class indices 0..K-1"
            ));
        }
        if let Some(i) = values.iter().position(|&v| v == -1.0) {
            return Err(format!(
                "label -1 at index {i} mixed with class indices above 1: labels must be +1/-1, \
                 0/1, or the class indices 0..K-1"
            ));
        }
        let top = values.iter().copied().fold(0.0, f64::max) as usize;
        let mut seen = vec![false; top + 1];
        for &v in values {
            seen[v as usize] = true;
        }
        let empty: Vec<usize> = (0..=top).filter(|&k| !seen[k]).collect();
        if !empty.is_empty() {
            return Err(format!(
                "the labels are class indices up to {top} (K = {}), but class(es) {empty:?} have \
                 no example: number the classes 0..K-1 without gaps (two classes: +1/-1 or 0/1)",
                top + 1
            ));
        }
        Ok(LabelKind::Indices(top + 1))
    }

    fn classes(self) -> usize {
        match self {
            LabelKind::Binary => 2,
            LabelKind::Indices(k) => k,
        }
    }
}

/// Features and labels read from an X file and a y file.
struct Pair {
    d: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    kind: LabelKind,
}

impl Pair {
    fn empty(d: usize, kind: LabelKind) -> Self {
        Pair {
            d,
            x: Vec::new(),
            y: Vec::new(),
            kind,
        }
    }

    /// Reads X and y, checks dtypes, shapes and labels, keeps the first `limit` rows (0 = all).
    /// The labels are read as `kind`, or as the kind they look like when None.
    fn read(
        xp: &Path,
        yp: &Path,
        limit: usize,
        key: &str,
        kind: Option<LabelKind>,
    ) -> Result<Self, DataError> {
        let x = read_npy(xp)?;
        let [n, d] = x.shape[..] else {
            return Err(DataError::file(
                xp,
                format!("X must be 2-D (n x d), got shape {:?}", x.shape),
            ));
        };
        if !x.dtype.is_float() {
            return Err(DataError::file(
                xp,
                format!("X must be <f4 or <f8, got {:?}", x.dtype),
            ));
        }
        let y = read_npy(yp)?;
        let [m] = y.shape[..] else {
            return Err(DataError::file(
                yp,
                format!("y must be 1-D (shape (n,)), got shape {:?}", y.shape),
            ));
        };
        if m != n {
            return Err(DataError::config(format!(
                "{} has {n} rows but {} has {m}",
                xp.display(),
                yp.display()
            )));
        }
        if limit > n {
            return Err(DataError::file(
                xp,
                format!("{key}={limit} but the file has only {n} rows"),
            ));
        }
        let keep = if limit == 0 { n } else { limit };
        if let Some(i) = x.values[..keep * d].iter().position(|v| !v.is_finite()) {
            return Err(DataError::file(
                xp,
                format!(
                    "value {} at row {}, column {} is not finite",
                    x.values[i],
                    i / d,
                    i % d
                ),
            ));
        }
        let kind = match kind {
            Some(kind) => kind,
            None => LabelKind::of(&y.values[..keep]).map_err(|why| DataError::file(yp, why))?,
        };
        Ok(Pair {
            d,
            x: x.values[..keep * d].iter().map(|&v| v as f32).collect(),
            y: labels(&y.values[..keep], yp, kind)?,
            kind,
        })
    }
}

/// +1/-1 labels from +1/-1 or 0/1 values (a mix of 0 and -1 is ambiguous and rejected), or
/// class indices checked against K.
fn labels(values: &[f64], path: &Path, kind: LabelKind) -> Result<Vec<f32>, DataError> {
    if let LabelKind::Indices(k) = kind {
        return values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v >= 0.0 && v.fract() == 0.0 && (v as usize) < k {
                    Ok(v as f32)
                } else {
                    Err(DataError::file(
                        path,
                        format!(
                            "label {v} at index {i} is not a class: with more than two classes \
                             labels must be the integers 0..{} (K = {k}, from the training labels)",
                            k.saturating_sub(1)
                        ),
                    ))
                }
            })
            .collect();
    }
    let zero_one = !values.contains(&-1.0);
    let allowed = if zero_one { "0/1" } else { "+1/-1" };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| match v {
            1.0 => Ok(1.0),
            -1.0 => Ok(-1.0),
            0.0 if zero_one => Ok(-1.0),
            v => Err(DataError::file(
                path,
                format!("label {v} at index {i} is not a class: labels must be +1/-1 or 0/1 (this file uses {allowed})"),
            )),
        })
        .collect()
}
