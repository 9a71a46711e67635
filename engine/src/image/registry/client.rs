//! An HTTP client for one repository of a registry, with the authentication dance.
//!
//! Every request goes through [`Client::send`]: on a 401 it reads the `Www-Authenticate`
//! challenge, obtains an `Authorization` value (Basic from the credentials, or a Bearer
//! token from the token server named in the challenge) and retries once. The header is
//! then kept for later requests, so the dance happens once per command.
//!
//! Plain HTTP only, and only to loopback addresses: pier has no TLS, and sending images
//! (or passwords) over unencrypted HTTP anywhere else would be unsafe.

use super::auth::{Challenge, Credentials};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// A response, whatever its status.
pub type Response = ureq::http::Response<ureq::Body>;

/// Largest manifest, index or token response pier reads (they are small JSON documents).
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Redirect hops followed at most.
const MAX_REDIRECTS: usize = 5;

/// A request body that can be sent again after an authentication retry.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// These bytes.
    Bytes(&'a [u8]),
    /// The contents of this file.
    File(&'a Path),
}

/// Counts of requests made, by method (for reports and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    /// GET requests.
    pub get: u32,
    /// HEAD requests.
    pub head: u32,
    /// POST requests.
    pub post: u32,
    /// PUT requests.
    pub put: u32,
    /// PATCH requests (chunked uploads).
    pub patch: u32,
}

/// A client for `http://<host>/v2/<repository>/...`.
pub struct Client {
    agent: ureq::Agent,
    host: String,
    base: String,
    repository: String,
    creds: Option<Credentials>,
    /// `pull` or `pull,push`: the scope asked of a token server.
    actions: &'static str,
    authorization: Option<String>,
    /// Requests made so far.
    pub counts: RequestCounts,
}

impl Client {
    /// A client for `repository` on `host` (`host[:port]`), refusing non-loopback hosts.
    pub fn new(
        host: &str,
        repository: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Client> {
        check_loopback(host)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // Statuses are answers to inspect (404 = blob missing), not transport errors.
            .http_status_as_error(false)
            // Redirects are followed by hand, checking each hop (see follow_redirects).
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(300)))
            .timeout_per_write(Some(Duration::from_secs(300)))
            .user_agent(concat!("pier/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            host: host.to_string(),
            base: format!("http://{host}"),
            repository: repository.to_string(),
            creds,
            actions: if push { "pull,push" } else { "pull" },
            authorization: None,
            counts: RequestCounts::default(),
        })
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `http://host/v2/` (the API version check, used to test credentials).
    pub fn base_url(&self) -> String {
        format!("{}/v2/", self.base)
    }

