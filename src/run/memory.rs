//! How much memory a run will need, estimated from its shapes before anything is allocated,
//! and how much the machine has. A run that would not fit is refused as a failed run naming
//! both numbers, so that `n_train: 1e12` or `patterns: 1e9` cannot abort the whole sweep on an
//! allocation failure (and every rerun with it).
//!
//! The model counts the large buffers each stage holds at its peak, in the backends' f32 (the
//! host factorizations in f64), plus the process's own footprint. It was fitted to the peak
//! RSS of fresh processes at the fig1, table1-mid and table1 sizes (README, "Memory": the
//! estimate is within 0.8-1.5x of the measured peak for every solver).

use crate::data::{self, Shapes};
use crate::manifest::{Algorithm, RunConfig};
use admm_engine::adam::AdamOptions;
use admm_engine::admm::usolve::{Precond, USolverSpec};

/// The process before any run: binary, allocator arenas, thread pools (measured: 78 MiB).
const BASE: u64 = 80 << 20;
const F32: u64 = 4;
const F64: u64 = 8;
/// The environment variable that overrides the memory available (bytes with an optional
/// K/M/G/T suffix, powers of 1024), or `off` to skip the check.
pub const LIMIT_VAR: &str = "ADMM_RUNNER_MEMORY_LIMIT";

/// A run's estimated peak memory, by part.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub parts: Vec<(&'static str, u64)>,
}

impl Estimate {
    pub fn bytes(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |acc, (_, b)| acc.saturating_add(*b))
    }

    /// "3.2 GiB (data 1.0 GiB, problem 1.8 GiB, ...)".
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|(name, b)| format!("{name} {}", human(*b)))
            .collect();
        format!("{} ({})", human(self.bytes()), parts.join(", "))
    }
}

/// Memory the machine can give a run, and where that number comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Available {
    pub bytes: u64,
    pub source: String,
}

/// The estimate for `cfg`, reading `.npy` headers for their shapes (errors name the file).
pub fn estimate(cfg: &RunConfig) -> Result<Estimate, data::DataError> {
    Ok(estimate_for(cfg, data::shapes(&cfg.data)?))
}

/// The estimate for `cfg` at the given data shapes.
pub fn estimate_for(cfg: &RunConfig, s: Shapes) -> Estimate {
    let mut parts = vec![("process", BASE), ("data", dataset_bytes(s))];
    // C outputs widen every block matrix to 2PC columns: counted as PC patterns. The classes
    // of `.npy` labels are known only once read, so those count as one output.
    let outputs = match cfg.data.source {
        data::DataSource::Npy => 1,
        _ => cfg
            .problem
            .loss
            .outputs(cfg.data.classes.len())
            .unwrap_or(1),
    };
    let columns = cfg.problem.patterns.saturating_mul(outputs);
    match cfg.solver.method.algorithm() {
        Algorithm::Admm(_, spec) => {
            let d = (s.d as u64).saturating_add(u64::from(cfg.problem.bias));
            let dims = Dims {
                n: s.n as u64,
                d,
                p: columns as u64,
                n_test: s.n_test as u64,
            };
            parts.push(("problem", dims.problem()));
            parts.push(("admm state", dims.admm_state()));
            parts.push(("u-solver", dims.usolver(&spec)));
        }
        Algorithm::Adam(opts) => parts.push(("mlp", adam_bytes(s, &opts, columns))),
    }
    Estimate { parts }
}

/// The loaded data set: X, y, X_test, y_test in f32 (kept for the next run of the sweep).
fn dataset_bytes(s: Shapes) -> u64 {
    let rows = (s.n as u64).saturating_add(s.n_test as u64);
    F32.saturating_mul(rows)
        .saturating_mul((s.d as u64).saturating_add(1))
}

/// The ADMM problem's sizes: n examples, d features (with bias), P patterns.
struct Dims {
    n: u64,
    d: u64,
    p: u64,
    n_test: u64,
}

/// a * b * c ... without overflow (an absurd shape saturates, and is refused).
fn prod(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |acc, &x| acc.saturating_mul(x))
}

fn sum(xs: &[u64]) -> u64 {
    xs.iter().fold(0u64, |acc, &x| acc.saturating_add(x))
}

impl Dims {
    /// `Problem::new`: the host X, the device X and X^T, one upload's transient copy, K = X^T X,
    /// the test set on host and device, the mask, its signs and [S, S], the f64 mask read back
    /// for the duplicate check, and the gates.
    fn problem(&self) -> u64 {
        let (n, d, p) = (self.n, self.d, self.p);
        sum(&[
            prod(&[4, F32, n, d]),
            prod(&[F32, d, d]),
            prod(&[2, F32, self.n_test, d]),
            prod(&[4, F32, n, p]),
            prod(&[F64, n, p]),
            prod(&[F32, d, p]),
        ])
    }

    /// u, v, lambda (d x 2P); the slack s, its dual nu and two n x 2P products per iteration.
    fn admm_state(&self) -> u64 {
        sum(&[
            prod(&[3, F32, self.d, 2, self.p]),
            prod(&[4, F32, self.n, 2, self.p]),
        ])
    }

