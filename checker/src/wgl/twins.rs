//! Which ops of a part the search cannot tell apart, computed once per search.
//!
//! Why a module of its own: it is a property of the part and the model (does `step` read
//! anything of an op but its function, input and outcome?), not of the search's control flow;
//! the search only asks whether two candidates share a class (docs/decisions.md,
//! "Interchangeable candidates").

use super::BuildFx;
use crate::model::Model;
use histories::Op;

/// Which ops are interchangeable: equal in everything the model's `step` reads
/// ([`Model::step_reads_value_only`]: function, input, outcome). Each op gets the number of the
/// first op of its class.
pub(super) struct Twins {
    /// Per op, the index of the first op of its class.
    pub(super) class: Vec<u32>,
    /// Some two ops share a class (else the check is skipped).
    pub(super) any: bool,
}

impl Twins {
    pub(super) fn new<M: Model>(model: &M, ops: &[&Op]) -> Twins {
        let mut class: Vec<u32> = (0..ops.len() as u32).collect();
        let mut any = false;
        if model.step_reads_value_only() {
            let mut first: std::collections::HashMap<_, u32, BuildFx> = Default::default();
            for (i, op) in ops.iter().enumerate() {
                let c = *first
                    .entry((op.f, &op.input, &op.outcome))
                    .or_insert(i as u32);
                any |= c != i as u32;
                class[i] = c;
            }
        }
        Twins { class, any }
    }
}
