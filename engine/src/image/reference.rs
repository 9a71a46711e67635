//! Image references, as typed after `pier run`, `pier pull` or `FROM`: Docker's grammar.
//!
//! `[DOMAIN/]PATH[:TAG][@DIGEST]`. The first path component is a registry domain when it
//! contains a `.` or a `:`, is `localhost`, or is a bracketed IPv6 address (Docker's rule);
//! otherwise the image is on Docker Hub, `docker.io`, and a one-component path gets the
//! `library/` prefix of official images: `nginx` is `docker.io/library/nginx:latest`,
//! `user/app` is `docker.io/user/app:latest`. docker.io's API lives at
//! [`DOCKER_HUB_ENDPOINT`].
//!
//! The store names images the way `docker images` shows them, by their *familiar* name
//! (`nginx:latest`, `user/app:v1`, `ghcr.io/o/r:tag`): `docker.io/library/nginx` and
//! `nginx` are one name, so `busybox` from `pier image bootstrap` keeps running as
//! `busybox` and an image pulled as `docker.io/library/busybox` replaces it, as in Docker
//! (which keeps the canonical name inside and shows the familiar one).

use anyhow::{bail, Result};
use std::fmt;

/// The tag used when a reference names none.
pub const DEFAULT_TAG: &str = "latest";

/// The registry a reference without a domain names.
pub const DOCKER_HUB: &str = "docker.io";

/// Where Docker Hub's registry API answers (`docker.io` itself serves a web site).
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// The repository prefix of Docker Hub's official images (`nginx` = `library/nginx`).
const OFFICIAL_PREFIX: &str = "library/";

