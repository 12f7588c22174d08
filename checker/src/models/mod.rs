//! One file per model.

pub mod append_kv;
pub mod cas_register;
pub mod kv;
pub mod multi_register;
pub mod mutex;
pub mod register;
