//! The log's files as written and read back: gathering, rotation, tail, following.

use super::*;
use std::path::PathBuf;

fn read_all(path: &Path, tail: Option<usize>) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let opts = LogOptions {
        tail,
        timestamps: false,
    };
    print(path, &opts, &mut out, &mut err).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn streams_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let mut w = LogWriter::open(&p, LogConfig::default()).unwrap();
    w.write("stdout", b"one\ntwo\n").unwrap();
    w.write("stderr", b"oops\n").unwrap();
    w.write("stdout", b"three\nfour").unwrap();
    w.flush().unwrap();
    w.write("stdout", b" and more\n").unwrap();
    drop(w);
    let (out, err) = read_all(&p, None);
    assert_eq!(out, "one\ntwo\nthree\nfour and more\n");
    assert_eq!(err, "oops\n");
    assert_eq!(read_all(&p, Some(2)).0, "four and more\n");
    assert_eq!(read_all(&p, Some(4)).0, "three\nfour and more\n");
    assert_eq!(read_all(&p, Some(4)).1, "oops\n");
    assert_eq!(read_all(&p, Some(0)), (String::new(), String::new()));
    assert_eq!(read_all(&p, Some(100)).0, read_all(&p, None).0);
}

/// The blow-up of issue 23: short lines, one entry each, made a log ~50 times the output.
#[test]
fn short_lines_share_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let mut w = LogWriter::open(&p, LogConfig::default()).unwrap();
    let chunk = b"y\n".repeat(32 << 10); // 64 KiB, as one pipe read
    let mut written = 0;
    for _ in 0..16 {
        w.write("stdout", &chunk).unwrap();
        written += chunk.len() as u64;
    }
    drop(w);
    let size = std::fs::metadata(&p).unwrap().len();
    // JSON writes a newline as two bytes, so `y\n` takes 3: 1.5 times, plus the framing.
    assert!(
        size < written * 8 / 5,
        "{written} bytes of output made a {size}-byte log"
    );
    let (out, _) = read_all(&p, Some(3));
    assert_eq!(out, "y\ny\ny\n");
}

#[test]
fn rotation_keeps_max_file_files_of_max_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let config = LogConfig {
        max_size: 64 << 10,
        max_file: 3,
    };
    let mut w = LogWriter::open(&p, config).unwrap();
    for i in 0..100_000 {
        w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
    }
    drop(w);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["c.log", "c.log.1", "c.log.2"]);
    assert!(log_bytes(dir.path()) <= 3 * (64 << 10));
    let (out, _) = read_all(&p, None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"line 99999"));
    // In order across the files, with no gap.
    let first: usize = lines[0].strip_prefix("line ").unwrap().parse().unwrap();
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line {}", first + k));
    }
    // --tail reaching back into a rotated file.
    let n = lines.len() - 10;
    let (tail, _) = read_all(&p, Some(n));
    assert_eq!(tail.lines().next(), Some(lines[10]));
    assert_eq!(tail.lines().count(), n);
}

#[test]
fn one_file_is_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let config = LogConfig {
        max_size: 4 << 10,
        max_file: 1,
    };
    let mut w = LogWriter::open(&p, config).unwrap();
    for i in 0..10_000 {
        w.write("stdout", format!("{i}\n").as_bytes()).unwrap();
        w.flush().unwrap();
    }
    drop(w);
    assert!(std::fs::metadata(&p).unwrap().len() <= 4 << 10);
    assert!(!PathBuf::from(format!("{}.1", p.display())).exists());
    assert_eq!(read_all(&p, Some(1)).0, "9999\n");
}

#[test]
fn following_goes_through_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let config = LogConfig {
        max_size: 1 << 10,
        max_file: 2,
    };
    let mut w = LogWriter::open(&p, config).unwrap();
    let mut reader = LogReader::at_end(&p).unwrap();
    let mut seen = Vec::new();
    for i in 0..200 {
        w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
        w.flush().unwrap();
        while let Some(l) = reader.next_line().unwrap() {
            seen.push(l.text);
        }
    }
    let want: Vec<String> = (0..200).map(|i| format!("line {i}\n")).collect();
    assert_eq!(seen, want);
}

#[test]
fn following_goes_on_after_the_only_file_is_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let config = LogConfig {
        max_size: 1 << 10,
        max_file: 1,
    };
    let mut w = LogWriter::open(&p, config).unwrap();
    let mut reader = LogReader::at_end(&p).unwrap();
    let mut seen = Vec::new();
    for i in 0..200 {
        w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
        w.flush().unwrap();
        while let Some(l) = reader.next_line().unwrap() {
            seen.push(l.text);
        }
    }
    let want: Vec<String> = (0..200).map(|i| format!("line {i}\n")).collect();
    assert_eq!(seen, want);
}

#[test]
fn long_lines_are_split_on_characters() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.log");
    let mut w = LogWriter::open(&p, LogConfig::default()).unwrap();
    let text = "é".repeat(40_000) + "\n";
    w.write("stdout", text.as_bytes()).unwrap();
    drop(w);
    assert_eq!(read_all(&p, None).0, text);
}
