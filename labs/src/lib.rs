//! pier guided labs and their checker.
