//! Mounts as the OCI config describes them: [`options`] translates a mount's option list
//! (`"ro"`, `"rbind"`, `"mode=755"`) into `mount(2)` flags and data, [`attr`] changes a whole
//! mount tree's attributes (the `r*` options) with `mount_setattr(2)`, [`target`] opens a mount
//! point inside an untrusted root so the mount is made on that descriptor, [`copy_up`] fills a
//! `tmpcopyup` tmpfs. The mounting itself, in order, is [`crate::rootfs`].

pub(crate) mod attr;
pub(crate) mod copy_up;
pub(crate) mod options;
pub(crate) mod target;
