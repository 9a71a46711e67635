//! What the service does when it starts, before it serves: containers whose restart policy
//! says they run whenever the daemon runs (`always`, and `unless-stopped` the user did not
//! stop) and that are not running are started again, as dockerd does at its start. This is
//! what brings them back after the machine restarts (with `pier.service` enabled); the
//! daemonless `pier` command has no moment to do it in.

use crate::state::State;
use anyhow::Result;
use pier_engine::container::record::ContainerStatus;

/// Starts the containers the restart policies want running; returns their names. A start
/// that fails is reported in the service's log and does not stop the service.
pub fn start_restart_policy_containers(state: &State) -> Result<Vec<String>> {
    // Records of containers whose monitor died with the machine still say running: settle
    // them first, as every request does.
    state.engine.reconcile()?;
    let mut started = Vec::new();
    for rec in state.engine.containers()? {
        let wanted = rec.config.restart.starts_with_service(rec.stopped_by_user);
        if !wanted || rec.status == ContainerStatus::Running || rec.restarting {
            continue;
        }
        match state.launcher.start(&rec.id) {
            Ok(()) => {
                eprintln!(
                    "pier system service: started {} (restart policy {})",
                    rec.name,
                    rec.config.restart.name()
                );
                started.push(rec.name);
            }
            Err(e) => eprintln!(
                "pier system service: starting {} (restart policy {}): {e:#}",
                rec.name,
                rec.config.restart.name()
            ),
        }
    }
    Ok(started)
}
