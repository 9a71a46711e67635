//! TEMP SHIM
pub mod caps { pub fn adjust(b: Vec<oci_spec::runtime::Capability>, _a: &[String], _d: &[String]) -> anyhow::Result<Vec<oci_spec::runtime::Capability>> { Ok(b) }
pub fn apply(_c: &oci_spec::runtime::LinuxCapabilities) -> anyhow::Result<()> { Ok(()) }
  pub fn default_linux_capabilities() -> oci_spec::runtime::LinuxCapabilities { Default::default() } }
pub mod seccomp { pub fn compile(_p: &oci_spec::runtime::LinuxSeccomp) -> anyhow::Result<seccompiler::BpfProgram> { Ok(vec![]) }
  pub fn apply(_p: &seccompiler::BpfProgram) -> anyhow::Result<()> { Ok(()) }
  pub fn docker_default_profile() -> oci_spec::runtime::LinuxSeccomp { Default::default() } }
pub mod paths { pub fn docker_masked_paths() -> Vec<String> { vec![] } pub fn docker_readonly_paths() -> Vec<String> { vec![] } }
