//! The non-convex baseline, a two-layer ReLU network trained by Adam (paper eq. 2), and
//! `Network`, the host form every trained model takes, Adam's or ADMM's.

mod mlp;
mod network;

pub use mlp::{
    batch_loss, evaluate, objective, train, AdamConfig, AdamOptions, Inputs, Mlp, MlpError,
    MlpOutcome,
};
pub use network::{Network, Readout, Scored};
