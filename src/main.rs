//! The `pier` command: parse, dispatch.
fn main() {}
