//! Glob patterns, matched in linear time: Go's `path.Match` (Docker's `reference=` filter,
//! `COPY` sources) and the `**` of `.dockerignore`.
//!
//! [`Glob`] is one pattern over text where `/` separates path components:
//! - `*` matches any run of characters other than `/`, `?` any one character other than `/`;
//! - `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` match one character in (or not in) the class;
//!   inside a class `\` escapes the next character (`[\]]`), and a `[` that never closes
//!   is an ordinary character;
//! - `\` makes the next character ordinary (`\*` matches `*`); a final `\` matches itself.
//!
//! [`PathGlob`] is a pattern over path components, where a whole component `**` matches any
//! number of components (zero included), as in `.dockerignore` (`**/*.log`, `docs/**/*.md`).
//!
//! Both match without backtracking: the pattern is a small automaton whose set of live states
//! is carried along the text (Thompson's construction), so matching takes O(text × pattern)
//! steps at worst, whatever the pattern. A backtracking matcher (pier's two earlier ones)
//! takes time exponential in the number of stars: `*a*a*a*a*a*a*a*b` against sixty `a`s took
//! 19 s, against 10,000 it would never finish; here it is microseconds.

/// One step of a [`Glob`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This character.
    Literal(char),
    /// `?`: any character but `/`.
    One,
    /// `*`: any run of characters but `/` (consecutive stars are one).
    Star,
    /// `[...]`: a character in the inclusive ranges (or not in them, when negated).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether this single-character step accepts `c` (false for `*`, handled apart).
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::One => c != '/',
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A compiled glob pattern (see the module documentation for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles `pattern`. Every string is a pattern: what is not a wildcard is a literal.
    pub fn new(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let (token, used) = match chars[i] {
                '*' => (Token::Star, 1),
                '?' => (Token::One, 1),
                '\\' if i + 1 < chars.len() => (Token::Literal(chars[i + 1]), 2),
                '[' => match class(&chars[i + 1..]) {
                    Some((class, used)) => (class, 1 + used),
                    None => (Token::Literal('['), 1),
                },
                c => (Token::Literal(c), 1),
            };
            if !(token == Token::Star && tokens.last() == Some(&Token::Star)) {
                tokens.push(token);
            }
            i += used;
        }
        Glob { tokens }
    }

    /// Whether the whole of `text` matches. O(`text` × pattern) at worst.
    pub fn matches(&self, text: &str) -> bool {
        let m = self.tokens.len();
        let mut live = vec![false; m + 1];
        let mut next = vec![false; m + 1];
        live[0] = true;
        self.close(&mut live);
        for c in text.chars() {
            next.fill(false);
            let mut any = false;
            for (i, token) in self.tokens.iter().enumerate() {
                if !live[i] {
                    continue;
                }
                if *token == Token::Star {
                    if c != '/' {
                        next[i] = true;
                        any = true;
                    }
                } else if token.accepts(c) {
                    next[i + 1] = true;
                    any = true;
                }
            }
            if !any {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut live, &mut next);
        }
        live[m]
    }

    /// Adds the states reachable without reading a character: past each live `*`.
    fn close(&self, states: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if states[i] && *token == Token::Star {
                states[i + 1] = true;
            }
        }
    }
}

/// Parses a character class after its `[`: the class and how many characters it used
/// (through the closing `]`), or `None` if it never closes.
fn class(rest: &[char]) -> Option<(Token, usize)> {
    let negated = matches!(rest.first(), Some('!' | '^'));
    let mut i = usize::from(negated);
    let mut ranges = Vec::new();
    loop {
        if *rest.get(i)? == ']' {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        let (lo, after) = class_char(rest, i)?;
        match (rest.get(after), rest.get(after + 1)) {
            (Some('-'), Some(&c)) if c != ']' => {
                let (hi, after) = class_char(rest, after + 1)?;
                ranges.push((lo, hi));
                i = after;
            }
            _ => {
                ranges.push((lo, lo));
                i = after;
            }
        }
    }
}

/// One (possibly `\`-escaped) character of a class at `i`, and the index after it.
fn class_char(rest: &[char], i: usize) -> Option<(char, usize)> {
    match *rest.get(i)? {
        '\\' => rest.get(i + 1).map(|&c| (c, i + 2)),
        c => Some((c, i + 1)),
    }
}

/// Whether `pattern` matches the whole of `text` (Go's `path.Match`, without its errors:
/// see [`Glob`]).
pub fn matches(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

/// Whether `s` has a wildcard (`*`, `?` or `[`), i.e. may match more than itself.
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// One component of a [`PathGlob`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// `**`: any number of components.
    AnyDepth,
    /// Exactly one component matching this glob.
    One(Glob),
}

/// A glob over path components where a whole component `**` spans any number of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    parts: Vec<Part>,
}

