//! Running: one planned run (`single`: data, problem, solve, results), a sweep of them with
//! resume and claims (`sweep`), regularization paths (`path`), the memory estimate checked
//! before a run starts (`memory`), the time estimate `plan` prints (`estimate`), saved models
//! (`model`), shards of a plan (`shard`) and the checkpoints a long run resumes from
//! (`checkpoint`).

pub mod checkpoint;
pub mod estimate;
pub mod memory;
pub mod model;
pub mod path;
pub mod shard;
pub mod single;
pub mod sweep;
