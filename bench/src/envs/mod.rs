//! How each environment launches the payload.

pub mod vm;