impl PathGlob {
    /// Compiles the components of a pattern (already split at `/`).
    pub fn new<S: AsRef<str>>(components: &[S]) -> PathGlob {
        let mut parts = Vec::new();
        for c in components {
            let part = match c.as_ref() {
                "**" => Part::AnyDepth,
                c => Part::One(Glob::new(c)),
            };
            if !(part == Part::AnyDepth && parts.last() == Some(&Part::AnyDepth)) {
                parts.push(part);
            }
        }
        PathGlob { parts }
    }

    /// Whether the whole path (its components) matches.
    pub fn matches<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.run(path, false)
    }

    /// Whether the path or one of its parent directories (a prefix of one component or
    /// more) matches: what excludes a path in `.dockerignore`.
    pub fn matches_path_or_parent<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.run(path, true)
    }

    /// The automaton over components; with `any_prefix`, accepting after any component.
    fn run<S: AsRef<str>>(&self, path: &[S], any_prefix: bool) -> bool {
        let m = self.parts.len();
        let mut live = vec![false; m + 1];
        let mut next = vec![false; m + 1];
        live[0] = true;
        self.close(&mut live);
        for component in path {
            let component = component.as_ref();
            next.fill(false);
            let mut any = false;
            for (i, part) in self.parts.iter().enumerate() {
                if !live[i] {
                    continue;
                }
                match part {
                    Part::AnyDepth => {
                        next[i] = true;
                        any = true;
                    }
                    Part::One(glob) => {
                        if glob.matches(component) {
                            next[i + 1] = true;
                            any = true;
                        }
                    }
                }
            }
            if !any {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut live, &mut next);
            if any_prefix && live[m] {
                return true;
            }
        }
        live[m] && !(any_prefix && path.is_empty())
    }

    /// Adds the states reachable without reading a component: past each live `**`.
    fn close(&self, states: &mut [bool]) {
        for (i, part) in self.parts.iter().enumerate() {
            if states[i] && *part == Part::AnyDepth {
                states[i + 1] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn stars_and_question_marks_stop_at_slashes() {
        assert!(matches("*.txt", "a.txt"));
        assert!(matches("*.txt", ".txt"));
        assert!(!matches("*.txt", "a.txtx"));
        assert!(!matches("*.txt", "dir/a.txt"));
        assert!(matches("*/*.txt", "dir/a.txt"));
        assert!(matches("file?", "file1"));
        assert!(!matches("file?", "file"));
        assert!(!matches("a?b", "a/b"));
        assert!(matches("*", ""));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(matches("**", "abc"), "** in one component is *");
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("héllo*", "héllo wörld"), "characters, not bytes");
        assert!(matches("h?llo", "héllo"));
    }

    #[test]
    fn docker_reference_filters() {
        assert!(matches("busybox*", "busybox:latest"));
        assert!(matches("*/app", "team/app"));
        assert!(!matches("*", "team/app"), "* stops at /");
        assert!(matches("localhost:5000/*:v?", "localhost:5000/app:v1"));
        assert!(matches("busy[a-z]ox", "busybox"));
    }

    #[test]
    fn classes() {
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[a-c]x", "dx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("[!a-c]x", "dx"));
        assert!(matches("[^a-c]x", "dx"), "^ negates as in Go");
        assert!(matches("[abc]", "c"));
        assert!(!matches("[abc]", "ab"));
        assert!(matches("[a-cx-z0-9]", "y"));
        assert!(matches("[a-cx-z0-9]", "5"));
        assert!(matches("[a-]", "-"), "a final - is itself");
        assert!(matches("[-a]", "-"));
        assert!(!matches("[z-a]", "m"), "an empty range matches nothing");
        assert!(!matches("[]", "a"), "an empty class matches nothing");
        assert!(matches("[\\]]", "]"), "an escaped ] inside a class");
        assert!(matches("[\\-]", "-"));
        assert!(matches("[a\\-z]", "-"));
        assert!(!matches("[a\\-z]", "m"), "an escaped - is not a range");
        assert!(matches("x[", "x["), "an unclosed [ is itself");
        assert!(matches("[ab", "[ab"));
        assert!(matches("*[", "abc["));
        assert!(matches("[é-ë]", "ê"));
    }

    #[test]
    fn escapes() {
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
        assert!(matches("\\?", "?"));
        assert!(!matches("\\?", "a"));
        assert!(matches("\\[a]", "[a]"));
        assert!(matches("a\\\\b", "a\\b"));
        assert!(matches("ab\\", "ab\\"), "a final backslash is itself");
        assert!(
            matches("\\a", "a"),
            "an escaped ordinary character is itself"
        );
        assert!(matches("*\\*", "abc*"));
        assert!(!matches("*\\*", "abc"));
    }

    #[test]
    fn wildcards_are_recognized() {
        assert!(has_wildcards("*.txt"));
        assert!(has_wildcards("a?"));
        assert!(has_wildcards("[ab]"));
        assert!(!has_wildcards("plain.txt"));
    }

    /// The pattern that made the backtracking matchers hang: seven `*a` and a `b` that never
    /// comes. The old matchers took 0.6 s for 40 `a`s, 19 s for 60, and grew as the seventh
    /// power of the length; this one is linear.
    #[test]
    fn a_hostile_pattern_is_fast() {
        let text = "a".repeat(10_000);
        let start = Instant::now();
        assert!(!matches("*a*a*a*a*a*a*a*b", &text));
        assert!(matches("*a*a*a*a*a*a*a*a", &text));
        assert!(!matches("*?*?*?*?*?*?*?*b", &text));
        assert!(!matches("[a]*[a]*[a]*[a]*[a]*[a]*[a]*[b]", &text));
        let components = vec!["a"; 2_000];
        let deep = PathGlob::new(&["**", "a", "**", "a", "**", "a", "**", "a", "**", "b"]);
        assert!(!deep.matches(&components));
        assert!(!deep.matches_path_or_parent(&components));
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_secs(1),
            "took {elapsed:?}: matching must not backtrack"
        );
    }

    fn path_glob(p: &str) -> PathGlob {
        PathGlob::new(&p.split('/').collect::<Vec<_>>())
    }

    fn path(p: &str) -> Vec<&str> {
        p.split('/').collect()
    }

    #[test]
    fn double_stars_span_components() {
        let g = path_glob("**/*.log");
        assert!(g.matches(&path("a.log")), "** matches zero components");
        assert!(g.matches(&path("x/y/a.log")));
        assert!(!g.matches(&path("x/y/a.txt")));
        let g = path_glob("docs/**/*.md");
        assert!(g.matches(&path("docs/x.md")));
        assert!(g.matches(&path("docs/a/b/x.md")));
        assert!(!g.matches(&path("src/a/x.md")));
        let g = path_glob("a/**");
        assert!(
            g.matches(&path("a")),
            "a trailing ** matches zero components too"
        );
        assert!(g.matches(&path("a/b/c")));
        let g = path_glob("**/**/x");
        assert!(g.matches(&path("x")));
        assert!(g.matches(&path("1/2/3/x")));
        assert!(path_glob("**").matches::<&str>(&[]));
    }

    #[test]
    fn a_path_or_its_parent() {
        let g = path_glob("build");
        assert!(g.matches_path_or_parent(&path("build")));
        assert!(g.matches_path_or_parent(&path("build/out/x")));
        assert!(!g.matches_path_or_parent(&path("src/build")));
        assert!(!g.matches(&path("build/out/x")));
        let g = path_glob("**/secret*");
        assert!(g.matches_path_or_parent(&path("a/secrets/key")));
        assert!(
            !g.matches_path_or_parent::<&str>(&[]),
            "the empty path is never excluded"
        );
    }
}