    /// The u-solver's own buffers and factorizations.
    fn usolver(&self, spec: &USolverSpec) -> u64 {
        let (n, d, p) = (self.n, self.d, self.p);
        let dim = prod(&[2, d, p]);
        // CG's vectors (x, r, z, p, A p and one spare) and A's two n x P products.
        let cg = sum(&[prod(&[6, F32, dim]), prod(&[2, F32, n, 2, p])]);
        match *spec {
            // Refused before anything is formed when 2dP is above max_dim.
            USolverSpec::Exact(o) if dim > o.max_dim as u64 => 0,
            // F (n x dP) and its Gram matrix, K, A and its Cholesky factor, all f64.
            USolverSpec::Exact(_) => sum(&[
                prod(&[F64, n, d, p]),
                prod(&[F64, d, p, d, p]),
                prod(&[F64, d, d]),
                prod(&[2, F64, dim, dim]),
            ]),
            USolverSpec::Cg(_, Precond::None) => cg,
            // diag(A) needs the squares of X (n x d) once.
            USolverSpec::Cg(_, Precond::Diag) => sum(&[cg, prod(&[F32, n, d])]),
            // Omega, Y, Y + nu Omega and B (r x 2dP, f32), then B on the host, its f64 copy
            // and the thin SVD's U (f64).
            USolverSpec::Cg(_, Precond::Nystrom(o)) => {
                sum(&[cg, prod(&[4 * F32 + 3 * F64, o.rank as u64, dim])])
            }
            // I + K, its Cholesky factor, inverse and a spare in f64; the f32 inverse on host
            // and device.
            USolverSpec::Cg(_, Precond::BlockJacobi) => {
                sum(&[cg, prod(&[4 * F64 + 2 * F32, d, d])])
            }
            // The block's gradient and trial points (d x 2P) and X times the blocks of one
            // pass (n x 2 bs k).
            USolverSpec::Rbcd(o) => sum(&[
                prod(&[4, F32, d, 2, p]),
                prod(&[4, F32, n, 2, o.block_size as u64, o.blocks_per_pass as u64]),
            ]),
        }
    }
}

/// The Adam baseline: the data on the device (with one staging copy), parameters with their
/// gradients and two moments, and a batch's activations.
fn adam_bytes(s: Shapes, opts: &AdamOptions, patterns: usize) -> u64 {
    // Every size saturates: an absurd shape (from an .npy header) is refused, not a panic.
    let width = opts.width.unwrap_or(patterns.saturating_mul(2)) as u64;
    let d = (s.d as u64).saturating_add(1);
    sum(&[
        prod(&[2, F32, sum(&[s.n as u64, s.n_test as u64]), d]),
        prod(&[4, F32, d.saturating_add(1), width]),
        prod(&[4, F32, opts.batch_size as u64, width]),
    ])
}

/// Memory available to a run: `ADMM_RUNNER_MEMORY_LIMIT` when set, else the smallest of the
/// cgroup's remaining allowance (v2 `memory.max - memory.current`, or v1's limit and usage)
/// and the kernel's MemAvailable. `Ok(None)`: no limit known, or the check is switched off.
pub fn available() -> Result<Option<Available>, String> {
    if let Ok(v) = std::env::var(LIMIT_VAR) {
        if v.trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bytes = parse_bytes(&v)
            .ok_or_else(|| format!("{LIMIT_VAR}={v}: expected bytes such as 8G, 512M or off"))?;
        return Ok(Some(Available {
            bytes,
            source: format!("{LIMIT_VAR}={v}"),
        }));
    }
    Ok([cgroup_v2(), cgroup_v1(), mem_available()]
        .into_iter()
        .flatten()
        .min_by_key(|a| a.bytes))
}

/// "8G", "512 MiB", "1000000": bytes (powers of 1024).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().ok()?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let bytes = num * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The cgroup v2 group of this process (`0::/path` in /proc/self/cgroup).
fn cgroup_v2() -> Option<Available> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let dir = format!("/sys/fs/cgroup{}", rel.trim_end_matches('/'));
    let max = read_u64(&format!("{dir}/memory.max"))?; // "max" (no limit) does not parse
    let used = read_u64(&format!("{dir}/memory.current")).unwrap_or(0);
    Some(Available {
        bytes: max.saturating_sub(used),
        source: format!(
            "cgroup limit {} ({dir}/memory.max) less {} in use",
            human(max),
            human(used)
        ),
    })
}

fn cgroup_v1() -> Option<Available> {
    let dir = "/sys/fs/cgroup/memory";
    let max = read_u64(&format!("{dir}/memory.limit_in_bytes"))?;
    // v1 reports "no limit" as a huge number near i64::MAX.
    if max >= 1 << 60 {
        return None;
    }
    let used = read_u64(&format!("{dir}/memory.usage_in_bytes")).unwrap_or(0);
    Some(Available {
        bytes: max.saturating_sub(used),
        source: format!("cgroup limit {} less {} in use", human(max), human(used)),
    })
}

fn mem_available() -> Option<Available> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(Available {
        bytes: kib * 1024,
        source: "MemAvailable in /proc/meminfo".into(),
    })
}

/// Refuses a run whose estimate is above what is available: the reason names both.
pub fn check(est: &Estimate) -> Result<(), String> {
    if let Some(avail) = available()? {
        if est.bytes() > avail.bytes {
            return Err(format!(
                "too large for this machine: needs about {}, but {} is available ({}); \
                 reduce data.n_train, problem.patterns or the solver's rank, or set {LIMIT_VAR}",
                est.describe(),
                human(avail.bytes),
                avail.source
            ));
        }
    }
    Ok(())
}

/// Bytes in binary units: "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_in_binary_units() {
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("8G"), Some(8 << 30));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5k"), Some(1536));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("3X"), None);
    }

    #[test]
    fn human_sizes_pick_the_largest_unit_below_1024() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
