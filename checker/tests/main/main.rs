//! The checker's integration tests, in one test binary:
//!
//! - `checker`: every model and importer both ways, generated histories, the budget,
//!   explanations, stateright as the oracle on random small histories;
//! - `anomaly`: the anomaly an explanation names;
//! - `differential`: the checker against two oracles that share no code with it (the long
//!   test, `differential::small_random_histories_agree_with_both_oracles`, is what `make test`
//!   runs on its own with `--nocapture`; docs/testing-checker.md);
//! - `nodes`: explanations that name the nodes a history records, and read as before without;
//! - `random_points`: WGL against stateright on histories whose ops take effect at random
//!   points;
//! - `common`: the fixtures and helpers they share.

mod anomaly;
mod checker;
mod common;
mod differential;
mod nodes;
mod random_points;
