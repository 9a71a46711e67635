//! `docker cp` through the socket: `HEAD`, `GET` and `PUT /containers/{id}/archive?path=`.
//!
//! Both directions go through the engine's `pier cp` code, which resolves container paths
//! with `RESOLVE_IN_ROOT` and copies without following symlinks: `GET` copies the path out
//! into a private staging directory and streams it as a tar; `PUT` spools the tar, refuses
//! entries that are absolute, climb out with `..`, or are named as overlayfs whiteouts,
//! extracts it into a staging directory with the engine's layer extractor (which refuses an
//! entry reached through a symlink of the archive), and copies that tree into the container.
//! A container's own symlinks (even one naming a host directory) resolve inside its root.

use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use crate::transfer::{BodyReader, ChannelWriter, UPLOAD_LIMIT};
use base64::Engine as _;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use pier_engine::container::cp_stat::PathStat;
use pier_engine::image::layer::{unpack_layer, WHITEOUT_PREFIX};
use std::fs::File;
use std::io::Write;
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The header carrying the path's stat, base64 of JSON.
const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Go's `os.FileMode` for `st_mode` (what the docker client decodes: its type bits are
/// high bits, not `S_IFMT`).
fn go_mode(mode: u32) -> u32 {
    let mut m = mode & 0o777;
    m |= match mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    for (bit, go) in [(0o4000, 1 << 23), (0o2000, 1 << 22), (0o1000, 1 << 20)] {
        if mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// The stat header's value: base64 of `{name, size, mode, mtime, linkTarget}`.
fn stat_header(st: &PathStat) -> Option<HeaderValue> {
    let (secs, nanos) = st.mtime;
    let mtime = UNIX_EPOCH
        + Duration::new(
            u64::try_from(secs).unwrap_or(0),
            u32::try_from(nanos).unwrap_or(0),
        );
    let v = serde_json::json!({
        "name": st.name,
        "size": st.size,
        "mode": go_mode(st.mode),
        "mtime": pier_oci::time::rfc3339_nanos(mtime),
        "linkTarget": st.link_target,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(v.to_string());
    HeaderValue::from_str(&encoded).ok()
}

fn path_param(q: &Query) -> Result<String, ApiError> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("the path parameter is required")),
    }
}

/// Docker's 404 for a path that is not in the container.
fn not_found(e: anyhow::Error, path: &str, key: &str) -> ApiError {
    let mut err = ApiError::from_engine(&e);
    if format!("{e:#}").starts_with("no such file or directory") {
        err.message = format!("Could not find the file {path} in container {key}");
    }
    err
}

async fn stat(
    state: &Arc<State>,
    key: &str,
    path: &str,
    follow: bool,
) -> Result<PathStat, ApiError> {
    let (s, k, p) = (state.clone(), key.to_string(), path.to_string());
    blocking(move || {
        s.engine
            .path_stat(&k, &p, follow)
            .map_err(|e| not_found(e, &p, &k))
    })
    .await
}

/// `HEAD /containers/{id}/archive?path=`: the stat header alone.
pub async fn head(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let path = path_param(&q)?;
    let st = stat(&state, &key, &path, false).await?;
    let mut reply = http::empty(StatusCode::OK);
    if let Some(h) = stat_header(&st) {
        reply.headers_mut().insert(STAT_HEADER, h);
    }
    Ok(reply)
}

/// `GET /containers/{id}/archive?path=`: the path as a tar (named by its last component;
/// `DIR/.` as `.` and `./...`, the contents), and the stat header.
pub async fn get(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let path = path_param(&q)?;
    let st = stat(&state, &key, &path, false).await?;
    let contents = path.ends_with("/.") || path == ".";
    let (mut reply, tx) = http::streamed("application/x-tar");
    if let Some(h) = stat_header(&st) {
        reply.headers_mut().insert(STAT_HEADER, h);
    }
    let busy = state.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut out = ChannelWriter::new(tx);
        if let Err(e) = write_archive(&state, &key, &path, &st, contents, &mut out) {
            // The 200 is sent: the client sees a truncated tar; the service's log says why.
            eprintln!("pier system service: archive of {key}:{path}: {e:#}");
        }
    });
    Ok(reply)
}

