//! The container endpoints, one file per group: [`create`] (the request translated),
//! [`list`] (list and inspect), [`lifecycle`] (create, start, stop, kill, wait, remove),
//! [`output`] (logs and attach), [`attach_stdin`] (attach's input, resize), [`exec`].

pub mod attach_stdin;
pub mod create;
pub mod exec;
pub mod lifecycle;
pub mod list;
pub mod output;
