//! pier benchmark harness (see issue: pier bench).
