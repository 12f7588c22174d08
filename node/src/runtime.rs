//! placeholder, to be written
