//! An HTTP client for one repository of a registry, with the authentication dance.
//!
//! Every request goes through [`Client::send`]: on a 401 it reads the `Www-Authenticate`
//! challenge, obtains an `Authorization` value (Basic from the credentials, or a Bearer
//! token from the token server named in the challenge) and retries once. The header is
//! then kept for later requests, so the dance happens once per command.
//!
//! HTTPS by default (roots and client certificates: [`super::tls`]). Plain HTTP only
//! where the user allowed it ([`Transport`]): to loopback registries and those listed
//! in `insecure-registries` (HTTPS is tried first, as Docker does), or to a mirror
//! configured with an `http://` URL. Redirect targets and token servers get the same
//! rule: HTTPS anywhere, plain HTTP only to hosts allowed it.

use super::auth::{Challenge, Credentials};
use super::config::{host_name, RegistryConfig};
use super::tls;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// A response, whatever its status.
pub type Response = ureq::http::Response<ureq::Body>;

/// Largest manifest, index or token response pier reads (they are small JSON documents).
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// The longest a token request may take, answer included.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

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

impl RequestCounts {
    /// Adds another client's counts (a download worker's) to these.
    pub fn add(&mut self, other: &RequestCounts) {
        self.get += other.get;
        self.head += other.head;
        self.post += other.post;
        self.put += other.put;
        self.patch += other.patch;
    }
}

/// How a registry is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS only (every registry not listed below).
    Https,
    /// HTTPS, falling back to plain HTTP if the TLS connection fails: loopback registries
    /// and those in `insecure-registries`.
    HttpsThenHttp,
    /// Plain HTTP: a mirror whose configured URL says `http://`.
    Http,
}

/// Where a registry is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The registry's name, under which credentials are filed (`docker.io`, a mirror's
    /// `host:port`).
    pub name: String,
    /// The `host[:port]` connected to (`registry-1.docker.io`).
    pub address: String,
    /// HTTPS, or where allowed plain HTTP.
    pub transport: Transport,
}

impl Endpoint {
    /// The endpoint of the registry `name` reached at `address`, with plain HTTP allowed
    /// as `config` says.
    pub fn new(name: &str, address: &str, config: &RegistryConfig) -> Endpoint {
        Endpoint {
            name: name.to_string(),
            address: address.to_string(),
            transport: if config.allows_plain_http(address) {
                Transport::HttpsThenHttp
            } else {
                Transport::Https
            },
        }
    }
}

/// A client for `https://<host>/v2/<repository>/...`.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    config: RegistryConfig,
    endpoint: Endpoint,
    host: String,
    base: String,
    /// A response came back over the current scheme (no more HTTP fallback after it).
    connected: bool,
    /// The registry was reached over plain HTTP after HTTPS failed.
    pub fell_back_to_http: bool,
    repository: String,
    creds: Option<Credentials>,
    /// `pull` or `pull,push`: the scope asked of a token server.
    actions: &'static str,
    authorization: Option<String>,
    /// Requests made so far.
    pub counts: RequestCounts,
}

