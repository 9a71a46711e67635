//! The metadata-only instructions (`ENV`, `LABEL`, `CMD`, `ENTRYPOINT`, `EXPOSE`, `VOLUME`,
//! `USER`, `STOPSIGNAL`, `SHELL`, `HEALTHCHECK`): each changes the image configuration and
//! is recorded in the history as Docker's classic builder does,
//! `/bin/sh -c #(nop)  CMD ["sh"]`, with no layer.
//!
//! The OCI image configuration has no field for `SHELL` and `HEALTHCHECK`, so they are kept
//! as labels ([`SHELL_LABEL`], [`HEALTHCHECK_LABEL`]; the health check as Docker's JSON).

use super::dockerfile::{Command, Healthcheck, Instruction};
use super::expand::{expand, expand_vars};
use anyhow::{anyhow, bail, Result};
use oci_spec::image::Config;
use std::collections::BTreeSet;

/// Label holding the `SHELL` of an image.
pub const SHELL_LABEL: &str = "io.pier.image.shell";
/// Label holding the `HEALTHCHECK` of an image, as Docker's JSON (the engine reads it).
pub use crate::container::health_config::HEALTHCHECK_LABEL;

/// What a metadata instruction sees.
pub struct MetaContext<'a> {
    /// Variables (ARG values overridden by ENV ones).
    pub vars: &'a Vec<(String, String)>,
    /// The Dockerfile's escape character.
    pub escape: char,
    /// Whether `CMD` was set in this stage (then `ENTRYPOINT` keeps it).
    pub cmd_set: bool,
}

/// The shell for shell-form commands: the image's `SHELL`, default `/bin/sh -c`.
pub fn shell(cfg: &Config) -> Vec<String> {
    cfg.labels()
        .as_ref()
        .and_then(|l| l.get(SHELL_LABEL))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()])
}

