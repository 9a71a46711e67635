//! `pier rename`: a container's name is only its record's (its ID names everything on the
//! host), except for the names other containers resolve on a user network.

use super::config::NetworkMode;
use super::create::NAME_ANNOTATION;
use super::record::{validate_name, ContainerStatus};
use super::Engine;
use anyhow::{bail, Result};
use pier_oci::persist::{read_json, write_json_replace};

impl Engine {
    /// Gives container `key` the name `new_name`, checked and unique, under the lock that
    /// container creation takes.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/');
        validate_name(new_name)?;
        let (paths, rec) = self.find(key)?;
        if rec.name == new_name {
            bail!("renaming container {}: it already has that name", rec.name);
        }
        if rec.status == ContainerStatus::Running
            && matches!(rec.config.network, Some(NetworkMode::Bridge(_)))
        {
            bail!(
                "cannot rename container {} while it runs on a network: the other containers resolve it by its name; stop it first",
                rec.name
            );
        }
        let _lock = self.lock()?;
        let names = self.names();
        names.ensure(|| self.containers())?;
        if let Some((_, other)) = names.lookup(new_name) {
            bail!(
                "the container name {new_name:?} is already in use by container {}",
                other.short_id()
            );
        }
        let mut rec = super::record::ContainerRecord::load(&paths)?;
        let old_name = std::mem::replace(&mut rec.name, new_name.to_string());
        // The new entry before the record (until the record says so, it is stale), the old
        // one after it.
        names.claim(new_name, &rec.id)?;
        rec.save(&paths)?;
        names.release(&old_name, &rec.id);
        self.record_event(super::events::Event::about(
            &rec,
            super::events::Action::Rename,
        ));
        // The bundle's annotation too, so `pier runtime state` agrees.
        let config = paths.bundle().join("config.json");
        if let Ok(mut spec) = read_json::<serde_json::Value>(&config) {
            if let Some(a) = spec
                .get_mut("annotations")
                .and_then(serde_json::Value::as_object_mut)
            {
                a.insert(NAME_ANNOTATION.into(), new_name.into());
                write_json_replace(&config, &spec)?;
            }
        }
        Ok(())
    }
}
