//! The processes of a container and how they are made.
//!
//! - [`attributes`]: personality, I/O and CPU scheduling, affinity, memory policy, LSM label;
//! - `clone`: the one `clone(2)` call that creates the container's init in its new
//!   namespaces;
//! - `console`: the container's terminal, handed to a manager over `--console-socket`;
//! - [`sync`]: the pipes over which the parent (pier) and the child talk during setup;
//! - `init`: what the child does between `clone` and `execve` (the heart of a container);
//! - `reaper`: pier's own PID 1 (`--init`), which reaps zombies and forwards signals;
//! - `signals`: the clean signal state (defaults, nothing blocked) a command starts with;
//! - [`exec`]: a new process inside a running container (`pier exec`);
//! - `lookup`: finding the command in the container's `$PATH`;
//! - `passed_fds`: the descriptors passed on beyond stdio (`LISTEN_FDS`, `--preserve-fds`);
//! - [`terminal`]: where a process's terminal goes (the manager's console socket, or relayed).

pub mod attributes;
pub(crate) mod clone;
pub(crate) mod console;
pub mod exec;
pub(crate) mod init;
pub(crate) mod lookup;
pub(crate) mod passed_fds;
pub(crate) mod reaper;
pub(crate) mod signals;
pub mod sync;
pub mod terminal;