/// A command's argv: shell form through [`shell`], exec form as is.
pub fn argv(cfg: &Config, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = shell(cfg);
            v.push(s.clone());
            v
        }
    }
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Applies a metadata-only instruction to `cfg` and returns its history text.
pub fn apply(instruction: &Instruction, cfg: &mut Config, ctx: &mut MetaContext) -> Result<String> {
    let ex = |w: &str| expand(w, ctx.vars, ctx.escape);
    let nop = |text: String| format!("/bin/sh -c #(nop)  {text}");
    let created_by = match instruction {
        Instruction::Env(pairs) => {
            let mut env = cfg.env().clone().unwrap_or_default();
            let mut shown = Vec::new();
            // Each pair sees the values set before it on the same line.
            let mut local = ctx.vars.to_vec();
            for (k, v) in pairs {
                let key = expand(k, &local, ctx.escape)?;
                let value = expand(v, &local, ctx.escape)?;
                env.retain(|e| e.split('=').next() != Some(key.as_str()));
                env.push(format!("{key}={value}"));
                local.push((key.clone(), value.clone()));
                shown.push(format!("{key}={value}"));
            }
            cfg.set_env(Some(env));
            let created_by = nop(format!("ENV {}", shown.join(" ")));
            created_by
        }
        Instruction::Label(pairs) => {
            let mut labels = cfg.labels().clone().unwrap_or_default();
            let mut shown = Vec::new();
            for (k, v) in pairs {
                let (k, v) = (ex(k)?, ex(v)?);
                shown.push(format!("{k}={v}"));
                labels.insert(k, v);
            }
            cfg.set_labels(Some(labels));
            nop(format!("LABEL {}", shown.join(" ")))
        }
        Instruction::Cmd(c) => {
            let argv = argv(cfg, c);
            cfg.set_cmd(Some(argv.clone()));
            ctx.cmd_set = true;
            nop(format!("CMD {}", json(&argv)))
        }
        Instruction::Entrypoint(c) => {
            let argv = argv(cfg, c);
            cfg.set_entrypoint(Some(argv.clone()));
            if !ctx.cmd_set {
                // An inherited CMD was meant for the old entrypoint.
                cfg.set_cmd(None);
            }
            nop(format!("ENTRYPOINT {}", json(&argv)))
        }
        Instruction::Expose(ports) => {
            let mut all: BTreeSet<String> = cfg
                .exposed_ports()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let mut shown = Vec::new();
            for p in ports {
                let p = ex(p)?;
                let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                let proto = proto.to_ascii_lowercase();
                let valid = !port.is_empty()
                    && port.split('-').all(|n| n.parse::<u16>().is_ok())
                    && matches!(proto.as_str(), "tcp" | "udp" | "sctp");
                if !valid {
                    bail!("EXPOSE: invalid port {p:?} (expected PORT[/tcp|udp|sctp])");
                }
                let spec = format!("{port}/{proto}");
                shown.push(spec.clone());
                all.insert(spec);
            }
            cfg.set_exposed_ports(Some(all.into_iter().collect()));
            nop(format!("EXPOSE {}", shown.join(" ")))
        }
        Instruction::Volume(paths) => {
            let mut all: BTreeSet<String> = cfg
                .volumes()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let mut shown = Vec::new();
            for p in paths {
                let p = expand_vars(p, ctx.vars, ctx.escape)?;
                if p.is_empty() {
                    bail!("VOLUME specified can not be an empty string");
                }
                shown.push(p.clone());
                all.insert(p);
            }
            cfg.set_volumes(Some(all.into_iter().collect()));
            nop(format!("VOLUME {}", json(&shown)))
        }
        Instruction::User(u) => {
            let u = ex(u)?;
            cfg.set_user(Some(u.clone()));
            nop(format!("USER {u}"))
        }
        Instruction::StopSignal(s) => {
            let s = ex(s)?;
            let valid = s.parse::<u32>().is_ok() || {
                let name = s.to_ascii_uppercase();
                let name = if name.starts_with("SIG") {
                    name
                } else {
                    format!("SIG{name}")
                };
                name.parse::<nix::sys::signal::Signal>().is_ok()
            };
            if !valid {
                bail!("STOPSIGNAL: invalid signal {s:?}");
            }
            cfg.set_stop_signal(Some(s.clone()));
            nop(format!("STOPSIGNAL {s}"))
        }
        Instruction::Shell(argv) => {
            let mut labels = cfg.labels().clone().unwrap_or_default();
            labels.insert(SHELL_LABEL.to_string(), json(argv));
            cfg.set_labels(Some(labels));
            nop(format!("SHELL {}", json(argv)))
        }
        Instruction::Healthcheck(h) => {
            let value = match h {
                Healthcheck::None => serde_json::json!({ "Test": ["NONE"] }),
                Healthcheck::Check { command, options } => {
                    let test: Vec<String> = match command {
                        Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        Command::Exec(v) => std::iter::once("CMD".to_string())
                            .chain(v.clone())
                            .collect(),
                    };
                    let mut m = serde_json::Map::new();
                    m.insert("Test".into(), serde_json::json!(test));
                    for (k, v) in options {
                        let key = match k.as_str() {
                            "interval" => "Interval",
                            "timeout" => "Timeout",
                            "start-period" => "StartPeriod",
                            "start-interval" => "StartInterval",
                            _ => "Retries",
                        };
                        let value = if key == "Retries" {
                            let n: u32 = v.parse().map_err(|_| {
                                anyhow!("HEALTHCHECK --retries: {v:?} is not a number")
                            })?;
                            serde_json::json!(n)
                        } else {
                            let d = humantime::parse_duration(v).map_err(|e| {
                                anyhow!("HEALTHCHECK --{k}: invalid duration {v:?}: {e}")
                            })?;
                            serde_json::json!(d.as_nanos() as u64)
                        };
                        m.insert(key.into(), value);
                    }
                    serde_json::Value::Object(m)
                }
            };
            let text = value.to_string();
            let mut labels = cfg.labels().clone().unwrap_or_default();
            labels.insert(HEALTHCHECK_LABEL.to_string(), text.clone());
            cfg.set_labels(Some(labels));
            nop(format!("HEALTHCHECK {text}"))
        }
        other => bail!("internal error: {other:?} is not a metadata instruction"),
    };
    Ok(created_by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::dockerfile::parse;

    /// Applies every instruction of a one-stage Dockerfile to a config with `Cmd ["sh"]`.
    fn run(text: &str) -> (Config, Vec<String>) {
        let df = parse("Dockerfile", &format!("FROM x\n{text}")).unwrap();
        let mut cfg = Config::default();
        cfg.set_cmd(Some(vec!["sh".into()]));
        cfg.set_env(Some(vec!["PATH=/bin".into()]));
        let mut history = Vec::new();
        let mut cmd_set = false;
        for step in &df.stages[0].steps {
            let vars: Vec<(String, String)> = cfg
                .env()
                .clone()
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut ctx = MetaContext {
                vars: &vars,
                escape: '\\',
                cmd_set,
            };
            history.push(apply(&step.instruction, &mut cfg, &mut ctx).unwrap());
            cmd_set = ctx.cmd_set;
        }
        (cfg, history)
    }

    fn err(text: &str) -> String {
        let df = parse("Dockerfile", &format!("FROM x\n{text}")).unwrap();
        let mut ctx = MetaContext {
            vars: &Vec::new(),
            escape: '\\',
            cmd_set: false,
        };
        format!(
            "{:#}",
            apply(
                &df.stages[0].steps[0].instruction,
                &mut Config::default(),
                &mut ctx
            )
            .unwrap_err()
        )
    }

    #[test]
    fn env_substitutes_in_order_and_replaces() {
        let (cfg, h) = run("ENV A=1 B=${A}2\nENV A=x C=\"$B $A\"\n");
        assert_eq!(
            cfg.env().clone().unwrap(),
            vec!["PATH=/bin", "B=12", "A=x", "C=12 x"]
        );
        assert_eq!(h[0], "/bin/sh -c #(nop)  ENV A=1 B=12");
    }

    #[test]
    fn cmd_entrypoint_and_shell() {
        let (cfg, h) = run("ENTRYPOINT [\"/bin/echo\"]\n");
        assert_eq!(cfg.cmd(), &None, "an inherited CMD is reset by ENTRYPOINT");
        assert_eq!(h[0], "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/echo\"]");
        let (cfg, _) = run("CMD [\"a\"]\nENTRYPOINT e\n");
        assert_eq!(
            cfg.cmd().clone().unwrap(),
            vec!["a"],
            "a CMD of this stage stays"
        );
        assert_eq!(
            cfg.entrypoint().clone().unwrap(),
            vec!["/bin/sh", "-c", "e"]
        );
        let (cfg, h) = run("SHELL [\"/bin/ash\", \"-eo\"]\nCMD run it\n");
        assert_eq!(
            cfg.cmd().clone().unwrap(),
            vec!["/bin/ash", "-eo", "run it"]
        );
        assert_eq!(
            h[1],
            "/bin/sh -c #(nop)  CMD [\"/bin/ash\",\"-eo\",\"run it\"]"
        );
    }

    #[test]
    fn ports_volumes_user_signal_labels_healthcheck() {
        let (cfg, _) = run(
            "EXPOSE 80 53/UDP 8000-8001\nVOLUME /a /b\nUSER app:app\nSTOPSIGNAL SIGQUIT\n\
             LABEL \"k 1\"=v version=\"1.0\"\nHEALTHCHECK --timeout=3s CMD [\"check\", \"-q\"]\n",
        );
        let mut ports = cfg.exposed_ports().clone().unwrap();
        ports.sort();
        assert_eq!(ports, vec!["53/udp", "80/tcp", "8000-8001/tcp"]);
        let mut vols = cfg.volumes().clone().unwrap();
        vols.sort();
        assert_eq!(vols, vec!["/a", "/b"]);
        assert_eq!(cfg.user().as_deref(), Some("app:app"));
        assert_eq!(cfg.stop_signal().as_deref(), Some("SIGQUIT"));
        let labels = cfg.labels().clone().unwrap();
        assert_eq!(labels["k 1"], "v");
        assert_eq!(labels["version"], "1.0");
        let hc: serde_json::Value = serde_json::from_str(&labels[HEALTHCHECK_LABEL]).unwrap();
        assert_eq!(hc["Test"], serde_json::json!(["CMD", "check", "-q"]));
        assert_eq!(hc["Timeout"], 3_000_000_000u64);
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(err("EXPOSE 99999\n").contains("invalid port"));
        assert!(err("EXPOSE 80/xyz\n").contains("invalid port"));
        assert!(err("STOPSIGNAL SIGNOPE\n").contains("invalid signal"));
        assert!(err("HEALTHCHECK --retries=x CMD true\n").contains("not a number"));
        assert!(err("HEALTHCHECK --interval=soon CMD true\n").contains("invalid duration"));
    }
}
