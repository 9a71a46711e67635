//! `pier-monitor`: the small program a detached container's monitor becomes while the
//! container runs (pier's conmon; [`pier_watch::monitor`] says how and why). A binary of the
//! `pier` package so that every build of `pier` (`cargo build`, `cargo install`, the tests'
//! `cargo test -p pier`) puts it beside `pier`, where pier looks for it; it links
//! `pier-watch` alone, not pier's other crates.

fn main() {
    std::process::exit(pier_watch::monitor::main());
}