    /// `http://host/v2/<repository>/<rest>`.
    pub fn repo_url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// Resolves a `Location` header (absolute, or a path on the registry).
    pub fn resolve_location(&self, location: &str) -> Result<String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            let rest = location.split_once("://").map_or("", |(_, r)| r);
            let host = rest.split('/').next().unwrap_or("");
            check_loopback(host)?;
            Ok(location.to_string())
        } else if location.starts_with('/') {
            Ok(format!("{}{location}", self.base))
        } else {
            bail!(
                "registry {} sent an unusable Location header {location:?}",
                self.host
            )
        }
    }

    /// Sends a request; returns the response whatever its status, except that a 401 is
    /// answered (once) by authenticating and retrying, and a second 401 is an error.
    pub fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response> {
        let mut retried = false;
        loop {
            match method {
                "GET" => self.counts.get += 1,
                "HEAD" => self.counts.head += 1,
                "POST" => self.counts.post += 1,
                "PUT" => self.counts.put += 1,
                "PATCH" => self.counts.patch += 1,
                _ => {}
            }
            let result = self.request_once(method, url, headers, body, true);
            let response =
                result.with_context(|| format!("{method} {url}: cannot reach the registry"))?;
            if is_redirect(&response) && (method == "GET" || method == "HEAD") {
                return self.follow_redirects(method, response);
            }
            if response.status().as_u16() != 401 {
                return Ok(response);
            }
            if retried {
                let why = error_text(response);
                bail!(
                    "registry {} refused {method} {url} after authenticating (401): {why}; check the user name and password (pier login {})",
                    self.host,
                    self.host
                );
            }
            let challenge = header(&response, "www-authenticate").with_context(|| {
                format!(
                    "registry {} answered 401 without a Www-Authenticate challenge",
                    self.host
                )
            })?;
            self.authenticate(&Challenge::parse(&challenge)?)?;
            retried = true;
        }
    }

    /// Follows a registry's redirect (blob storage elsewhere) by hand, so that every hop
    /// is checked to be loopback too; credentials are not sent along.
    fn follow_redirects(&mut self, method: &str, mut response: Response) -> Result<Response> {
        for _ in 0..MAX_REDIRECTS {
            let location = header(&response, "location").with_context(|| {
                format!(
                    "registry {} redirected without a Location header",
                    self.host
                )
            })?;
            let url = self.resolve_location(&location)?;
            response = self
                .request_once(method, &url, &[], Body::Empty, false)
                .with_context(|| format!("{method} {url} (redirected): cannot reach it"))?;
            if !is_redirect(&response) {
                return Ok(response);
            }
        }
        bail!(
            "registry {}: more than {MAX_REDIRECTS} redirects",
            self.host
        )
    }

    fn request_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        with_auth: bool,
    ) -> Result<Response> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(a) = self.authorization.as_ref().filter(|_| with_auth) {
            builder = builder.header("Authorization", a.as_str());
        }
        let response = match body {
            Body::Empty => self.agent.run(builder.body(())?),
            Body::Bytes(b) => self.agent.run(builder.body(b)?),
            Body::File(p) => {
                let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
                self.agent.run(builder.body(f)?)
            }
        };
        Ok(response?)
    }

    /// Obtains the `Authorization` header value the challenge asks for.
    fn authenticate(&mut self, challenge: &Challenge) -> Result<()> {
        match challenge {
            Challenge::Basic => {
                let creds = self.creds.as_ref().with_context(|| {
                    format!(
                        "registry {} requires authentication: log in with `pier login {}` or pass --creds USER:PASSWORD",
                        self.host, self.host
                    )
                })?;
                self.authorization = Some(creds.basic_header());
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope
                    .clone()
                    .unwrap_or_else(|| format!("repository:{}:{}", self.repository, self.actions));
                let token = self.fetch_token(realm, service.as_deref(), &scope)?;
                self.authorization = Some(format!("Bearer {token}"));
            }
        }
        Ok(())
    }

    /// Asks the token server `realm` for a token for `scope` (with Basic credentials if
    /// we have some; anonymous otherwise).
    fn fetch_token(&mut self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        let rest = realm.split_once("://").map_or(realm, |(_, r)| r);
        check_loopback(rest.split('/').next().unwrap_or(""))
            .with_context(|| format!("token server {realm}"))?;
        let mut req = self.agent.get(realm);
        if !scope.is_empty() {
            req = req.query("scope", scope);
        }
        if let Some(s) = service {
            req = req.query("service", s);
        }
        if let Some(c) = &self.creds {
            req = req.header("Authorization", &c.basic_header());
        }
        self.counts.get += 1;
        let response = req
            .call()
            .with_context(|| format!("cannot reach token server {realm}"))?;
        if response.status().as_u16() != 200 {
            let code = response.status().as_u16();
            let why = error_text(response);
            let hint = if self.creds.is_none() {
                format!(
                    "; log in with `pier login {}` or pass --creds USER:PASSWORD",
                    self.host
                )
            } else {
                String::new()
            };
            bail!("token server {realm} refused a token for {scope:?} ({code}): {why}{hint}")
        }
        let doc: serde_json::Value = serde_json::from_slice(&read_document(response)?)
            .with_context(|| format!("parsing the answer of token server {realm}"))?;
        doc.get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .with_context(|| format!("token server {realm} answered without a token"))
    }
}

/// Reads a small JSON document body (at most [`MAX_DOCUMENT`] bytes).
pub fn read_document(response: Response) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut data)
        .context("reading the registry's answer")?;
    if data.len() as u64 > MAX_DOCUMENT {
        bail!("the registry's answer is larger than {MAX_DOCUMENT} bytes");
    }
    Ok(data)
}

/// The registry's error message (`{"errors":[{"code","message"}]}`), or the status text.
pub fn error_text(response: Response) -> String {
    let status = response.status().to_string();
    let body = read_document(response).unwrap_or_default();
    let messages: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.get("code").and_then(|c| c.as_str()).unwrap_or("ERROR"),
                e.get("message").and_then(|m| m.as_str()).unwrap_or("")
            )
        })
        .collect();
    if messages.is_empty() {
        status
    } else {
        format!("{status} ({})", messages.join("; "))
    }
}

fn is_redirect(response: &Response) -> bool {
    matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// A response header as text, if present and valid.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Refuses hosts that are not loopback: `localhost`, 127.0.0.0/8 or `[::1]`, any port.
pub fn check_loopback(host: &str) -> Result<()> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let loopback = name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "registry {host:?}: pier speaks plain HTTP and only to loopback registries \
             (localhost, 127.0.0.0/8, [::1]); HTTPS and remote registries are not supported"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_registries() {
        for ok in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:80",
            "localhost",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "docker.io",
            "10.0.0.1:5000",
            "example.com:5000",
            "[fe80::1]:5000",
        ] {
            let err = check_loopback(bad).unwrap_err().to_string();
            assert!(err.contains("loopback"), "{bad}: {err}");
        }
        let client = Client::new("127.0.0.1:5000", "app", None, false).unwrap();
        assert_eq!(
            client
                .resolve_location("/v2/app/blobs/uploads/x?a=1")
                .unwrap(),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/x?a=1"
        );
        assert!(client
            .resolve_location("https://storage.example.com/blob")
            .is_err());
        assert!(Client::new("example.com", "app", None, false).is_err());
    }
}
