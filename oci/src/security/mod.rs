//! Container security defaults: what a container's processes may do, Docker-compatible.
//!
//! - [`caps`]: Docker's 14 default capabilities, `--cap-add`/`--cap-drop`, and applying an OCI
//!   capability section in the container init;
//! - [`seccomp`]: Docker's default syscall filter and compiling/installing any OCI seccomp
//!   profile (`seccomp_profile` holds Docker's profile as data, `syscalls` the syscall
//!   numbers);
//! - `seccomp_agent`: handing a notifying filter's listener to the seccomp agent;
//! - [`paths`]: the `/proc` and `/sys` paths Docker masks or makes read-only;
//! - `keyring`: a session keyring of the container's own;
//! - [`in_root`]: reading an image's own files (`/etc/passwd`) without following its symlinks
//!   out to the host;
//! - [`sealed_exe`] and `dumpable`: keeping the containers away from pier's own binary and
//!   processes (CVE-2019-5736): pier runs from a copy they cannot write, and its processes in
//!   their namespaces are not dumpable.
//!
//! Order in the container init (as runc): set no_new_privs if the config asks, switch
//! uid/gid (keeping capabilities), `caps::apply`, then [`seccomp::apply`] as the last step
//! before `execve`, so the filter need not allow the init's own setup syscalls. Without
//! no_new_privs the filter must instead go in while CAP_SYS_ADMIN is still held, i.e. before
//! `caps::apply`.

pub mod caps;
pub(crate) mod dumpable;
pub mod in_root;
pub(crate) mod keyring;
pub mod paths;
pub mod report;
pub mod sealed_exe;
pub mod seccomp;
pub(crate) mod seccomp_agent;
pub(crate) mod seccomp_profile;
pub(crate) mod syscalls;
