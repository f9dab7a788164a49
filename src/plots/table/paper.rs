//! The paper's own Table 1 (Feng, Shah, Abraham), verbatim: data only (`rows` turns each into
//! a row beside ours).

use crate::manifest::SolverKind;

/// One row of the paper's Table 1 (Feng, Shah, Abraham): seconds to 97% train accuracy,
/// CIFAR-10 two classes, n=10000, d=3072, P=50, on the authors' hardware.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperRow {
    /// Our solver name, for placing the row beside ours.
    pub solver: SolverKind,
    pub method: &'static str,
    pub device: &'static str,
    pub total_s: f64,
    /// Precomputation, u, v, dual; None where the paper gives n/a.
    pub split: Option<[f64; 4]>,
}

/// The paper's Table 1, verbatim.
pub const PAPER_TABLE1: [PaperRow; 5] = [
    PaperRow {
        solver: SolverKind::NysPcg,
        method: "nysPCG",
        device: "GPU",
        total_s: 39.484,
        split: Some([16.321, 23.119, 0.043, 0.001]),
    },
    PaperRow {
        solver: SolverKind::Rbcd,
        method: "RBCD",
        device: "GPU",
        total_s: 23.502,
        split: Some([0.000, 23.136, 0.361, 0.005]),
    },
    PaperRow {
        solver: SolverKind::Rbcd,
        method: "RBCD",
        device: "JAX-GPU",
        total_s: 16.243,
        split: Some([0.000, 16.118, 0.125, 0.000]),
    },
    PaperRow {
        solver: SolverKind::Rbcd,
        method: "RBCD",
        device: "CPU",
        total_s: 185.896,
        split: Some([0.523, 181.689, 3.663, 0.020]),
    },
    PaperRow {
        solver: SolverKind::Adam,
        method: "Adam",
        device: "GPU",
        total_s: 55.129,
        split: None,
    },
];
