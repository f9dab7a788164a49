//! What a Parquet file must look like before we decode it. A Parquet file says in its footer
//! how many rows and columns it holds and how large its pages are once decompressed; a few
//! hundred kilobytes can describe gigabytes (a column of millions of equal values compresses
//! to almost nothing). Every reader of our results (`show`, `plot`, the resume check, the
//! path and condition tables) names the largest file of its kind we ever write, and a file
//! whose footer claims more is refused, naming the limit, before a single page is read.

use polars::prelude::FileMetadata;

/// The most a Parquet file of one kind may claim. Each bound is far above what the runner
/// writes, so that only a file we did not write (or a hand-made bomb) meets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadLimits {
    /// What the file is, for the message ("a summary").
    pub kind: &'static str,
    /// The file's size on disk.
    pub file_bytes: u64,
    /// The footer (the Thrift-encoded metadata at the end of the file).
    pub footer_bytes: u64,
    pub rows: u64,
    /// Leaf columns (a nested column counts each of its leaves).
    pub columns: u64,
    /// The pages once decompressed, summed over every column chunk.
    pub decoded_bytes: u64,
}

const MIB: u64 = 1 << 20;

/// The most iterations a run may take, and so the most rows a trace may have (one row per
/// iteration): `solver.max_iters` is refused above it, so that every trace the runner writes
/// can be read back.
pub const MAX_TRACE_ROWS: u64 = 1_000_000;

impl ReadLimits {
    /// A run's summary: one row; the flattened configuration and provenance make a few
    /// hundred columns at most.
    pub const SUMMARY: ReadLimits = ReadLimits {
        kind: "a summary",
        file_bytes: 16 * MIB,
        footer_bytes: 4 * MIB,
        rows: 1,
        columns: 4096,
        decoded_bytes: 16 * MIB,
    };

    /// A run's trace: a row per iteration, 27 columns.
    pub const TRACE: ReadLimits = ReadLimits {
        kind: "a trace",
        file_bytes: 256 * MIB,
        footer_bytes: 4 * MIB,
        rows: MAX_TRACE_ROWS,
        columns: 64,
        decoded_bytes: 512 * MIB,
    };

    /// A small table: a regularization path (at most 1000 points) or Figure 2's condition
    /// numbers (a row per Nystrom rank).
    pub const TABLE: ReadLimits = ReadLimits {
        kind: "a table",
        file_bytes: 16 * MIB,
        footer_bytes: 4 * MIB,
        rows: 100_000,
        columns: 64,
        decoded_bytes: 64 * MIB,
    };

    /// Refuses a file larger on disk than this kind's limit.
    pub fn check_file_size(&self, bytes: u64) -> Result<(), String> {
        self.at_most(bytes, self.file_bytes, "bytes")
    }

    /// Refuses a footer longer than this kind's limit (read from the file's last 8 bytes).
    pub fn check_footer_size(&self, bytes: u64) -> Result<(), String> {
        self.at_most(bytes, self.footer_bytes, "bytes of footer metadata")
    }

    /// Refuses metadata that claims more rows, columns, values or decoded bytes than this
    /// kind's limits. Rows are counted both as the file states them and as its row groups
    /// add up (a forged footer may disagree with itself); values are counted per column chunk,
    /// so that a nested column (a list of millions of values in one row) is caught too.
    pub fn check_metadata(&self, meta: &FileMetadata) -> Result<(), String> {
        let group_rows = meta
            .row_groups
            .iter()
            .fold(0u64, |sum, g| sum.saturating_add(g.num_rows() as u64));
        self.at_most((meta.num_rows as u64).max(group_rows), self.rows, "rows")?;
        let leaves = meta.schema_descr.columns().len() as u64;
        self.at_most(leaves, self.columns, "columns")?;
        let chunks = meta.row_groups.iter().flat_map(|g| g.parquet_columns());
        let (mut values, mut decoded) = (0u64, 0u64);
        for chunk in chunks {
            values = values.saturating_add(chunk.num_values().max(0) as u64);
            decoded = decoded.saturating_add(chunk.uncompressed_size().max(0) as u64);
        }
        let cells = self.rows.saturating_mul(self.columns);
        self.at_most(values, cells, "values")?;
        self.at_most(decoded, self.decoded_bytes, "bytes once decompressed")
    }

    /// `count` of `what`, refused when over `limit`, in words that name the limit.
    fn at_most(&self, count: u64, limit: u64, what: &str) -> Result<(), String> {
        if count <= limit {
            return Ok(());
        }
        Err(format!(
            "{count} {what}, more than the {limit} {} may have: not read (a file the runner \
             did not write?)",
            self.kind
        ))
    }
}
