//! Registry credentials and the `Www-Authenticate` challenge.
//!
//! A registry answers an unauthenticated request with 401 and a challenge: `Basic
//! realm="..."` (send the user and password with every request) or `Bearer
//! realm="...",service="...",scope="..."` (ask the token server at `realm` for a token,
//! with the user and password if any, then send `Authorization: Bearer <token>`).
//! Credentials saved by `pier login` live in `<root>/auth.json`, in Docker's
//! `config.json` format (`{"auths": {"host": {"auth": base64("user:pass")}}}`), mode 0600.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use pier_oci::atomic_file::{self, Options};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, even in debug output.
        write!(f, "Credentials({}:***)", self.username)
    }
}

impl Credentials {
    /// Parses `user:password` (as given to `--creds`).
    pub fn parse(creds: &str) -> Result<Credentials> {
        match creds.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }),
            _ => bail!("credentials must be given as USER:PASSWORD"),
        }
    }

    /// The `Authorization` header value for Basic authentication.
    pub fn basic_header(&self) -> String {
        format!("Basic {}", self.encoded())
    }

    fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }
}

/// A parsed `Www-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        /// Token server URL.
        realm: String,
        /// The `service` parameter to pass back, if given.
        service: Option<String>,
        /// The `scope` the request needed, if given.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the header value; the scheme is case-insensitive, parameters are
    /// `key="value"` (quoted, with `\` escapes) or `key=token`, comma separated.
    pub fn parse(header: &str) -> Result<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Ok(Challenge::Basic),
            "bearer" => Ok(Challenge::Bearer {
                realm: params
                    .get("realm")
                    .cloned()
                    .with_context(|| format!("Bearer challenge without a realm: {header:?}"))?,
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            }),
            _ => bail!("unsupported authentication scheme in Www-Authenticate: {header:?}"),
        }
    }
}

fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    _ => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// `<root>/auth.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFileContents {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AuthEntry {
    auth: String,
}

/// The credentials `pier login` saved, one per registry host.
#[derive(Debug)]
pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    /// The file under pier's state `root`.
    pub fn new(root: &Path) -> AuthFile {
        AuthFile {
            path: root.join("auth.json"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<AuthFileContents> {
        if !self.path.exists() {
            return Ok(AuthFileContents::default());
        }
        pier_oci::persist::read_json(&self.path)
    }

    /// The saved credentials for `host`, if any.
    pub fn get(&self, host: &str) -> Result<Option<Credentials>> {
        let Some(entry) = self.load()?.auths.remove(host) else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entry.auth.trim())
            .with_context(|| {
                format!(
                    "decoding the credentials for {host} in {}",
                    self.path.display()
                )
            })?;
        let text = String::from_utf8(decoded)
            .with_context(|| format!("credentials for {host} in {}", self.path.display()))?;
        Credentials::parse(&text)
            .map(Some)
            .with_context(|| format!("credentials for {host} in {}", self.path.display()))
    }

    /// Saves (`Some`) or forgets (`None`) the credentials for `host`.
    pub fn set(&self, host: &str, creds: Option<&Credentials>) -> Result<()> {
        let mut contents = self.load()?;
        match creds {
            Some(c) => {
                contents
                    .auths
                    .insert(host.to_string(), AuthEntry { auth: c.encoded() });
            }
            None => {
                contents.auths.remove(host);
            }
        }
        let data = serde_json::to_vec_pretty(&contents).context("serializing auth.json")?;
        // Created 0600 from the start: it holds passwords, so it must never be readable by
        // others, not even for a moment.
        atomic_file::write(&self.path, &data, Options::durable().mode(0o600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap(),
            Challenge::Basic
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#
            )
            .unwrap(),
            Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        assert!(Challenge::parse("Negotiate").is_err());
        assert!(Challenge::parse("Bearer service=x").is_err());
    }

    #[test]
    fn auth_file_is_private_and_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let file = AuthFile::new(t.path());
        let creds = Credentials::parse("alice:s3:cr3t").unwrap();
        assert_eq!(creds.password, "s3:cr3t");
        file.set("localhost:5000", Some(&creds)).unwrap();
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(file.get("localhost:5000").unwrap(), Some(creds));
        assert_eq!(file.get("other:1").unwrap(), None);
        file.set("localhost:5000", None).unwrap();
        assert_eq!(file.get("localhost:5000").unwrap(), None);
        assert!(!format!("{:?}", Credentials::parse("u:pw").unwrap()).contains("pw"));
    }
}
