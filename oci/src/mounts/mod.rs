//! Mounts as the OCI config describes them: [`options`] translates a mount's option list
//! (`"ro"`, `"rbind"`, `"mode=755"`) into `mount(2)` flags and data, [`attr`] makes a whole
//! mount tree read-only (or nosuid, nodev, noexec) with `mount_setattr(2)`. The mounting
//! itself, in order, is [`crate::rootfs`].

pub(crate) mod attr;
pub(crate) mod copy_up;
pub(crate) mod options;
pub(crate) mod target;
