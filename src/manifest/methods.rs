//! The methods a run can use: their names, labels and colours in one table, and each
//! method's resolved options.
//!
//! A new u-solver is one line in `methods!` below plus its arms in the exhaustive matches of
//! this file (the compiler lists each one that is missing).

use admm_engine::adam::AdamOptions;
use admm_engine::admm::usolve::{
    CgOptions, ExactOptions, NysOptions, Precond, RbcdOptions, USolverSpec,
};
use admm_engine::admm::AdmmOptions;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares `SolverKind` and everything derived from its one table: the manifest name (which
/// serde reads and writes), the figure label and colour, and `ALL`, so that no list can
/// forget a method.
macro_rules! methods {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal, $label:literal, ($r:literal, $g:literal, $b:literal);)*) => {
        /// The method a run uses: an ADMM u-solver or the Adam baseline.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum SolverKind {
            $($(#[doc = $doc])* #[serde(rename = $name)] $variant,)*
        }

        impl SolverKind {
            /// Every method, in the table's order (figures and tables list them so).
            pub const ALL: &'static [SolverKind] = &[$(SolverKind::$variant),*];

            /// The manifest name (`cg`, `nys-pcg`, ...).
            pub fn name(self) -> &'static str {
                match self { $(SolverKind::$variant => $name,)* }
            }

            /// The name in figures and tables (the paper's, `ADMM-CG`).
            pub fn label(self) -> &'static str {
                match self { $(SolverKind::$variant => $label,)* }
            }

            /// The line colour in figures, as RGB.
            pub fn colour(self) -> (u8, u8, u8) {
                match self { $(SolverKind::$variant => ($r, $g, $b),)* }
            }
        }
    };
}

methods! {
    /// Dense Cholesky of A: small problems only, the reference for the others.
    Exact = "exact", "ADMM-exact", (0x40, 0x40, 0x40);
    /// Conjugate gradient, matrix-free.
    Cg = "cg", "ADMM-CG", (0x4C, 0x72, 0xB0);
    /// CG preconditioned by diag(A) (Jacobi).
    DiagPcg = "diag-pcg", "ADMM-diagPCG", (0x55, 0xA8, 0x68);
    /// CG preconditioned by a randomized Nystrom approximation of A's PSD part.
    NysPcg = "nys-pcg", "ADMM-nysPCG", (0xC4, 0x4E, 0x52);
    /// Beyond the paper: CG preconditioned by the block-Jacobi B = I_2P (x) (I + X^T X).
    BjPcg = "bj-pcg", "ADMM-bjPCG", (0xDD, 0x84, 0x52);
    /// Randomized block coordinate descent on the u-subproblem (paper Algorithm 2).
    Rbcd = "rbcd", "ADMM-RBCD", (0x81, 0x72, 0xB3);
    /// Not ADMM: the non-convex two-layer ReLU network of eq. (2) trained by Adam.
    Adam = "adam", "Adam (non-convex)", (0xCC, 0xB9, 0x74);
}

impl SolverKind {
    /// The method a manifest name (or a summary's `solver` cell) names.
    pub fn parse(name: &str) -> Option<SolverKind> {
        SolverKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl fmt::Display for SolverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resolved method with exactly the options it uses (serialized with its `name` tag, so a
/// run id and a summary's `config.solver.*` columns hold nothing another method reads).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Method {
    Exact {
        admm: AdmmOptions,
        exact: ExactOptions,
    },
    Cg {
        admm: AdmmOptions,
        cg: CgOptions,
    },
    DiagPcg {
        admm: AdmmOptions,
        cg: CgOptions,
    },
    NysPcg {
        admm: AdmmOptions,
        cg: CgOptions,
        nys: NysOptions,
    },
    BjPcg {
        admm: AdmmOptions,
        cg: CgOptions,
    },
    Rbcd {
        admm: AdmmOptions,
        rbcd: RbcdOptions,
    },
    Adam {
        adam: AdamOptions,
    },
}

/// What the engine runs for a method: ADMM with a u-solver, or Adam.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    Admm(AdmmOptions, USolverSpec),
    Adam(AdamOptions),
}

impl Method {
    pub fn kind(&self) -> SolverKind {
        match self {
            Method::Exact { .. } => SolverKind::Exact,
            Method::Cg { .. } => SolverKind::Cg,
            Method::DiagPcg { .. } => SolverKind::DiagPcg,
            Method::NysPcg { .. } => SolverKind::NysPcg,
            Method::BjPcg { .. } => SolverKind::BjPcg,
            Method::Rbcd { .. } => SolverKind::Rbcd,
            Method::Adam { .. } => SolverKind::Adam,
        }
    }

    /// The engine's description of this method: the one conversion from harness to engine.
    pub fn algorithm(&self) -> Algorithm {
        let cg =
            |admm: &AdmmOptions, o: &CgOptions, p| Algorithm::Admm(*admm, USolverSpec::Cg(*o, p));
        match self {
            Method::Exact { admm, exact } => Algorithm::Admm(*admm, USolverSpec::Exact(*exact)),
            Method::Cg { admm, cg: o } => cg(admm, o, Precond::None),
            Method::DiagPcg { admm, cg: o } => cg(admm, o, Precond::Diag),
            Method::NysPcg { admm, cg: o, nys } => cg(admm, o, Precond::Nystrom(*nys)),
            Method::BjPcg { admm, cg: o } => cg(admm, o, Precond::BlockJacobi),
            Method::Rbcd { admm, rbcd } => Algorithm::Admm(*admm, USolverSpec::Rbcd(*rbcd)),
            Method::Adam { adam } => Algorithm::Adam(*adam),
        }
    }

    /// The ADMM options, for ADMM methods, to change (the bench's before/after race).
    pub fn admm_mut(&mut self) -> Option<&mut AdmmOptions> {
        match self {
            Method::Exact { admm, .. }
            | Method::Cg { admm, .. }
            | Method::DiagPcg { admm, .. }
            | Method::NysPcg { admm, .. }
            | Method::BjPcg { admm, .. }
            | Method::Rbcd { admm, .. } => Some(admm),
            Method::Adam { .. } => None,
        }
    }

    /// The ADMM options, for ADMM methods.
    pub fn admm(&self) -> Option<&AdmmOptions> {
        match self {
            Method::Exact { admm, .. }
            | Method::Cg { admm, .. }
            | Method::DiagPcg { admm, .. }
            | Method::NysPcg { admm, .. }
            | Method::BjPcg { admm, .. }
            | Method::Rbcd { admm, .. } => Some(admm),
            Method::Adam { .. } => None,
        }
    }
}
