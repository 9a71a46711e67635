//! The container endpoints, one file per group: [`create`] (the request translated),
//! [`list`] (list and inspect), [`lifecycle`] (create, start, stop, kill, wait, remove),
//! [`output`] (logs and attach), [`attach_stdin`] (attach's input, resize), [`exec`],
//! [`archive`] (`docker cp`), [`ops`] (restart, pause, unpause, rename, top), [`stats`],
//! [`update`], [`filesystem`] (changes and export), [`prune`].

pub mod archive;
pub mod attach_stdin;
pub mod create;
pub mod exec;
pub mod filesystem;
pub mod lifecycle;
pub mod list;
pub mod ops;
pub mod output;
pub mod prune;
pub mod stats;
pub mod update;
