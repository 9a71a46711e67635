//! Registry credentials and the `Www-Authenticate` challenge.
//!
//! A registry answers an unauthenticated request with 401 and a challenge: `Basic
//! realm="..."` (send the user and password with every request) or `Bearer
//! realm="...",service="...",scope="..."` (ask the token server at `realm` for a token,
//! with the user and password if any, then send `Authorization: Bearer <token>`).
//! Where `pier login` saves credentials: [`super::credentials`].

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use std::collections::BTreeMap;

/// The user name that marks the secret as an identity (refresh) token, as Docker's
/// credential helpers spell it.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

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

    /// An OAuth2 refresh token (Docker's `identitytoken`), kept as Docker's credential
    /// helpers return it: user name [`IDENTITY_TOKEN_USER`], the token as the secret.
    pub fn identity_token(token: &str) -> Credentials {
        Credentials {
            username: IDENTITY_TOKEN_USER.to_string(),
            password: token.to_string(),
        }
    }

    /// The refresh token, if these credentials are one.
    pub fn refresh_token(&self) -> Option<&str> {
        (self.username == IDENTITY_TOKEN_USER).then_some(self.password.as_str())
    }

    /// The `Authorization` header value for Basic authentication.
    pub fn basic_header(&self) -> String {
        format!("Basic {}", self.encoded())
    }

    /// base64(`user:password`), as Docker's `auths.<host>.auth` holds it.
    pub fn encoded(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn debug_output_hides_the_password() {
        let creds = Credentials::parse("alice:s3:cr3t").unwrap();
        assert_eq!(creds.password, "s3:cr3t");
        assert!(!format!("{creds:?}").contains("s3"));
    }
}
