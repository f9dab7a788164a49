//! ADMM's options (the manifest's `solver.admm` section), their defaults, their range checks,
//! and the hand-written serialization that keeps run ids stable as options are added.

use super::rho::RhoRule;
use crate::error::InvalidOption;

/// The ADMM options every u-solver shares (the manifest's `solver.admm` section).
/// Serialized (into the run id and the summary) by hand: see the `Serialize` impl below.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct AdmmOptions {
    /// The penalty rho (the starting value when `rho_rule` adapts it).
    pub rho: f64,
    /// Dual step ratio (1 = standard ADMM).
    pub gamma: f64,
    /// Boyd et al. absolute and relative tolerances; 0 for both disables the test.
    pub tol_abs: f64,
    pub tol_rel: f64,
    /// How rho adapts (rho.rs).
    pub rho_rule: RhoRule,
    /// A rule's proposal is adopted only when it moves rho by more than this factor (OSQP: 5),
    /// so the u-solver's rho-dependent work is redone rarely.
    pub rho_factor: f64,
    /// The rule is consulted every this many iterations.
    pub rho_interval: usize,
    /// Over-relaxation alpha in (0, 2) (Boyd et al. sec. 3.4.3; 1 = none).
    pub alpha: f64,
    /// Anderson acceleration memory (0 = off).
    pub anderson: usize,
    /// Stop when the certified relative gap (objective - lower bound) / objective and the
    /// relative primal residual are both at most this (0 = never).
    pub tol_gap: f64,
    /// A stop on Boyd's residual test is recorded `converged` only when the certified
    /// relative gap is at most this; otherwise it is recorded `residuals`.
    pub converged_gap: f64,
    /// With `tol_gap` > 0, the structure is checked every this many iterations, and the
    /// active-set finish (finish.rs) tried once it holds still, until it proves the gap
    /// (0 = never; a rejection doubles the wait, up to 8 checks).
    pub finish_every: usize,
    /// With `tol_gap` > 0, a problem whose Newton step is cheap enough (`interior::applies`:
    /// one output, squared or logistic loss, `interior::MAX_STEP_COST`) is finished by the
    /// primal-dual interior point at the first finish check, before the active-set finish.
    pub interior: bool,
}

impl Default for AdmmOptions {
    fn default() -> Self {
        AdmmOptions {
            rho: 0.01,
            gamma: 1.0,
            tol_abs: 1e-6,
            tol_rel: 1e-4,
            rho_rule: RhoRule::Fixed,
            rho_factor: 5.0,
            rho_interval: 10,
            alpha: 1.0,
            anderson: 0,
            tol_gap: 0.0,
            converged_gap: DEFAULT_CONVERGED_GAP,
            finish_every: DEFAULT_FINISH_EVERY,
            interior: true,
        }
    }
}

/// `converged_gap`'s default: the "about 1e-3".
pub const DEFAULT_CONVERGED_GAP: f64 = 1e-3;
/// `finish_every`'s default: a check every 25 iterations, so that setting `tol_gap` alone
/// turns the finish on (it runs only when a gap is asked for, and only once ADMM's structure
/// holds still; tests/suite/finish.rs: every fixture certified to 1e-6 with every u-solver).
pub const DEFAULT_FINISH_EVERY: usize = 25;

/// Only the options that take effect are serialized, as a run carries only its own method's
/// options: the adaptive-rho keys only with a rule other than `fixed`, and `alpha`, `anderson`
/// and `tol_gap` only when they are not off (1, 0, 0). The run id hashes this serialization,
/// so a manifest that does not use these keys keeps the id (and the results and baselines) it
/// had before they existed. Off is the value, not the default: if a default changes, runs that
/// use it get new ids, as they should.
#[cfg(feature = "serde")]
impl serde::Serialize for AdmmOptions {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let adaptive = self.rho_rule != RhoRule::Fixed;
        let mut st = ser.serialize_struct("AdmmOptions", 10)?;
        st.serialize_field("rho", &self.rho)?;
        st.serialize_field("gamma", &self.gamma)?;
        st.serialize_field("tol_abs", &self.tol_abs)?;
        st.serialize_field("tol_rel", &self.tol_rel)?;
        if adaptive {
            st.serialize_field("rho_rule", &self.rho_rule)?;
            st.serialize_field("rho_factor", &self.rho_factor)?;
            st.serialize_field("rho_interval", &self.rho_interval)?;
        }
        if self.alpha != 1.0 {
            st.serialize_field("alpha", &self.alpha)?;
        }
        if self.anderson != 0 {
            st.serialize_field("anderson", &self.anderson)?;
        }
        if self.tol_gap != 0.0 {
            st.serialize_field("tol_gap", &self.tol_gap)?;
        }
        if self.converged_gap != DEFAULT_CONVERGED_GAP {
            st.serialize_field("converged_gap", &self.converged_gap)?;
        }
        if self.finish_every != DEFAULT_FINISH_EVERY {
            st.serialize_field("finish_every", &self.finish_every)?;
        }
        if !self.interior {
            st.serialize_field("interior", &self.interior)?;
        }
        st.end()
    }
}

impl AdmmOptions {
    /// Ranges the types cannot express: the first bad option and why.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if !(self.rho > 0.0 && self.rho.is_finite()) {
            return Err(InvalidOption::new(
                "rho",
                format!("must be > 0, got {}", self.rho),
            ));
        }
        for (key, v) in [("gamma", self.gamma), ("alpha", self.alpha)] {
            if !(v > 0.0 && v < 2.0) {
                return Err(InvalidOption::new(
                    key,
                    format!("must be in (0, 2), got {v}"),
                ));
            }
        }
        for (key, t) in [
            ("tol_abs", self.tol_abs),
            ("tol_rel", self.tol_rel),
            ("tol_gap", self.tol_gap),
            ("converged_gap", self.converged_gap),
        ] {
            if !(t >= 0.0 && t.is_finite()) {
                return Err(InvalidOption::new(key, format!("must be >= 0, got {t}")));
            }
        }
        if !(self.rho_factor >= 1.0 && self.rho_factor.is_finite()) {
            let f = self.rho_factor;
            return Err(InvalidOption::new(
                "rho_factor",
                format!("must be >= 1, got {f}"),
            ));
        }
        if self.rho_interval == 0 {
            return Err(InvalidOption::new("rho_interval", "must be at least 1"));
        }
        Ok(())
    }
}
