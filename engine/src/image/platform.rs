//! Platforms (`linux/amd64`, `linux/arm/v7`): which manifest of a multi-platform image
//! (an OCI index or Docker manifest list) pier pulls.

use anyhow::{bail, Context, Result};
use oci_spec::image::Descriptor;
use std::fmt;

/// `os/architecture[/variant]`, with Go's names (`amd64`, `arm64`), as in image indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, `386`, ...
    pub architecture: String,
    /// `v7`, `v8`, ... if given.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform pier runs on.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]` (`--platform`); `arch` alone means linux.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(*v)),
            _ => bail!("invalid platform {s:?}: use OS/ARCH[/VARIANT], e.g. linux/arm64"),
        };
        let ok =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok(os) || !ok(arch) || variant.is_some_and(|v| !ok(v)) {
            bail!("invalid platform {s:?}: use OS/ARCH[/VARIANT], e.g. linux/arm64");
        }
        Ok(Platform {
            os: os.to_ascii_lowercase(),
            architecture: arch.to_ascii_lowercase(),
            variant: variant.map(str::to_ascii_lowercase),
        })
    }

    /// The index entry for this platform: os and architecture must match; a variant, if
    /// asked for, too (an entry without a variant is taken when none names it).
    pub fn pick<'a>(&self, manifests: &'a [Descriptor]) -> Result<&'a Descriptor> {
        let matching = |exact_variant: bool| {
            manifests.iter().find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == self.os
                        && p.architecture().to_string() == self.architecture
                        && match (&self.variant, p.variant()) {
                            (None, _) => true,
                            (Some(v), Some(pv)) => v == pv,
                            (Some(_), None) => !exact_variant,
                        }
                })
            })
        };
        let available: Vec<String> = manifests
            .iter()
            .filter_map(|d| d.platform().as_ref())
            .map(|p| {
                let mut s = format!("{}/{}", p.os(), p.architecture());
                if let Some(v) = p.variant() {
                    s.push('/');
                    s.push_str(v);
                }
                s
            })
            .collect();
        matching(true).or_else(|| matching(false)).with_context(|| {
            format!(
                "no {self} image in the index (it has: {})",
                if available.is_empty() {
                    "no platforms".to_string()
                } else {
                    available.join(", ")
                }
            )
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_platforms() {
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        let index: oci_spec::image::ImageIndex = serde_json::from_str(&format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{a}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{b}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{c}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}}]}}"#,
            a = "a".repeat(64),
            b = "b".repeat(64),
            c = "c".repeat(64)
        ))
        .unwrap();
        let pick = |p: &str| {
            Platform::parse(p)
                .unwrap()
                .pick(index.manifests())
                .map(|d| d.digest().to_string()[7..8].to_string())
        };
        assert_eq!(pick("linux/amd64").unwrap(), "a");
        assert_eq!(pick("linux/arm/v7").unwrap(), "c");
        assert_eq!(pick("linux/arm").unwrap(), "b");
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm/v7"),
            "{err}"
        );
    }
}
