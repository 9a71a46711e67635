//! The labels compose puts on what it creates, with Docker Compose's names, so `ps`, `down`
//! and other tools find a project's objects (and a Docker user recognises them).

/// The project's name.
pub const PROJECT: &str = "com.docker.compose.project";
/// The service's name.
pub const SERVICE: &str = "com.docker.compose.service";
/// The replica's number (1, 2, ...).
pub const NUMBER: &str = "com.docker.compose.container-number";
/// A hash of the service's resolved configuration and image: `up` recreates a container
/// only when it changed.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// `True` for `run` containers, `False` for the service's own.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The project directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The compose file.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// A volume's key in the file.
pub const VOLUME: &str = "com.docker.compose.volume";
