//! The build context of `POST /build`: the request body is a tar (gzip allowed) of it, read
//! to a spool file up to [`CONTEXT_LIMIT`] bytes, then extracted into a new directory of the
//! service's with the engine's layer extraction, which refuses `..` and never follows a
//! symlink while writing. What the archive holds stays untrusted afterwards: the builder
//! resolves every path in the context inside it (openat2 `RESOLVE_IN_ROOT`), so a symlink
//! to `/etc/shadow` in the context names the context's own `etc/shadow`, never the host's.

use crate::error::ApiError;
use crate::http::BODY_TIME_LIMIT;
use anyhow::{bail, Context, Result};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::StatusCode;
use pier_oci::security::in_root::{Follow, RootDir};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

/// The largest build context accepted (the tar as sent).
pub const CONTEXT_LIMIT: u64 = 1 << 30;
/// The largest Dockerfile accepted.
const DOCKERFILE_LIMIT: u64 = 1 << 20;

/// Reads the request body into `spool`: 413 past [`CONTEXT_LIMIT`], 408 when the client
/// stalls for [`BODY_TIME_LIMIT`].
pub async fn spool(body: Incoming, spool: &mut File) -> Result<u64, ApiError> {
    let mut body = body;
    let mut total = 0u64;
    loop {
        let frame = match tokio::time::timeout(BODY_TIME_LIMIT, body.frame()).await {
            Err(_) => {
                return Err(ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    message: format!("the build context stopped arriving for {BODY_TIME_LIMIT:?}"),
                })
            }
            Ok(None) => return Ok(total),
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(format!(
                    "reading the build context: {e}"
                )))
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > CONTEXT_LIMIT {
            return Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "the build context is larger than the limit of {} MiB",
                    CONTEXT_LIMIT >> 20
                ),
            });
        }
        // A local file write of at most one frame: short enough for the reactor.
        spool.write_all(&data).map_err(|e| {
            ApiError::from_engine(&anyhow::anyhow!("spooling the build context: {e}"))
        })?;
    }
}

/// Extracts the spooled tar (plain or gzip) into the empty directory `dest`.
pub fn extract(spool: &mut File, dest: &Path) -> Result<()> {
    spool.rewind().context("rewinding the build context")?;
    let mut input = BufReader::new(&*spool);
    let head = input.fill_buf().context("reading the build context")?;
    if head.is_empty() {
        bail!("the build context is empty: send a tar of the context directory");
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn Read + '_> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    pier_engine::image::layer::unpack_layer(decoded, dest)
        .context("the build context is not a safe tar archive")?;
    Ok(())
}

/// The `dockerfile` parameter as a path inside the context: relative, without `..`.
pub fn dockerfile_path(param: Option<&str>) -> Result<PathBuf, ApiError> {
    let name = param.filter(|d| !d.is_empty()).unwrap_or("Dockerfile");
    let p = Path::new(name);
    let mut rel = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "dockerfile {name:?}: must be a path inside the build context (relative, without '..')"
                )))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(ApiError::bad_request(format!(
            "dockerfile {name:?}: names no file"
        )));
    }
    Ok(rel)
}

/// Copies the Dockerfile `rel` out of the context `ctx` (resolved inside it: a symlink is
/// followed only within the context) into `dir`, under its own file name; returns the copy.
/// The builder then reads the copy, never a path of the context the archive could redirect.
pub fn copy_dockerfile(ctx: &Path, rel: &Path, dir: &Path) -> Result<PathBuf> {
    let root = RootDir::open(ctx, Follow::InRoot)
        .with_context(|| format!("opening the build context {}", ctx.display()))?;
    let file = root.open_file_following(rel).map_err(|e| {
        anyhow::anyhow!(
            "Cannot locate specified Dockerfile: {} ({e}; a symlink is followed only inside the build context)",
            rel.display()
        )
    })?;
    let mut text = Vec::new();
    file.take(DOCKERFILE_LIMIT + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("reading the Dockerfile {}", rel.display()))?;
    if text.len() as u64 > DOCKERFILE_LIMIT {
        bail!(
            "the Dockerfile {} is larger than the limit of {} MiB",
            rel.display(),
            DOCKERFILE_LIMIT >> 20
        );
    }
    let name = rel.file_name().unwrap_or(rel.as_os_str());
    let copy = dir.join(name);
    std::fs::write(&copy, &text).with_context(|| format!("writing {}", copy.display()))?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_param_stays_in_the_context() {
        assert_eq!(dockerfile_path(None).unwrap(), Path::new("Dockerfile"));
        assert_eq!(
            dockerfile_path(Some("./other/Dockerfile")).unwrap(),
            Path::new("other/Dockerfile")
        );
        for bad in ["../Dockerfile", "/etc/passwd", "a/../../b", "."] {
            let e = dockerfile_path(Some(bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn dockerfile_symlink_out_of_the_context_is_not_followed() {
        let ctx = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/hostname", ctx.path().join("Dockerfile")).unwrap();
        let e = copy_dockerfile(ctx.path(), Path::new("Dockerfile"), out.path()).unwrap_err();
        assert!(format!("{e:#}").contains("Cannot locate"), "{e:#}");
        std::fs::create_dir(ctx.path().join("etc")).unwrap();
        std::fs::write(ctx.path().join("etc/hostname"), "FROM scratch\n").unwrap();
        let copy = copy_dockerfile(ctx.path(), Path::new("Dockerfile"), out.path()).unwrap();
        assert_eq!(std::fs::read_to_string(copy).unwrap(), "FROM scratch\n");
    }
}