impl Client {
    /// A client for `repository` at `endpoint`.
    pub fn new(
        endpoint: &Endpoint,
        config: &RegistryConfig,
        repository: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Client> {
        let host = endpoint.address.as_str();
        let tls =
            tls::tls_config(host).with_context(|| format!("TLS settings for registry {host}"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
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
        let scheme = if endpoint.transport == Transport::Http {
            "http"
        } else {
            "https"
        };
        Ok(Client {
            agent,
            config: config.clone(),
            endpoint: endpoint.clone(),
            connected: false,
            fell_back_to_http: false,
            host: host.to_string(),
            base: format!("{scheme}://{host}"),
            repository: repository.to_string(),
            creds,
            actions: if push { "pull,push" } else { "pull" },
            authorization: None,
            counts: RequestCounts::default(),
        })
    }

    /// A copy for another thread: same connection pool, authorization and scheme, its
    /// own request counts (starting at zero).
    pub fn fork(&self) -> Client {
        let mut c = self.clone();
        c.counts = RequestCounts::default();
        c
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The endpoint this client speaks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `https://host/v2/` (the API version check, used to test credentials).
    pub fn base_url(&self) -> String {
        format!("{}/v2/", self.base)
    }

    /// `https://host/v2/<repository>/<rest>`.
    pub fn repo_url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// Resolves a `Location` header (absolute, or a path on the registry).
    pub fn resolve_location(&self, location: &str) -> Result<String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            self.check_url(location)
                .with_context(|| format!("registry {} redirected to {location}", self.host))?;
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
    /// answered (once) by authenticating and retrying, and a second 401 is an error; a
    /// 429 is an error naming the registry's rate limit; a GET or HEAD that meets a
    /// 5xx answer or a broken connection is tried again, up to [`MAX_ATTEMPTS`] times,
    /// waiting twice as long each time.
    pub fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response> {
        let idempotent = method == "GET" || method == "HEAD";
        let mut delay = RETRY_DELAY;
        let mut attempt = 1;
        loop {
            let result = self.send_authenticated(method, url, headers, body);
            let transient = match &result {
                Ok(r) => matches!(r.status().as_u16(), 500 | 502 | 503 | 504),
                // A registry that answered before and now does not: a reset, not a wrong
                // address or certificate (those fail the first request, and are final).
                Err(e) => self.connected && e.chain().any(|c| c.is::<ureq::Error>()),
            };
            if !(idempotent && transient && attempt < MAX_ATTEMPTS) {
                let response = result?;
                if response.status().as_u16() == 429 {
                    bail!("{}", rate_limited(&self.host, method, url, &response));
                }
                return Ok(response);
            }
            std::thread::sleep(delay);
            delay *= 2;
            attempt += 1;
        }
    }

    /// [`Self::send`] without the retries.
    fn send_authenticated(
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
            let mut url = self.rebase(url);
            let mut result = self.request_once(method, &url, headers, body, true);
            let speaks_tls = result.as_ref().err().is_some_and(rejected_certificate);
            if result.is_err() && self.may_fall_back() && !speaks_tls {
                // Docker's order for insecure and loopback registries: HTTPS, then HTTP.
                // Not after a certificate was refused: the registry does speak TLS, and
                // its plain-HTTP answer (400) would hide why the pull failed.
                let (https_base, https_url) = (self.base.clone(), url.clone());
                self.base = format!("http://{}", self.host);
                self.fell_back_to_http = true;
                url = self.rebase(&url);
                let plain = self.request_once(method, &url, headers, body, true);
                // An HTTPS-only registry answers plain HTTP with 400: HTTPS was right, and
                // its error (an untrusted certificate, say) is the one to report.
                if matches!(&plain, Ok(r) if r.status().as_u16() == 400) {
                    self.base = https_base;
                    self.fell_back_to_http = false;
                    url = https_url;
                } else {
                    result = plain;
                }
            }
            let response = result.map_err(|e| self.unreachable(method, &url, e))?;
            self.connected = true;
            if is_redirect(&response) && (method == "GET" || method == "HEAD") {
                return self.follow_redirects(method, headers, response);
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
            // Flattened to its text: a token server that failed is not a broken
            // connection to the registry, and must not be retried as one by `send`.
            self.authenticate(&Challenge::parse(&challenge)?)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
            retried = true;
        }
    }

    /// Follows a registry's redirect (blob storage elsewhere) by hand, so that every hop
    /// is checked (HTTPS, or plain HTTP where allowed); the request's own `headers` (a
    /// `Range`) go along, the registry's `Authorization` never does.
    fn follow_redirects(
        &mut self,
        method: &str,
        headers: &[(&str, &str)],
        mut response: Response,
    ) -> Result<Response> {
        for _ in 0..MAX_REDIRECTS {
            let location = header(&response, "location").with_context(|| {
                format!(
                    "registry {} redirected without a Location header",
                    self.host
                )
            })?;
            let url = self.resolve_location(&location)?;
            response = self
                .request_once(method, &url, headers, Body::Empty, false)
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

    /// A URL made before the fall back to plain HTTP, made on the new base.
    fn rebase(&self, url: &str) -> String {
        let https = format!("https://{}/", self.host);
        match url.strip_prefix(&https) {
            Some(rest) if self.fell_back_to_http => format!("{}/{rest}", self.base),
            _ => url.to_string(),
        }
    }

    fn may_fall_back(&self) -> bool {
        self.endpoint.transport == Transport::HttpsThenHttp
            && !self.connected
            && self.base.starts_with("https://")
    }

    /// The error for a request that got no answer, with what to do about it.
    fn unreachable(&self, method: &str, url: &str, e: anyhow::Error) -> anyhow::Error {
        let text = format!("{e:#}");
        let hint = if text.contains("not valid for name") || text.contains("NotValidForName") {
            format!(
                "; the registry presents a certificate for another name than {}",
                host_name(&self.host)
            )
        } else if text.contains("certificate") || text.contains("Certificate") {
            format!(
                "; the registry's certificate is not trusted for {}: if it is signed by a private CA, put the CA in {}/{}/ca.crt",
                host_name(&self.host),
                tls::cert_dirs().first().map_or_else(String::new, |d| d.display().to_string()),
                self.host
            )
        } else if self.base.starts_with("https://")
            && self.endpoint.transport == Transport::Https
            && (text.contains("InvalidContentType")
                || text.contains("corrupt message")
                || text.contains("InvalidMessage"))
        {
            format!(
                "; it does not speak TLS: pier uses HTTPS except for registries listed in \"insecure-registries\" of {}",
                RegistryConfig::path().display()
            )
        } else {
            String::new()
        };
        e.context(format!("{method} {url}: cannot reach the registry{hint}"))
    }

    /// HTTPS anywhere; plain HTTP only to a host allowed it.
    fn check_url(&self, url: &str) -> Result<()> {
        if let Some(rest) = url.strip_prefix("http://") {
            let host = rest.split('/').next().unwrap_or("");
            let same_plain_host = self.base.starts_with("http://") && host == self.host;
            if !self.config.allows_plain_http(host) && !same_plain_host {
                bail!(
                    "refusing plain HTTP to {host}: list it in \"insecure-registries\" of {} if that is intended",
                    RegistryConfig::path().display()
                );
            }
        } else if !url.starts_with("https://") {
            bail!("{url:?} is not an http(s) URL");
        }
        Ok(())
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
    /// we have some; anonymous otherwise; an identity token is exchanged by OAuth2).
    fn fetch_token(&mut self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        self.check_url(realm)
            .with_context(|| format!("token server {realm}"))?;
        if let Some(refresh) = self.creds.as_ref().and_then(|c| c.refresh_token()) {
            let refresh = refresh.to_string();
            return self.fetch_oauth_token(realm, service, scope, &refresh);
        }
        // A token server answers in milliseconds; one that hangs must not hang the pull.
        let mut req = self
            .agent
            .get(realm)
            .config()
            .timeout_global(Some(TOKEN_TIMEOUT))
            .build();
        // A challenge may name several scopes, space separated (a cross-repository
        // mount needs push on one repository and pull on another): token servers take
        // each as its own `scope` parameter, as Docker sends them.
        for one in scope.split_whitespace() {
            req = req.query("scope", one);
        }
        if let Some(s) = service {
            req = req.query("service", s);
        }
        if let Some(c) = &self.creds {
            req = req.header("Authorization", &c.basic_header());
        }
        self.counts.get += 1;
        let response = req.call().with_context(|| {
            format!(
                "cannot reach token server {realm} (pier waits at most {} s for a token)",
                TOKEN_TIMEOUT.as_secs()
            )
        })?;
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
        let body = read_document(response)
            .with_context(|| format!("reading the answer of token server {realm}"))?;
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("parsing the answer of token server {realm}"))?;
        doc.get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .with_context(|| format!("token server {realm} answered without a token"))
    }
}

impl Client {
    /// The OAuth2 way (`POST realm` with `grant_type=refresh_token`), for an identity
    /// token saved by `docker login`: the token server answers an `access_token`.
    fn fetch_oauth_token(
        &mut self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        refresh: &str,
    ) -> Result<String> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "pier"),
            ("scope", scope),
        ];
        if let Some(s) = service {
            form.push(("service", s));
        }
        self.counts.post += 1;
        let response = self
            .agent
            .post(realm)
            .config()
            .timeout_global(Some(TOKEN_TIMEOUT))
            .build()
            .send_form(form)
            .with_context(|| {
                format!(
                    "cannot reach token server {realm} (pier waits at most {} s for a token)",
                    TOKEN_TIMEOUT.as_secs()
                )
            })?;
        if response.status().as_u16() != 200 {
            let code = response.status().as_u16();
            let why = error_text(response);
            bail!(
                "token server {realm} refused the saved identity token for {scope:?} ({code}): {why}; log in again with `pier login {}`",
                self.host
            );
        }
        let body = read_document(response)
            .with_context(|| format!("reading the answer of token server {realm}"))?;
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("parsing the answer of token server {realm}"))?;
        doc.get("access_token")
            .or_else(|| doc.get("token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .with_context(|| format!("token server {realm} answered without an access_token"))
    }
}

/// How many times a GET or HEAD is tried when the registry fails transiently.
pub const MAX_ATTEMPTS: u32 = 4;

/// The wait before the first retry (then doubled: 0.5 s, 1 s, 2 s).
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// The error for a 429, with the limit headers Docker Hub sends (`ratelimit-limit:
/// 100;w=21600` = 100 pulls per 6 hours) and when to retry.
fn rate_limited(host: &str, method: &str, url: &str, response: &Response) -> String {
    let limits: Vec<String> = ["ratelimit-limit", "ratelimit-remaining", "retry-after"]
        .iter()
        .filter_map(|h| header(response, h).map(|v| format!("{h}: {v}")))
        .collect();
    let shown = if limits.is_empty() {
        String::new()
    } else {
        format!(" ({})", limits.join(", "))
    };
    format!(
        "registry {host} refused {method} {url}: 429 Too Many Requests, its rate limit is reached{shown}; wait, log in (pier login) for a higher limit, or configure a registry mirror"
    )
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

/// Whether the TLS handshake failed on the registry's certificate (untrusted, expired,
/// for another name): the peer speaks TLS.
fn rejected_certificate(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("certificate") || text.contains("Certificate") || text.contains("NotValidForName")
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A one-request-per-connection HTTP server on loopback answering `replies` in turn.
    fn serve(replies: Vec<&'static str>) -> (String, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            for reply in replies {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // A TLS ClientHello (pier tries HTTPS first on loopback) is not a request.
                if reader.read_line(&mut line).is_err() || !line.starts_with("GET") {
                    continue;
                }
                while line.trim() != "" {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                }
                let mut out = stream;
                write!(out, "{reply}").unwrap();
                served += 1;
            }
            served
        });
        (host, thread)
    }

    #[test]
    fn transient_failures_are_retried_and_a_rate_limit_is_named() {
        let config = RegistryConfig::default();
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        let unavailable =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        // The first connection is pier's TLS attempt, then plain HTTP: 503, 503, 200.
        let (host, server) = serve(vec!["", ok, unavailable, unavailable, ok]);
        let endpoint = Endpoint::new(&host, &host, &config);
        let mut client = Client::new(&endpoint, &config, "app", None, false).unwrap();
        let url = client.base_url();
        let first = client.send("GET", &url, &[], Body::Empty).unwrap();
        assert_eq!(first.status().as_u16(), 200);
        let url = client.base_url();
        let again = client.send("GET", &url, &[], Body::Empty).unwrap();
        assert_eq!(again.status().as_u16(), 200, "two 503s, then success");
        assert_eq!(server.join().unwrap(), 4);

        let limited = "HTTP/1.1 429 Too Many Requests\r\nratelimit-limit: 100;w=21600\r\nratelimit-remaining: 0;w=21600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (host, server) = serve(vec!["", limited]);
        let endpoint = Endpoint::new(&host, &host, &config);
        let mut client = Client::new(&endpoint, &config, "app", None, false).unwrap();
        let url = client.base_url();
        let err = client
            .send("GET", &url, &[], Body::Empty)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("429") && err.contains("ratelimit-limit: 100;w=21600"),
            "{err}"
        );
        assert_eq!(
            server.join().unwrap(),
            1,
            "a 429 is not hammered with retries"
        );
    }

    #[test]
    fn plain_http_only_where_allowed() {
        let config: RegistryConfig =
            serde_json::from_str(r#"{"insecure-registries": ["lan.example:5000"]}"#).unwrap();
        let ep = |a: &str| Endpoint::new(a, a, &config).transport;
        assert_eq!(ep("127.0.0.1:5000"), Transport::HttpsThenHttp);
        assert_eq!(ep("localhost"), Transport::HttpsThenHttp);
        assert_eq!(ep("lan.example:5000"), Transport::HttpsThenHttp);
        assert_eq!(ep("registry-1.docker.io"), Transport::Https);
        assert_eq!(ep("10.0.0.1:5000"), Transport::Https);
        let endpoint = Endpoint::new("r.example", "r.example", &config);
        let client = Client::new(&endpoint, &config, "app", None, false).unwrap();
        assert_eq!(
            client
                .resolve_location("/v2/app/blobs/uploads/x?a=1")
                .unwrap(),
            "https://r.example/v2/app/blobs/uploads/x?a=1"
        );
        assert!(client
            .resolve_location("https://storage.example.com/blob")
            .is_ok());
        let err = client
            .resolve_location("http://storage.example.com/blob")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("insecure-registries"),
            "{err:#}"
        );
        assert!(client.resolve_location("http://127.0.0.1:9/blob").is_ok());
    }
}