fn write_archive(
    state: &State,
    key: &str,
    path: &str,
    st: &PathStat,
    contents: bool,
    out: &mut ChannelWriter,
) -> anyhow::Result<()> {
    let staging = state.engine.images()?.staging_dir()?;
    let copy = staging.path().join("copy");
    // Owners kept (the client decides, as with Docker); set-id bits and capabilities are
    // dropped by the engine's copy out of a container.
    state.engine.copy_from_container(key, path, &copy, true)?;
    let name = if contents { "." } else { st.name.as_str() };
    let mut tar = tar::Builder::new(&mut *out);
    tar.follow_symlinks(false);
    if std::fs::symlink_metadata(&copy)?.is_dir() {
        tar.append_dir_all(name, &copy)?;
    } else {
        tar.append_path_with_name(&copy, name)?;
    }
    tar.into_inner()?;
    out.flush()?;
    Ok(())
}

/// Refuses what an archive sent into a container may not hold: absolute names, `..`, and
/// overlayfs whiteout names (which the layer extractor would turn into deletions).
fn check_names(spool: &Path) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(File::open(spool)?);
    for entry in archive.entries()? {
        let entry = entry?;
        let mut names = vec![entry.path_bytes().into_owned()];
        if let Some(link) = entry.link_name_bytes() {
            if entry.header().entry_type().is_hard_link() {
                names.push(link.into_owned());
            }
        }
        for raw in names {
            let name = String::from_utf8_lossy(&raw).into_owned();
            let p = Path::new(&name);
            if p.is_absolute() {
                anyhow::bail!("archive entry {name:?} is an absolute path: entries must be relative to the extraction directory");
            }
            for c in p.components() {
                match c {
                    Component::ParentDir => anyhow::bail!(
                        "archive entry {name:?} has a \"..\" component: it would leave the extraction directory"
                    ),
                    Component::Normal(n) if n.to_string_lossy().starts_with(WHITEOUT_PREFIX) => {
                        anyhow::bail!("archive entry {name:?}: names starting with {WHITEOUT_PREFIX} are not copied into containers (they are overlayfs whiteouts)")
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// `PUT /containers/{id}/archive?path=DIR[&copyUIDGID=1][&noOverwriteDirNonDir=1]`: the tar
/// body extracted into DIR (which must exist). Owners are root's unless `copyUIDGID`
/// (then the archive's). A directory is never replaced by a non-directory or the other way
/// round, whatever `noOverwriteDirNonDir` says.
pub async fn put(
    state: Arc<State>,
    key: String,
    q: Query,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let path = path_param(&q)?;
    let keep_owners = q.flag("copyUIDGID");
    let st = stat(&state, &key, &path, true).await?;
    if !st.is_dir() {
        return Err(ApiError::bad_request(format!(
            "extraction point is not a directory: {path} in container {key}"
        )));
    }
    let mut body = BodyReader::new(req, UPLOAD_LIMIT);
    blocking(move || {
        let staging = state.engine.images()?.staging_dir()?;
        let spool = staging.path().join("upload.tar");
        let bad = |e: anyhow::Error| ApiError::bad_request(format!("invalid archive: {e:#}"));
        let mut f =
            File::create(&spool).map_err(|e| anyhow::anyhow!("{}: {e}", spool.display()))?;
        std::io::copy(&mut body, &mut f).map_err(|e| bad(e.into()))?;
        drop(f);
        check_names(&spool).map_err(bad)?;
        let tree = staging.path().join("tree");
        std::fs::create_dir(&tree).map_err(|e| anyhow::anyhow!("{}: {e}", tree.display()))?;
        let archive =
            File::open(&spool).map_err(|e| anyhow::anyhow!("{}: {e}", spool.display()))?;
        unpack_layer(archive, &tree).map_err(bad)?;
        state
            .engine
            .copy_to_container(&key, &tree.join("."), &path, keep_owners)
            .map_err(|e| {
                let text = format!("{e:#}");
                let refused = ["cannot overwrite", "cannot copy directory", "read-only"];
                if text.contains("EROFS") {
                    ApiError::bad_request(format!(
                        "{path} in container {key} is on a read-only filesystem ({text})"
                    ))
                } else if refused.iter().any(|r| text.contains(r)) {
                    ApiError::bad_request(text)
                } else {
                    not_found(e, &path, &key)
                }
            })?;
        Ok(())
    })
    .await?;
    Ok(http::empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_in_gos_bits() {
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
    }
}
