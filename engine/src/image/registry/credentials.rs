//! Where `pier login` keeps credentials: Docker's client configuration, so that a user's
//! existing `docker login` works with pier and the other way round.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
//!
//! ```json
//! { "auths": { "registry.example.com": { "auth": "base64(user:password)" } },
//!   "credsStore": "pass",
//!   "credHelpers": { "ghcr.io": "gh" } }
//! ```
//!
//! A registry named in `credHelpers`, or every registry when `credsStore` is set, keeps
//! its secret in a credential helper instead: the program `docker-credential-<name>`,
//! spoken to with Docker's protocol (`get`, `store`, `erase` as the argument; the server
//! URL or a JSON `{"ServerURL","Username","Secret"}` on standard input; JSON on standard
//! output). Docker Hub is filed under `https://index.docker.io/v1/`, as Docker files it.
//!
//! The file is rewritten whole, atomically and mode 0600 from the start; keys pier does
//! not know are kept. Secrets are never printed, not even in errors.

use super::auth::Credentials;
use crate::image::reference::DOCKER_HUB;
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use pier_oci::atomic_file::{self, Options};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key Docker files Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The environment variable naming the directory of `config.json`.
pub const DOCKER_CONFIG_ENV: &str = "DOCKER_CONFIG";

/// Docker's client configuration file, as far as credentials go.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
}

impl CredentialStore {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn open() -> Result<CredentialStore> {
        let dir = match std::env::var_os(DOCKER_CONFIG_ENV).filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => {
                let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).context(
                    "neither DOCKER_CONFIG nor HOME is set: cannot find the credentials file",
                )?;
                Path::new(&home).join(".docker")
            }
        };
        Ok(CredentialStore::at(&dir.join("config.json")))
    }

    /// The file at `path`.
    pub fn at(path: &Path) -> CredentialStore {
        CredentialStore {
            path: path.to_path_buf(),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Map<String, Value>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        if text.trim().is_empty() {
            return Ok(Map::new());
        }
        match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => bail!("{} is not a JSON object", self.path.display()),
        }
    }

    fn save(&self, doc: &Map<String, Value>) -> Result<()> {
        let data = serde_json::to_vec_pretty(doc)
            .with_context(|| format!("serializing {}", self.path.display()))?;
        // 0600 from the start: it holds passwords, never readable by others, not even for
        // a moment; renamed into place, so a crash never leaves half a file.
        atomic_file::write(&self.path, &data, Options::durable().mode(0o600))
    }

    /// The credential helper for `registry`, if one is configured.
    fn helper(doc: &Map<String, Value>, registry: &str) -> Option<String> {
        let key = file_key(registry);
        doc.get("credHelpers")
            .and_then(|h| h.get(registry).or_else(|| h.get(&key)))
            .or_else(|| doc.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The credentials for `registry` (`docker.io`, `host[:port]`), if any.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let doc = self.load()?;
        if let Some(helper) = Self::helper(&doc, registry) {
            return helper_get(&helper, &file_key(registry));
        }
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let entry = auths
            .iter()
            .find(|(k, _)| same_registry(k, registry))
            .map(|(_, v)| v);
        // An OAuth2 refresh token (what `docker login` stores for registries whose
        // token server issues one) stands in for the password.
        let identity = entry
            .and_then(|e| e.get("identitytoken"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        if let Some(token) = identity {
            return Ok(Some(Credentials::identity_token(token)));
        }
        let Some(auth) = entry.and_then(|e| e.get("auth")).and_then(Value::as_str) else {
            return Ok(None);
        };
        let what = || format!("the credentials for {registry} in {}", self.path.display());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .with_context(what)?;
        let text = String::from_utf8(decoded).with_context(what)?;
        Credentials::parse(&text).map(Some).with_context(what)
    }

    /// Saves the credentials for `registry` (in its helper if it has one). Returns where.
    pub fn store(&self, registry: &str, creds: &Credentials) -> Result<String> {
        let mut doc = self.load()?;
        let key = file_key(registry);
        if let Some(helper) = Self::helper(&doc, registry) {
            helper_store(&helper, &key, creds)?;
            return Ok(format!("credential helper docker-credential-{helper}"));
        }
        let auths = doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(auths) = auths.as_object_mut() else {
            bail!("\"auths\" in {} is not an object", self.path.display());
        };
        auths.retain(|k, _| !same_registry(k, registry));
        auths.insert(key, json!({ "auth": creds.encoded() }));
        self.save(&doc)?;
        Ok(self.path.display().to_string())
    }

    /// Forgets the credentials for `registry`. Returns whether there were any.
    pub fn erase(&self, registry: &str) -> Result<bool> {
        let mut doc = self.load()?;
        let key = file_key(registry);
        let mut found = false;
        if let Some(helper) = Self::helper(&doc, registry) {
            found = helper_erase(&helper, &key)?;
        }
        if let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| !same_registry(k, registry));
            if auths.len() != before {
                found = true;
                self.save(&doc)?;
            }
        }
        Ok(found)
    }
}

