//! The subcommands beyond `run` and `plot`, one file each: `show` (the runs of a folder or a
//! plan), `submit` (a SLURM job array), `predict` (a saved model on new data), `bench`
//! (timings against the machine's floors) and `condition` (Figure 2's condition numbers).

pub mod bench;
pub mod condition;
pub mod predict;
pub mod show;
pub mod submit;
