//! The error every option check returns: which option, and why its value cannot be used.
//!
//! Each concern has its own error type beside it (`ProblemError`, `SolveError`,
//! `DataError`); this one is shared because every options struct validates the same way, and
//! a caller (a manifest, say) prefixes `option` with where the options came from.

use std::fmt;

/// An option out of its range: its name relative to its options struct, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidOption {
    /// The option's name within its struct (`rho`, `rank`, ...), or a dotted path below it.
    pub option: String,
    /// Why the value is refused, with the value.
    pub reason: String,
}

impl InvalidOption {
    pub fn new(option: impl Into<String>, reason: impl Into<String>) -> Self {
        InvalidOption {
            option: option.into(),
            reason: reason.into(),
        }
    }

    /// A count that must be at least 1.
    pub fn at_least_one(option: &str, value: usize) -> Result<(), Self> {
        match value {
            0 => Err(Self::new(option, "must be at least 1")),
            _ => Ok(()),
        }
    }

    /// A finite number that must be >= 0 (NaN refused).
    pub fn nonnegative(option: &str, value: f64) -> Result<(), Self> {
        match value >= 0.0 && value.is_finite() {
            true => Ok(()),
            false => Err(Self::new(option, format!("must be >= 0, got {value}"))),
        }
    }

    /// The same error with `section.` before the option's name.
    pub fn within(self, section: &str) -> Self {
        InvalidOption {
            option: format!("{section}.{}", self.option),
            reason: self.reason,
        }
    }
}

impl fmt::Display for InvalidOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option `{}` {}", self.option, self.reason)
    }
}
