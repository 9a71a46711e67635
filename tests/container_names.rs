//! Container names are unique through the name index (`<root>/container-names/`), which
//! replaced reading every record on each `pier run`: a taken name is refused, whether the
//! index already knew it or had to be built from the records (a root an older pier made);
//! a stale entry (its container gone, or renamed) claims nothing; rename and removal keep
//! the index right, and leave no entry behind.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn stderr_of(p: &Pier, args: &[&str]) -> String {
    let out = p.run(args);
    assert!(!out.status.success(), "pier {args:?} should have failed");
    text(&out.stderr)
}

fn entries(p: &Pier) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p.root().join("container-names"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_taken_name_is_refused_even_when_the_index_is_rebuilt_from_the_records() {
    let p = Pier::new();
    let a = p.ok(&["create", "--name", "web", "busybox", "true"]);
    let err = stderr_of(&p, &["create", "--name", "web", "busybox", "true"]);
    assert!(err.contains("\"web\" is already in use"), "{err}");
    // A root from before the index: the records are the truth, the index is rebuilt.
    std::fs::remove_dir_all(p.root().join("container-names")).unwrap();
    let err = stderr_of(&p, &["create", "--name", "web", "busybox", "true"]);
    assert!(
        err.contains("\"web\" is already in use by container") && err.contains(&a[..12]),
        "{err}"
    );
    assert_eq!(entries(&p), vec!["web".to_string()]);
    // Names found through the index still resolve for every command.
    assert_eq!(p.inspect("web")["Id"], a.as_str());
    p.ok(&["rm", "web"]);
    assert!(
        entries(&p).is_empty(),
        "rm leaves no entry: {:?}",
        entries(&p)
    );
}

#[test]
fn stale_entries_claim_nothing() {
    let p = Pier::new();
    let a = p.ok(&["create", "--name", "one", "busybox", "true"]);
    // An entry whose container is gone (a crash between the two), and one whose record
    // bears another name: neither may block the name.
    let index = p.root().join("container-names");
    std::os::unix::fs::symlink("ab".repeat(32), index.join("ghost")).unwrap();
    std::os::unix::fs::symlink(&a, index.join("other")).unwrap();
    let g = p.ok(&["create", "--name", "ghost", "busybox", "true"]);
    let o = p.ok(&["create", "--name", "other", "busybox", "true"]);
    assert_eq!(p.inspect("ghost")["Id"], g.as_str());
    assert_eq!(p.inspect("other")["Id"], o.as_str());
    assert_eq!(p.inspect("one")["Id"], a.as_str());
    // An entry that is not a bare ID is never followed.
    std::fs::remove_file(index.join("one")).unwrap();
    std::os::unix::fs::symlink("../../etc", index.join("one")).unwrap();
    assert_eq!(p.inspect("one")["Id"], a.as_str(), "found by the records");
    for c in ["ghost", "other", "one"] {
        p.ok(&["rm", c]);
    }
}

#[test]
fn rename_moves_the_name_and_generated_names_stay_unique() {
    let p = Pier::new();
    let a = p.ok(&["create", "--name", "before", "busybox", "true"]);
    p.ok(&["rename", "before", "after"]);
    assert_eq!(entries(&p), vec!["after".to_string()]);
    let err = stderr_of(&p, &["create", "--name", "after", "busybox", "true"]);
    assert!(err.contains("\"after\" is already in use"), "{err}");
    let b = p.ok(&["create", "--name", "before", "busybox", "true"]);
    assert_ne!(a, b);
    let err = stderr_of(&p, &["rename", "before", "after"]);
    assert!(err.contains("\"after\" is already in use"), "{err}");
    // Generated names: many containers, no two alike.
    let ids: Vec<String> = (0..30)
        .map(|_| p.ok(&["create", "busybox", "true"]))
        .collect();
    let mut names: Vec<String> = ids
        .iter()
        .map(|id| p.inspect(id)["Name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 30, "{names:?}");
    let all: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .chain([a.as_str(), b.as_str()])
        .collect();
    let mut args = vec!["rm"];
    args.extend(all);
    p.ok(&args);
    assert!(entries(&p).is_empty(), "{:?}", entries(&p));
}
