//! Links the small monitor, `pier-monitor`, statically (a static PIE), and nothing else of the
//! package: `pier` and the tests stay dynamically linked.
//!
//! Why: one `pier-monitor` runs per running container. Dynamically linked, it maps the loader
//! and the C library, and those file pages were most of its memory (see the book's "The small
//! monitor"); linked statically, it maps its own binary and nothing else.
//!
//! How, on stable Cargo: `-C target-feature=+crt-static` cannot be set for one binary of a
//! package, so rustc links `pier-monitor` as a dynamic program: it passes `-pie`, then
//! `-Wl,-Bdynamic -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc` and `-nodefaultlibs`. This script
//! gives that binary alone (`cargo:rustc-link-arg-bin`):
//! - `-static-pie`: the C compiler driver picks the static PIE start files (`rcrt1.o`, which
//!   relocates the program itself) and tells the linker `-static -pie --no-dynamic-linker`;
//! - a directory searched before the system's, holding a `libNAME.so` for each of those
//!   libraries: a linker script naming the static archive instead (`libc.a`, `libgcc_eh.a` for
//!   `gcc_s`, ...). rustc's `-Bdynamic` makes the linker look for `libNAME.so` first; it finds
//!   the script, and links the archive.
//!
//! What `+crt-static` would link is what this links: glibc's `libc.a` and libgcc's unwinder.
//! The monitor uses no name service (no `getpwnam`, no `getaddrinfo`), which a static glibc
//! cannot load. tests/monitor_memory.rs checks that the built program maps no shared library.

use std::path::Path;

/// The libraries rustc passes a dynamic glibc program (std's and the libc crate's `#[link]`s)
/// and the archives a static link takes instead, as the linker's `-l:FILE`.
const STATIC_INSTEAD: &[(&str, &str)] = &[
    // The unwinder: libgcc_s.so is libgcc_eh.a and libgcc.a as a shared library.
    ("gcc_s", "INPUT(-l:libgcc_eh.a -l:libgcc.a)"),
    ("util", "INPUT(-l:libutil.a)"),
    ("rt", "INPUT(-l:librt.a)"),
    ("pthread", "INPUT(-l:libpthread.a)"),
    ("m", "INPUT(-l:libm.a)"),
    ("dl", "INPUT(-l:libdl.a)"),
    // libc.a and libgcc need each other (as gcc's own `-static` links them: a group).
    ("c", "GROUP(-l:libc.a -l:libgcc.a -l:libgcc_eh.a)"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // Only where rustc links against glibc (musl targets are static already; elsewhere the
    // monitor keeps the platform's default).
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let dir = Path::new(&var("OUT_DIR")).join("static-monitor");
    if let Err(e) = write_scripts(&dir) {
        // Without the scripts the monitor is linked dynamically: it works, only larger, and
        // the monitor's memory test says so.
        println!(
            "cargo:warning=pier-monitor is linked dynamically: cannot write {}: {e}",
            dir.display()
        );
        return;
    }
    println!("cargo:rustc-link-arg-bin=pier-monitor=-static-pie");
    println!("cargo:rustc-link-arg-bin=pier-monitor=-L{}", dir.display());
}

/// Writes the linker scripts of [`STATIC_INSTEAD`] into `dir`.
fn write_scripts(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, script) in STATIC_INSTEAD {
        let text = format!("/* pier's build.rs: pier-monitor is linked statically */\n{script}\n");
        std::fs::write(dir.join(format!("lib{name}.so")), text)?;
    }
    Ok(())
}
