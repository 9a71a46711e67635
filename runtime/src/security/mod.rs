//! Container security defaults: what a container's processes may do, Docker-compatible.
//!
//! - [`caps`]: Docker's 14 default capabilities, `--cap-add`/`--cap-drop`, and applying an OCI
//!   capability section in the container init;
//! - [`seccomp`]: Docker's default syscall filter and compiling/installing any OCI seccomp
//!   profile ([`seccomp_profile`] holds Docker's profile as data, [`syscalls`] the syscall
//!   numbers);
//! - [`paths`]: the `/proc` and `/sys` paths Docker masks or makes read-only;
//! - [`in_root`]: reading an image's own files (`/etc/passwd`) without following its symlinks
//!   out to the host.
//!
//! Order in the container init (as runc): set no_new_privs if the config asks, switch
//! uid/gid (keeping capabilities), [`caps::apply`], then [`seccomp::apply`] as the last step
//! before `execve`, so the filter need not allow the init's own setup syscalls. Without
//! no_new_privs the filter must instead go in while CAP_SYS_ADMIN is still held, i.e. before
//! [`caps::apply`].

pub mod caps;
pub mod in_root;
pub mod paths;
pub mod seccomp;
pub mod seccomp_profile;
pub mod syscalls;
