//! What watching a running container takes, and nothing else: the event loop that waits for
//! the container's init while copying its output ([`io_loop`]), the container log's writer
//! ([`log_writer`]) and the attach point other processes write its stdin through
//! ([`attach_point`]), the trim of a watcher's working set ([`working_set`]); and the small
//! monitor program built of them ([`monitor`]).
//!
//! Both `pier` (a foreground `pier run`, `pier exec`, and a detached container's monitor
//! when the small program is missing) and the small monitor program `pier-monitor` use it,
//! which is why it depends on no more than libc, nix, anyhow and humantime: no serde, no
//! engine, no runtime. Whatever it links, every running container's monitor maps.

pub mod attach_point;
pub mod io_loop;
pub mod log_writer;
pub mod monitor;
pub mod working_set;
