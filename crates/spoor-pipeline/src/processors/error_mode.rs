//! `error_mode` of the OTTL processors.

use serde::{Deserialize, Serialize};

/// What a processor does when a condition or statement fails on a span: `propagate` refuses the
/// batch, `ignore` (logs and) goes on, `silent` goes on quietly. Spoor's processors do not log
/// per span, so `ignore` and `silent` behave alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    #[default]
    Propagate,
    Ignore,
    Silent,
}
