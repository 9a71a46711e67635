//! Image references: `name[:tag]`, as typed after `pier run` or `pier tag`.
//!
//! The grammar follows Docker's (lowercase path components separated by `/`, an optional
//! registry host with a port as the first component, a tag of up to 128 word characters),
//! so names students see elsewhere are accepted unchanged. pier has no registry, so the
//! name is never rewritten (`busybox` stays `busybox`, not `docker.io/library/busybox`).

use anyhow::{bail, Result};
use std::fmt;

/// The tag used when a reference names none.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, validated `name:tag` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Repository name, e.g. `busybox` or `localhost:5000/team/app`.
    pub name: String,
    /// Tag, e.g. `latest`.
    pub tag: String,
}

impl Reference {
    /// Parses `name[:tag]`, defaulting the tag to [`DEFAULT_TAG`].
    pub fn parse(input: &str) -> Result<Reference> {
        if input.is_empty() {
            bail!("invalid reference \"\": the image name is empty");
        }
        if input.contains('@') {
            bail!("invalid reference {input:?}: digest references (name@sha256:...) are not supported; use the image ID instead");
        }
        // The tag separator is the last ':' after the last '/', so a registry port
        // ("localhost:5000/app") is not mistaken for a tag.
        let last_slash = input.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match input[last_slash..].rfind(':') {
            Some(i) => (&input[..last_slash + i], &input[last_slash + i + 1..]),
            None => (input, DEFAULT_TAG),
        };
        validate_name(input, name)?;
        validate_tag(input, tag)?;
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

fn validate_name(input: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("invalid reference {input:?}: the image name is empty");
    }
    if name.len() > 255 {
        bail!("invalid reference {input:?}: the name is longer than 255 characters");
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        bail!("invalid reference {input:?}: repository names must be lowercase");
    }
    let components: Vec<&str> = name.split('/').collect();
    for (i, component) in components.iter().enumerate() {
        let is_domain = i == 0
            && components.len() > 1
            && (component.contains('.') || component.contains(':') || *component == "localhost");
        let ok = if is_domain {
            valid_domain(component)
        } else {
            valid_path_component(component)
        };
        if !ok {
            bail!(
                "invalid reference {input:?}: {component:?} is not a valid name component \
                 (use lowercase letters, digits and single '.', '_', '__' or '-' separators)"
            );
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is dot-separated labels of letters, digits and '-'.
fn valid_domain(c: &str) -> bool {
    let (host, port) = match c.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (c, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|x| x.is_ascii_alphanumeric() || x == b'-')
        });
    let port_ok = match port {
        Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|x| x.is_ascii_digit()),
        None => true,
    };
    host_ok && port_ok
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn validate_tag(input: &str, tag: &str) -> Result<()> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let ok = !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if !ok {
        bail!(
            "invalid reference {input:?}: invalid tag {tag:?} (1-128 letters, digits, '_', '.', '-'; \
             not starting with '.' or '-')"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_tag_to_latest() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "busybox:latest");
        assert_eq!(Reference::parse("busybox:1.36").unwrap().tag, "1.36");
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        let r = Reference::parse("localhost:5000/team/app").unwrap();
        assert_eq!(r.name, "localhost:5000/team/app");
        assert_eq!(r.tag, "latest");
        let r = Reference::parse("localhost:5000/app:v2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/app", "v2")
        );
    }

    #[test]
    fn rejects_invalid_references_with_reasons() {
        for (bad, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("bad name", "not a valid name component"),
            ("a//b", "not a valid name component"),
            ("-a", "not a valid name component"),
            ("a:", "invalid tag"),
            ("a:.x", "invalid tag"),
            ("a@sha256:00", "digest references"),
            (":tag", "empty"),
        ] {
            let err = Reference::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(Reference::parse("my-app_2.x__y").is_ok());
    }
}
