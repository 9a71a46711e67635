//! The rule of `pier_oci::security::in_root::RootDir`, enforced: the engine's code that acts
//! on trees pier does not trust (build context, image views, layers, container upper
//! directories, volumes) makes no path-following filesystem call. It goes through `RootDir`
//! (or a descriptor from it); a call on one of pier's own paths (its scratch or store
//! directories, a path the user named) is marked on the line before with
//! `// untrusted-paths: allowed: <why>`.
//!
//! A new file that handles such a tree belongs in [`FILES`].

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The engine's files that act on untrusted trees, relative to `engine/src`.
const FILES: &[&str] = &[
    "builder/context.rs",
    "builder/copy.rs",
    "builder/run.rs",
    "builder/scratch.rs",
    "container/cp.rs",
    "container/diff.rs",
    "image/export.rs",
    "image/layer_build.rs",
    "tree_copy.rs",
    "volume/copy_up.rs",
];

/// Calls that resolve a path on the host, following every symlink in it (or, for the
/// `symlink_metadata` family, every one but the last).
const FORBIDDEN: &[&str] = &[
    "fs::read",
    "fs::write",
    "fs::create_dir",
    "fs::remove",
    "fs::copy",
    "fs::set_permissions",
    "fs::metadata",
    "fs::symlink_metadata",
    "fs::rename",
    "fs::hard_link",
    "fs::canonicalize",
    "fs::chown",
    "fs::lchown",
    "fs::symlink(",
    "File::open(",
    "File::create(",
    "OpenOptions::new(",
    "symlink_metadata(",
    ".canonicalize()",
    ".is_dir()",
    ".is_file()",
    ".exists()",
    "xattr::get(",
    "xattr::set(",
    "xattr::list(",
    "secure_join(",
];

const MARK: &str = "// untrusted-paths: allowed:";

/// `(file, line number, line)` of every forbidden call not marked as allowed.
fn violations(file: &str, text: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut previous = "";
    for (n, line) in text.lines().enumerate() {
        // Unit tests build their own trees.
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let allowed = previous.trim_start().starts_with(MARK) || line.contains(MARK);
        if !allowed && FORBIDDEN.iter().any(|f| code.contains(f)) {
            out.push((file.to_string(), n + 1, line.trim().to_string()));
        }
        previous = line;
    }
    out
}

#[test]
fn engine_code_on_untrusted_trees_makes_no_path_following_call() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    for f in FILES {
        let text = std::fs::read_to_string(src.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e} (update FILES in this test)"));
        all.extend(violations(f, &text));
    }
    assert!(
        all.is_empty(),
        "path-following calls on untrusted trees (use pier_oci::security::in_root::RootDir, \
         or mark a path of pier's own with `{MARK} <why>` on the line before):\n{}",
        all.iter()
            .map(|(f, n, l)| format!("  engine/src/{f}:{n}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_scan_catches_a_violation_and_honours_the_mark() {
    let bad =
        "fn f(root: &Path) {\n    let m = std::fs::symlink_metadata(root.join(\"etc\"));\n}\n";
    assert_eq!(violations("x.rs", bad).len(), 1);
    let marked =
        format!("fn f() {{\n    {MARK} pier's own directory\n    fs::create_dir_all(p);\n}}\n");
    assert!(violations("x.rs", &marked).is_empty());
    let in_tests = "#[cfg(test)]\nmod tests { fn t() { std::fs::write(p, \"\"); } }\n";
    assert!(violations("x.rs", in_tests).is_empty());
}
