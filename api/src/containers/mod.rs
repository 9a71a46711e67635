//! The container endpoints, one file per group: [`create`] (the request translated),
//! [`list`] (list and inspect), [`lifecycle`] (create, start, stop, kill, wait, remove),
//! [`output`] (logs and attach), [`archive`] (`docker cp`).

pub mod archive;
pub mod create;
pub mod lifecycle;
pub mod list;
pub mod output;