/// The key a registry is filed under (Docker Hub's historical URL for docker.io).
pub fn file_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Whether a key of `auths` names `registry`: Docker accepts `host`, `https://host`,
/// `https://host/v1/`..., and several names for Docker Hub.
fn same_registry(key: &str, registry: &str) -> bool {
    let bare = |k: &str| {
        let k = k
            .strip_prefix("https://")
            .or_else(|| k.strip_prefix("http://"))
            .unwrap_or(k);
        k.split('/').next().unwrap_or("").to_string()
    };
    let hub = |h: &str| {
        matches!(
            h,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    };
    let (k, r) = (bare(key), bare(registry));
    k == r || (hub(&k) && hub(&r))
}

/// Runs `docker-credential-<helper> <action>` with `input`; (success, stdout).
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<(bool, String)> {
    if helper.contains('/') || helper.is_empty() {
        bail!("invalid credential helper name {helper:?}");
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running credential helper {program} (is it installed?)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .with_context(|| format!("writing to credential helper {program}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for credential helper {program}"))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// The helper's answer to `get`, or `None` when it has nothing for `server`.
fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    let (ok, out) = run_helper(helper, "get", server.as_bytes())?;
    if !ok {
        if out.contains("credentials not found") {
            return Ok(None);
        }
        // The helper's own message (it never holds the secret: the get failed).
        bail!("credential helper docker-credential-{helper} get {server} failed: {out}");
    }
    let v: Value = serde_json::from_str(&out).with_context(|| {
        format!("credential helper docker-credential-{helper} answered something not JSON")
    })?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (username, password) = (field("Username"), field("Secret"));
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials { username, password }))
}

fn helper_store(helper: &str, server: &str, creds: &Credentials) -> Result<()> {
    let input = json!({
        "ServerURL": server,
        "Username": creds.username,
        "Secret": creds.password,
    });
    let (ok, out) = run_helper(helper, "store", input.to_string().as_bytes())?;
    if !ok {
        bail!("credential helper docker-credential-{helper} could not store the credentials for {server}: {out}");
    }
    Ok(())
}

fn helper_erase(helper: &str, server: &str) -> Result<bool> {
    let (ok, out) = run_helper(helper, "erase", server.as_bytes())?;
    if !ok && !out.contains("credentials not found") {
        bail!("credential helper docker-credential-{helper} erase {server} failed: {out}");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn docker_config_is_private_keeps_other_keys_and_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6cHc="}},"psFormat":"x"}"#,
        )
        .unwrap();
        let store = CredentialStore::at(&path);
        // docker login's own entry for Docker Hub is found under docker.io.
        let hub = store.get("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("alice", "pw")
        );
        let creds = Credentials::parse("bob:s3:cr3t").unwrap();
        store.store("localhost:5000", &creds).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(store.get("localhost:5000").unwrap(), Some(creds));
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "x", "unknown keys are kept");
        assert_eq!(doc["auths"]["localhost:5000"]["auth"], "Ym9iOnMzOmNyM3Q=");
        assert!(store.erase("localhost:5000").unwrap());
        assert!(!store.erase("localhost:5000").unwrap());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
        assert_eq!(store.get("other:1").unwrap(), None);
        assert!(same_registry("https://ghcr.io", "ghcr.io"));
        assert!(!same_registry("ghcr.io.evil", "ghcr.io"));
    }

    #[test]
    fn a_missing_helper_is_named() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("config.json");
        fs::write(
            &path,
            r#"{"credHelpers":{"r.example":"pier-absent-helper"}}"#,
        )
        .unwrap();
        let err = CredentialStore::at(&path).get("r.example").unwrap_err();
        assert!(
            format!("{err:#}").contains("docker-credential-pier-absent-helper"),
            "{err:#}"
        );
        // Another registry is not affected by r.example's helper.
        assert_eq!(CredentialStore::at(&path).get("q.example").unwrap(), None);
    }
}
