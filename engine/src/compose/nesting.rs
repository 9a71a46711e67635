//! How deep a compose file nests, measured before it is parsed: a file nested deeper than
//! [`MAX_DEPTH`] is refused at once, naming the line.
//!
//! Why a separate pass: `yaml_serde` reads a whole document into a list of events before it
//! builds anything, and only then applies its own limit (128 levels). Its scanner (libyaml)
//! does work proportional to the flow nesting for every token, so a file of nested `[` costs
//! the square of its size before that limit is reached: 200 KB took 37 s, 100 KB a minute
//! and a half in a debug build. Here the same scanner's events are read one at a time and the
//! count stops at the first level past the limit, which libyaml reaches after looking at most
//! 1024 characters ahead (its limit on a simple key), so any file costs time linear in its
//! size. Syntax errors are left to `yaml_serde`, which reports them with their line.

use anyhow::{bail, Result};
use libyaml_rs as sys;
use std::mem::MaybeUninit;

/// The deepest nesting of maps and lists a compose file may have: the limit `yaml_serde`
/// applies afterwards (real files nest about ten levels, `services.web.deploy.resources.
/// limits`), so no file it accepts is refused here, only refused sooner.
pub const MAX_DEPTH: usize = 128;

/// A libyaml parser on the heap (it keeps a pointer to itself), deleted on drop.
struct Parser {
    sys: Box<MaybeUninit<sys::yaml_parser_t>>,
}

impl Parser {
    /// A parser reading `text`, which must outlive it (the borrow of [`check_depth`] does).
    fn new(text: &str) -> Result<Parser> {
        let mut sys = Box::new(MaybeUninit::<sys::yaml_parser_t>::uninit());
        let parser = sys.as_mut_ptr();
        // SAFETY: `parser` points to writable memory for a yaml_parser_t that never moves (it
        // is boxed); yaml_parser_initialize fills it in and says whether it could allocate.
        if unsafe { sys::yaml_parser_initialize(parser) }.fail {
            bail!("out of memory starting the YAML parser");
        }
        // SAFETY: the parser is initialized; the input pointer and length describe `text`,
        // which outlives the parser (it is dropped at the end of `check_depth`).
        unsafe {
            sys::yaml_parser_set_encoding(parser, sys::YAML_UTF8_ENCODING);
            sys::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        }
        Ok(Parser { sys })
    }

    /// The next event's type and the line it starts on (1-based), or `None` on a syntax
    /// error.
    fn next(&mut self) -> Option<(sys::yaml_event_type_t, u64)> {
        let mut event = MaybeUninit::<sys::yaml_event_t>::uninit();
        let parser = self.sys.as_mut_ptr();
        let event = event.as_mut_ptr();
        // SAFETY: the parser was initialized in `new` and its input is still alive;
        // yaml_parser_parse fills `event` in when it succeeds, and only then is the event
        // read and deleted (freeing what it owns, anchors, tags and values).
        unsafe {
            if sys::yaml_parser_parse(parser, event).fail {
                return None;
            }
            let seen = ((*event).type_, (*event).start_mark.line + 1);
            sys::yaml_event_delete(event);
            Some(seen)
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: `new` only returns a Parser whose yaml_parser_initialize succeeded, and
        // it is deleted once, here.
        unsafe { sys::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// Refuses `text` if its maps and lists nest deeper than `limit` (error: the line where the
/// level past the limit opens). A YAML syntax error is not reported here.
pub fn check_depth(text: &str, limit: usize) -> Result<()> {
    let mut parser = Parser::new(text)?;
    let mut depth = 0usize;
    while let Some((event, line)) = parser.next() {
        match event {
            sys::YAML_SEQUENCE_START_EVENT | sys::YAML_MAPPING_START_EVENT => {
                depth += 1;
                if depth > limit {
                    bail!("line {line}: maps and lists nested more than {limit} levels deep");
                }
            }
            sys::YAML_SEQUENCE_END_EVENT | sys::YAML_MAPPING_END_EVENT => {
                depth = depth.saturating_sub(1);
            }
            sys::YAML_STREAM_END_EVENT => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn ordinary_files_pass() {
        let compose = "services:\n  web:\n    image: busybox\n    ports: [\"80:80\"]\n    \
                       deploy:\n      resources:\n        limits:\n          memory: 64m\n";
        check_depth(compose, MAX_DEPTH).unwrap();
        check_depth("", MAX_DEPTH).unwrap();
        check_depth("a: [[[[1]]]]\n", 5).unwrap();
        check_depth("a: {b: [c: '[[[[[[']}\n", 4).unwrap();
        // A syntax error is yaml_serde's to report.
        check_depth("a: [1, 2\nb: }", MAX_DEPTH).unwrap();
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line() {
        let err = check_depth("a:\n  b: [[[[1]]]]\n", 4).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line 2: maps and lists nested more than 4 levels deep"
        );
        let block: String = (0..10).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        let err = check_depth(&block, 5).unwrap_err();
        assert!(format!("{err:#}").starts_with("line 6:"), "{err:#}");
    }

    /// The file of issue 23: 200 KB of `[` took 37 s in yaml_serde alone.
    #[test]
    fn a_hostile_file_is_refused_quickly() {
        let start = Instant::now();
        let text = format!("services:\n  a:\n    image: {}\n", "[".repeat(200_000));
        let err = check_depth(&text, MAX_DEPTH).unwrap_err();
        assert!(format!("{err:#}").starts_with("line 3:"), "{err:#}");
        let text = format!("x: {}\n", "[a, ".repeat(100_000));
        assert!(check_depth(&text, MAX_DEPTH).is_err());
        let text = format!("x: {}\n", "{a: ".repeat(100_000));
        assert!(check_depth(&text, MAX_DEPTH).is_err());
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    }
}
