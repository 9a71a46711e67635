//! pier benchmark harness (see issue: pier bench).

pub mod envs;
