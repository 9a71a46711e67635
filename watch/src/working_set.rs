//! The monitor's working set: what of pier's code and libraries stays mapped in the process
//! that watches a running container.
//!
//! Starting a run touches much of pier (image store, overlay mount, network, the OCI create);
//! watching it touches little (poll, the log writer, a record update at the exit). The pages
//! of the binary and of the libraries stay in the page cache either way (every pier shares
//! them): [`trim`] only takes them out of this process's page tables, so its RSS is what the
//! watching needs, and a page it touches again is mapped again from the cache.

/// One mapping of `/proc/self/smaps` that can be dropped and mapped again unchanged: backed
/// by a file, not writable, and holding no page of its own (a private page a write made,
/// as the dynamic loader's relocations of a read-only-after-relocation segment, would be lost).
#[derive(Debug, PartialEq, Eq)]
struct Droppable {
    start: usize,
    end: usize,
}

/// Drops this process's resident pages of its read-only file mappings (pier's code and
/// constants, the C library's); returns how many bytes of mappings were dropped. Best effort:
/// on any error nothing more is dropped and the process works on, only larger.
pub fn trim() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut dropped = 0;
    for m in droppable(&smaps) {
        // SAFETY: the range is a whole mapping of this process that is backed by a file, not
        // writable and has no private (copied-on-write) page: MADV_DONTNEED only unmaps its
        // pages, and the next access maps the same bytes again from the file's page cache.
        let done = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        };
        if done == 0 {
            dropped += m.end - m.start;
        }
    }
    // The C library's heap keeps what start-up freed; give it back too.
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    dropped
}

/// The mappings of an smaps text that [`trim`] may drop.
fn droppable(smaps: &str) -> Vec<Droppable> {
    let mut out = Vec::new();
    let mut current: Option<(Droppable, bool)> = None; // (range, file-backed and read-only)
    let flush = |c: Option<(Droppable, bool)>, anon_free: bool, out: &mut Vec<Droppable>| {
        if let Some((range, true)) = c {
            if anon_free {
                out.push(range);
            }
        }
    };
    let mut anon_free = true;
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            flush(current.take(), anon_free, &mut out);
            current = Some(header);
            anon_free = true;
        } else if let Some(kb) = line.strip_prefix("Anonymous:") {
            anon_free = kb.trim().trim_end_matches("kB").trim() == "0";
        }
    }
    flush(current, anon_free, &mut out);
    out
}

/// A mapping's first smaps line (`start-end perms offset dev inode path`): its range, and
/// whether it is a read-only mapping of a file.
fn mapping_header(line: &str) -> Option<(Droppable, bool)> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    if perms.len() != 4 {
        return None;
    }
    let inode = fields.nth(2)?;
    let path = fields.next().unwrap_or("");
    let file = inode != "0" && path.starts_with('/');
    let read_only = perms.as_bytes()[1] == b'-' && perms.as_bytes()[3] == b'p';
    Some((Droppable { start, end }, file && read_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5581a000-5581b000 r--p 00000000 fd:01 1234 /usr/bin/pier
Size:                  4 kB
Anonymous:             0 kB
5581b000-5581f000 r-xp 00001000 fd:01 1234 /usr/bin/pier
Anonymous:             0 kB
5581f000-55820000 r--p 00005000 fd:01 1234 /usr/bin/pier
Anonymous:             4 kB
55820000-55821000 rw-p 00006000 fd:01 1234 /usr/bin/pier
Anonymous:             0 kB
55830000-55840000 rw-p 00000000 00:00 0 [heap]
Anonymous:            64 kB
7f000000-7f001000 r--s 00000000 00:05 99 /dev/shm/x
Anonymous:             0 kB
7fff0000-7fff1000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_untouched_read_only_private_file_mappings_are_dropped() {
        let got = droppable(SMAPS);
        assert_eq!(
            got,
            vec![
                Droppable {
                    start: 0x5581a000,
                    end: 0x5581b000
                },
                Droppable {
                    start: 0x5581b000,
                    end: 0x5581f000
                },
            ],
            "the relocated read-only segment (own pages), the writable data, the heap, a \
             shared mapping and the vDSO stay"
        );
    }

    #[test]
    fn trimming_keeps_the_process_working() {
        let before = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        assert!(trim() > 0, "the test binary has read-only file mappings");
        // Code and constants come back from the page cache: this runs, formats and compares.
        let after = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        assert!(before.contains("VmRSS") && after.contains("VmRSS"));
        assert_eq!(format!("{:?}", droppable(SMAPS).len()), "2");
    }
}
