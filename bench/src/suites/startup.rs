//! startup: how long each environment takes to start the payload.
//!
//! * `launch_to_entry`: from the harness's launch call to the payload's first instruction
//!   (its `entry_ns`, `CLOCK_REALTIME`, compared with the realtime clock read just before
//!   the launch);
//! * `launch_to_exit`: from the launch call to the environment's exit (clean-up included);
//! * for the VM, `boot_to_init` (launch to the guest's init) instead of entry: the guest's
//!   clock is not the host's.
//!
//! Two comparisons (issue 2): the whole path (`pier run --rm` vs `podman run --rm` of the
//! same image, host network) and the low level (`pier runtime run` vs `runc run` vs
//! `crun run` on the same bundle, each in the bundle's own network namespace); plus native
//! exec, and `pier run` on its default bridge to show what network set-up adds. Docker (the
//! bench's own dockerd) runs the whole path too, on the host network and on its bridge
//! (`docker (run-bridge)`), beside `pier run`'s two.
//!
//! The low level runs twice for pier and crun (issue 24): with Docker's seccomp profile
//! (`runtime`, as `pier run` and Docker run) and without a filter (`runtime-noseccomp`), which
//! separates the runtime's own work from compiling and loading the filter.

use super::{Ctx, SuiteOutput};
use crate::envs::NetMode;
use crate::harness::{Case, EnvRef, Plan};

/// Runs the start-up suite.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let mut cases = Vec::new();
    for env in &ctx.envs {
        let (name, variant, is_vm) = {
            let e = env.borrow();
            (e.name(), e.variant(), e.accelerator().is_some())
        };
        // pier run and podman use the host network, as in the whole-path comparison; the
        // low-level runtimes keep the bundle's network namespace.
        let net = if variant == "runtime" {
            NetMode::Private
        } else {
            NetMode::Host
        };
        cases.push(case(ctx, env.clone(), net, variant.clone(), is_vm, true));
        if matches!(name.as_str(), "pier" | "crun") && variant == "runtime" {
            cases.push(case(ctx, env.clone(), net, NO_SECCOMP.into(), false, false));
        }
        if matches!(name.as_str(), "pier" | "docker") && variant == "run" {
            cases.push(case(
                ctx,
                env.clone(),
                NetMode::Private,
                "run-bridge".into(),
                false,
                true,
            ));
        }
    }
    let plan = Plan {
        warmup: ctx.settings.warmup.max(1),
        runs: ctx.settings.startup_runs,
    };
    super::execute(ctx, "startup", cases, plan)
}

/// The variant of the low-level runtimes run without a seccomp filter.
pub const NO_SECCOMP: &str = "runtime-noseccomp";

fn case<'a>(
    ctx: &'a Ctx<'a>,
    env: EnvRef,
    net: NetMode,
    variant: String,
    is_vm: bool,
    seccomp: bool,
) -> Case<'a> {
    let maker = ctx.maker("startup");
    let label = {
        let e = env.borrow();
        if variant.is_empty() {
            e.name()
        } else {
            format!("{} ({variant})", e.name())
        }
    };
    Case {
        label,
        runs: if is_vm {
            ctx.settings.vm_runs
        } else {
            ctx.settings.startup_runs
        },
        warmup: !is_vm,
        run: Box::new(move |i| {
            let mut e = env.borrow_mut();
            let timeout = ctx.timeout_for(&*e);
            // Only the low-level runtimes take the switch; the others always run as they are.
            let switched = !seccomp && e.set_seccomp(false);
            let run = e.run_payload(&["start".to_string()], net, timeout);
            if switched {
                e.set_seccomp(true);
            }
            let run = run?;
            let (name, accel) = (e.name(), e.accelerator());
            let mut out = vec![maker.make(
                "launch_to_exit",
                "ms",
                &name,
                &variant,
                i,
                super::wall_ms(&run),
                accel.clone(),
            )];
            match run.boot_ms {
                Some(boot) => {
                    out.push(maker.make("boot_to_init", "ms", &name, &variant, i, boot, accel))
                }
                None => {
                    let entry = entry_ns(&run, &name)?;
                    let ms = (entry as f64 - run.launched_ns as f64) / 1e6;
                    out.push(maker.make("launch_to_entry", "ms", &name, &variant, i, ms, accel));
                }
            }
            Ok(out)
        }),
    }
}

fn entry_ns(run: &crate::envs::PayloadRun, env: &str) -> anyhow::Result<u128> {
    let json = run.json(env)?;
    let n = json["entry_ns"]
        .as_u64()
        .map(u128::from)
        .or_else(|| json["entry_ns"].as_f64().map(|f| f as u128))
        .ok_or_else(|| anyhow::anyhow!("{env}: no entry_ns in {json}"))?;
    Ok(n)
}
