//! Typed reading of a one-row summary frame: the cells `Summary::read` needs, by name, with
//! absent columns as None (older files, hand-made ones).

use super::schema::{FinalMetrics, PhaseTimes};
use super::{column_f64, column_str, Cell};
use polars::prelude::DataFrame;

/// Typed access to the first row of a one-row frame.
pub(super) struct Row<'a>(pub &'a DataFrame);

impl Row<'_> {
    pub(super) fn str(&self, name: &str) -> Option<String> {
        column_str(self.0, name)?.into_iter().next().flatten()
    }

    pub(super) fn f64(&self, name: &str) -> Option<f64> {
        column_f64(self.0, name)?.into_iter().next().flatten()
    }

    pub(super) fn int(&self, name: &str) -> Option<i64> {
        self.f64(name).map(|x| x as i64)
    }

    /// The `config.*` columns, typed as written (strings, booleans, numbers).
    pub(super) fn config(&self) -> Vec<(String, Cell)> {
        use polars::prelude::DataType;
        let mut out = Vec::new();
        for col in self.0.materialized_column_iter() {
            let name = col.name().to_string();
            if !name.starts_with("config.") {
                continue;
            }
            let cell = match col.dtype() {
                DataType::String => Cell::Str(self.str(&name)),
                DataType::Boolean => Cell::Bool(col.bool().ok().and_then(|b| b.get(0))),
                DataType::Null => Cell::Str(None),
                _ => Cell::F64(self.f64(&name)),
            };
            out.push((name, cell));
        }
        out
    }

    pub(super) fn phases(&self, prefix: &str) -> PhaseTimes {
        let get = |name: &str| self.f64(&format!("{prefix}{name}"));
        PhaseTimes {
            precompute_s: get("precompute_s"),
            u_s: get("u_s"),
            v_s: get("v_s"),
            dual_s: get("dual_s"),
        }
    }

    pub(super) fn final_metrics(&self) -> FinalMetrics {
        FinalMetrics {
            objective: self.f64("objective"),
            train_loss: self.f64("train_loss"),
            train_acc: self.f64("train_acc"),
            train_acc_net: self.f64("train_acc_net"),
            train_acc_u: self.f64("train_acc_u"),
            test_loss: self.f64("test_loss"),
            test_acc: self.f64("test_acc"),
            cone_violation: self.f64("cone_violation"),
            active_neurons: self.int("active_neurons"),
            primal_residual: self.f64("primal_residual"),
            dual_residual: self.f64("dual_residual"),
            lower_bound: self.f64("lower_bound"),
            rel_gap: self.f64("rel_gap"),
            rho_changes: self.int("rho_changes"),
        }
    }
}