/// A fully parsed reference: where the image lives and which version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry domain, `docker.io` when the reference names none (`index.docker.io` is
    /// normalised to it, as Docker does).
    pub domain: String,
    /// Repository path inside the registry: `library/nginx`, `team/app`.
    pub path: String,
    /// The tag, if given (`latest` is implied only when no digest is given either).
    pub tag: Option<String>,
    /// The digest, if given: `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises a reference; the error names what is wrong.
    pub fn parse(input: &str) -> Result<ImageRef> {
        if input.is_empty() {
            bail!("invalid reference \"\": the image name is empty");
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                validate_digest(input, d)?;
                (r, Some(d.to_string()))
            }
            None => (input, None),
        };
        // The tag separator is the last ':' after the last '/', so a registry port
        // ("localhost:5000/app") is not mistaken for a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            validate_tag(input, t)?;
        }
        validate_name(input, name)?;
        let (domain, path) = match name.split_once('/') {
            Some((first, path)) if is_domain(first) => (first, path),
            _ => (DOCKER_HUB, name),
        };
        let domain = if domain == "index.docker.io" {
            DOCKER_HUB
        } else {
            domain
        };
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path.to_string()
        };
        if path.len() > 255 {
            bail!("invalid reference {input:?}: the repository name is longer than 255 characters");
        }
        Ok(ImageRef {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The name as `docker images` shows it: `nginx`, `user/app`, `ghcr.io/o/r`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The tag, or `latest` when neither a tag nor a digest was given; `None` for a
    /// reference by digest alone.
    pub fn tag_or_default(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The store's `name:tag` for this reference, if it has a tag (explicit or implied).
    pub fn store_reference(&self) -> Option<Reference> {
        self.tag_or_default().map(|t| Reference {
            name: self.familiar_name(),
            tag: t.to_string(),
        })
    }

    /// What to ask the registry's manifests endpoint for: the digest if given (it pins
    /// the content), else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// The host:port pier connects to for this domain (`docker.io` is served at
    /// [`DOCKER_HUB_ENDPOINT`]).
    pub fn endpoint(&self) -> &str {
        if self.domain == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            &self.domain
        }
    }

    /// The familiar `name@digest` key under which a pulled image is also found, if the
    /// reference has a digest.
    pub fn digest_key(&self) -> Option<String> {
        self.digest
            .as_ref()
            .map(|d| format!("{}@{d}", self.familiar_name()))
    }
}

impl fmt::Display for ImageRef {
    /// The canonical form: `docker.io/library/nginx:latest`, `ghcr.io/o/r@sha256:...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = self.tag_or_default() {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// A store reference: familiar `name:tag`, as `pier images` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Familiar repository name, e.g. `busybox` or `localhost:5000/team/app`.
    pub name: String,
    /// Tag, e.g. `latest`.
    pub tag: String,
}

impl Reference {
    /// Parses `name[:tag]`, defaulting the tag to [`DEFAULT_TAG`] and normalising the
    /// name to its familiar form (`docker.io/library/nginx` is `nginx`). A digest is
    /// refused: a store reference names a tag.
    pub fn parse(input: &str) -> Result<Reference> {
        let parsed = ImageRef::parse(input)?;
        if parsed.digest.is_some() {
            bail!("invalid reference {input:?}: a digest (name@sha256:...) cannot name a tag; use NAME[:TAG]");
        }
        parsed
            .store_reference()
            .ok_or_else(|| anyhow::anyhow!("invalid reference {input:?}: no tag"))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Docker's test for a domain: the first of several components containing `.` or `:`,
/// or `localhost`, or a bracketed IPv6 address.
fn is_domain(component: &str) -> bool {
    component.contains('.')
        || component.contains(':')
        || component == "localhost"
        || component.starts_with('[')
}

/// `sha256:` and 64 lowercase hex digits (the only digest algorithm registries use).
fn validate_digest(input: &str, digest: &str) -> Result<()> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        bail!("invalid reference {input:?}: the digest {digest:?} is not ALGORITHM:HEX");
    };
    if algorithm != "sha256" {
        bail!(
            "invalid reference {input:?}: unsupported digest algorithm {algorithm:?} (only sha256)"
        );
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        bail!("invalid reference {input:?}: a sha256 digest is 64 lowercase hex digits");
    }
    Ok(())
}

fn validate_name(input: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("invalid reference {input:?}: the image name is empty");
    }
    if name.len() > 255 {
        bail!("invalid reference {input:?}: the name is longer than 255 characters");
    }
    let components: Vec<&str> = name.split('/').collect();
    for (i, component) in components.iter().enumerate() {
        let domain = i == 0 && components.len() > 1 && is_domain(component);
        if !domain && component.chars().any(|c| c.is_ascii_uppercase()) {
            bail!("invalid reference {input:?}: repository names must be lowercase");
        }
        let ok = if domain {
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
    if let Some(rest) = c.strip_prefix('[') {
        // `[ipv6]` or `[ipv6]:port`.
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty()
            || after.strip_prefix(':').is_some_and(|p| {
                !p.is_empty() && p.len() <= 5 && p.bytes().all(|x| x.is_ascii_digit())
            });
        return addr.parse::<std::net::Ipv6Addr>().is_ok() && port_ok;
    }
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

    /// (input, canonical form, familiar store reference) for accepted names; the intent of
    /// distribution/reference's normalize_test.go and reference_test.go.
    #[test]
    fn names_normalise_like_docker() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let cases: Vec<(String, String, Option<&str>)> = vec![
            (
                "nginx".into(),
                "docker.io/library/nginx:latest".into(),
                Some("nginx:latest"),
            ),
            (
                "nginx:1.25".into(),
                "docker.io/library/nginx:1.25".into(),
                Some("nginx:1.25"),
            ),
            (
                "user/app".into(),
                "docker.io/user/app:latest".into(),
                Some("user/app:latest"),
            ),
            (
                "docker.io/library/nginx".into(),
                "docker.io/library/nginx:latest".into(),
                Some("nginx:latest"),
            ),
            (
                "docker.io/nginx".into(),
                "docker.io/library/nginx:latest".into(),
                Some("nginx:latest"),
            ),
            (
                "index.docker.io/user/app:v1".into(),
                "docker.io/user/app:v1".into(),
                Some("user/app:v1"),
            ),
            (
                "library/nginx".into(),
                "docker.io/library/nginx:latest".into(),
                Some("nginx:latest"),
            ),
            (
                "ghcr.io/o/r:tag".into(),
                "ghcr.io/o/r:tag".into(),
                Some("ghcr.io/o/r:tag"),
            ),
            (
                "quay.io/a/b/c".into(),
                "quay.io/a/b/c:latest".into(),
                Some("quay.io/a/b/c:latest"),
            ),
            (
                "localhost/app".into(),
                "localhost/app:latest".into(),
                Some("localhost/app:latest"),
            ),
            (
                "localhost:5000/team/app:v2".into(),
                "localhost:5000/team/app:v2".into(),
                Some("localhost:5000/team/app:v2"),
            ),
            (
                "127.0.0.1:5000/app".into(),
                "127.0.0.1:5000/app:latest".into(),
                Some("127.0.0.1:5000/app:latest"),
            ),
            (
                "[::1]:5000/app:v1".into(),
                "[::1]:5000/app:v1".into(),
                Some("[::1]:5000/app:v1"),
            ),
            (
                "Registry.Example.COM/app".into(),
                "Registry.Example.COM/app:latest".into(),
                Some("Registry.Example.COM/app:latest"),
            ),
            // A first component without '.' or ':' is a path, not a host.
            (
                "team/app:v1".into(),
                "docker.io/team/app:v1".into(),
                Some("team/app:v1"),
            ),
            (
                format!("nginx@{digest}"),
                format!("docker.io/library/nginx@{digest}"),
                None,
            ),
            (
                format!("nginx:1.25@{digest}"),
                format!("docker.io/library/nginx:1.25@{digest}"),
                Some("nginx:1.25"),
            ),
            (
                format!("ghcr.io/o/r@{digest}"),
                format!("ghcr.io/o/r@{digest}"),
                None,
            ),
        ];
        for (input, canonical, store) in cases {
            let r = ImageRef::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), canonical, "{input}");
            assert_eq!(
                r.store_reference().map(|s| s.to_string()).as_deref(),
                store,
                "{input}"
            );
        }
    }

    #[test]
    fn docker_hub_is_reached_at_registry_1() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.endpoint()),
            ("docker.io", "registry-1.docker.io")
        );
        assert_eq!(r.path, "library/nginx");
        assert_eq!(r.manifest_reference(), "latest");
        let r = ImageRef::parse("ghcr.io/o/r:t").unwrap();
        assert_eq!(
            (r.endpoint(), r.path.as_str(), r.manifest_reference()),
            ("ghcr.io", "o/r", "t")
        );
        let d = format!("sha256:{}", "b".repeat(64));
        let r = ImageRef::parse(&format!("a:1@{d}")).unwrap();
        assert_eq!(
            r.manifest_reference(),
            d,
            "a digest pins the content, over the tag"
        );
        assert_eq!(r.digest_key().unwrap(), format!("a@{d}"));
    }

    #[test]
    fn store_references_are_familiar() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "busybox:latest");
        assert_eq!(
            Reference::parse("docker.io/library/busybox:latest").unwrap(),
            r
        );
        assert_eq!(Reference::parse("busybox:1.36").unwrap().tag, "1.36");
        let r = Reference::parse("localhost:5000/app:v2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/app", "v2")
        );
        // docker.io/library/a/b is not an official image: it keeps its path.
        assert_eq!(
            Reference::parse("docker.io/library/a/b").unwrap().name,
            "library/a/b"
        );
    }

    #[test]
    fn rejects_invalid_references_with_reasons() {
        for (bad, why) in [
            ("".to_string(), "empty"),
            ("Busybox".into(), "lowercase"),
            ("user/App".into(), "lowercase"),
            ("bad name".into(), "not a valid name component"),
            ("a//b".into(), "not a valid name component"),
            ("-a".into(), "not a valid name component"),
            ("a:".into(), "invalid tag"),
            ("a:.x".into(), "invalid tag"),
            (format!("a:{}", "t".repeat(129)), "invalid tag"),
            ("a@sha256:00".into(), "64 lowercase hex"),
            (
                format!("a@md5:{}", "a".repeat(32)),
                "unsupported digest algorithm",
            ),
            ("a@latest".into(), "ALGORITHM:HEX"),
            (format!("a@sha256:{}", "A".repeat(64)), "64 lowercase hex"),
            (":tag".into(), "empty"),
            ("[::1/app".into(), "not a valid name component"),
            ("host:port/app".into(), "not a valid name component"),
            (format!("{}/a", "x".repeat(256)), "longer than 255"),
        ] {
            let err = ImageRef::parse(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let err = Reference::parse(&format!("a@sha256:{}", "a".repeat(64)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot name a tag"), "{err}");
        assert!(Reference::parse("my-app_2.x__y").is_ok());
    }
}
