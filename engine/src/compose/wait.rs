//! `depends_on` conditions: before a service starts, each service it depends on must have
//! started, be healthy, or have completed successfully. Each wait has a timeout, and a
//! failure says which dependency, which condition and why.

use super::containers::Compose;
use super::model::Condition;
use crate::container::health::HealthStatus;
use crate::container::record::{ContainerRecord, ContainerStatus};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// What a wait is told by one look at the dependency's containers.
enum Verdict {
    Met,
    NotYet(String),
    Failed(String),
}

impl Compose<'_> {
    /// Waits until `service`'s dependency `dep` meets `condition`, at most `timeout`.
    pub fn wait_for(
        &mut self,
        service: &str,
        dep: &str,
        condition: Condition,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut said = false;
        loop {
            let containers = self.service_containers(dep)?;
            let verdict = judge(self, &containers, condition)?;
            let why = match verdict {
                Verdict::Met => {
                    if said {
                        for r in &containers {
                            self.say("Container", &r.name, condition_met(condition));
                        }
                    }
                    return Ok(());
                }
                Verdict::Failed(why) => bail!(
                    "service {service:?} depends on {dep:?} ({}): {why}",
                    condition.as_str()
                ),
                Verdict::NotYet(why) => why,
            };
            if !said {
                // Each container by its real name (`<project>-<service>-1`), as Docker does.
                for r in &containers {
                    self.say(
                        "Container",
                        &r.name,
                        &format!("Waiting ({})", condition.as_str()),
                    );
                }
                said = true;
            }
            if Instant::now() >= deadline {
                bail!(
                    "service {service:?} depends on {dep:?} ({}): gave up after {}s: {why}",
                    condition.as_str(),
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn condition_met(c: Condition) -> &'static str {
    match c {
        Condition::ServiceStarted => "Started",
        Condition::ServiceHealthy => "Healthy",
        Condition::ServiceCompletedSuccessfully => "Exited",
    }
}

fn judge(c: &Compose, containers: &[ContainerRecord], condition: Condition) -> Result<Verdict> {
    if containers.is_empty() {
        return Ok(Verdict::Failed("it has no containers".into()));
    }
    for r in containers {
        let v = match condition {
            Condition::ServiceStarted => match r.status {
                ContainerStatus::Running | ContainerStatus::Exited => Verdict::Met,
                ContainerStatus::Created => Verdict::NotYet(format!("{} has not started", r.name)),
            },
            Condition::ServiceCompletedSuccessfully => match (r.status, r.exit_code) {
                (ContainerStatus::Exited, Some(0)) => Verdict::Met,
                (ContainerStatus::Exited, code) => Verdict::Failed(format!(
                    "{} exited with code {}",
                    r.name,
                    code.unwrap_or(-1)
                )),
                _ => Verdict::NotYet(format!("{} is still running", r.name)),
            },
            Condition::ServiceHealthy => health_verdict(c, r)?,
        };
        if !matches!(v, Verdict::Met) {
            return Ok(v);
        }
    }
    Ok(Verdict::Met)
}

/// `service_healthy`: the container's monitor runs its healthcheck and records the result.
/// Unhealthy fails at once, as in Docker; a container without a healthcheck can never be
/// healthy, which is said rather than waited on.
fn health_verdict(c: &Compose, r: &ContainerRecord) -> Result<Verdict> {
    let checks = r
        .config
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.is_enabled());
    if !checks {
        return Ok(Verdict::Failed(format!(
            "{} has no healthcheck (add one to the service or its image)",
            r.name
        )));
    }
    if r.status != ContainerStatus::Running {
        return Ok(Verdict::Failed(format!("{} is not running", r.name)));
    }
    Ok(match c.engine.health(&r.id)?.map(|h| (h.status, h.log)) {
        None => Verdict::NotYet(format!("{} has no health result yet", r.name)),
        Some((HealthStatus::Healthy, _)) => Verdict::Met,
        Some((HealthStatus::Starting, _)) => {
            Verdict::NotYet(format!("{} is still starting (health: starting)", r.name))
        }
        Some((HealthStatus::Unhealthy, log)) => {
            let last = log
                .last()
                .map(|l| {
                    format!(
                        ": its last check exited {} with {:?}",
                        l.exit_code,
                        l.output.trim()
                    )
                })
                .unwrap_or_default();
            Verdict::Failed(format!("{} is unhealthy{last}", r.name))
        }
    })
}
