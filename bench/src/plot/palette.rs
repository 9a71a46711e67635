//! One colour per environment, the same in every figure and never shared: Paul Tol's
//! colour-blind-safe "muted" scheme for the environments, dark grey for native (dark, yet
//! light enough for a black interval to show on it), light grey for the OpenBLAS
//! reference, Okabe-Ito's blue, orange and vermillion for Docker's three paths (Tol's nine
//! are taken), then Okabe-Ito's other colours for environments this list does not know.
//!
//! A series label (`runc (runtime)`) is coloured by the environment it names: `runc` in the
//! cpu suite and `runc (runtime)` in the start-up suite are the same program, so one colour.

use plotters::style::RGBColor;

/// Known environments, in the order figures list them, with their colours.
const KNOWN: &[(&str, RGBColor)] = &[
    ("native", RGBColor(0x55, 0x55, 0x55)),
    ("OpenBLAS", RGBColor(0xBB, 0xBB, 0xBB)),
    ("pier run", RGBColor(0x88, 0x22, 0x55)),
    ("pier runtime", RGBColor(0xCC, 0x66, 0x77)),
    ("pier bridge", RGBColor(0xAA, 0x44, 0x99)),
    ("pier bridge-c2c", RGBColor(0xDD, 0xCC, 0x77)),
    ("pier published", RGBColor(0x99, 0x99, 0x33)),
    ("runc", RGBColor(0x33, 0x22, 0x88)),
    ("crun", RGBColor(0x11, 0x77, 0x33)),
    ("podman", RGBColor(0x88, 0xCC, 0xEE)),
    ("docker", RGBColor(0x00, 0x72, 0xB2)),
    ("docker bridge", RGBColor(0xE6, 0x9F, 0x00)),
    ("docker published", RGBColor(0xD5, 0x5E, 0x00)),
    ("vm", RGBColor(0x44, 0xAA, 0x99)),
];

/// Colours for environments not in [`KNOWN`] (Okabe-Ito, minus black and Docker's).
const SPARE: &[RGBColor] = &[
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
];

/// The environment a series label names (`pier (host)` → `pier run`).
pub fn identity(label: &str) -> String {
    let (env, variant) = label
        .split_once(" (")
        .map_or((label, ""), |(e, v)| (e, v.trim_end_matches(')')));
    match env {
        e if e.starts_with("qemu") || e.starts_with("VM") => "vm".into(),
        "pier" => match variant {
            "" | "run" | "host" => "pier run".into(),
            "runtime" => "pier runtime".into(),
            "bridge" | "run-bridge" => "pier bridge".into(),
            v => format!("pier {v}"),
        },
        "docker" => match variant {
            "" | "run" | "host" => "docker".into(),
            "bridge" | "run-bridge" => "docker bridge".into(),
            v => format!("docker {v}"),
        },
        e => e.to_string(),
    }
}

/// How a series is named in figures: the VM under its accelerator's name.
pub fn display_name(label: &str) -> String {
    let (env, variant) = label
        .split_once(" (")
        .map_or((label, ""), |(e, v)| (e, v.trim_end_matches(')')));
    let accel = match env {
        "qemu-kvm" => "QEMU/KVM",
        "qemu-tcg" => "QEMU/TCG emulation",
        _ => return label.to_string(),
    };
    if variant.is_empty() {
        format!("VM ({accel})")
    } else {
        format!("VM ({accel}, {variant})")
    }
}

/// Colours assigned to the environments of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    assigned: Vec<(String, RGBColor)>,
}

impl Palette {
    /// Assigns a colour to the environment of every label.
    pub fn new<'a>(labels: impl IntoIterator<Item = &'a str>) -> Palette {
        let mut ids: Vec<String> = Vec::new();
        for l in labels {
            let id = identity(l);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids.sort_by_key(|id| KNOWN.iter().position(|k| k.0 == id).unwrap_or(KNOWN.len()));
        let mut assigned: Vec<(String, RGBColor)> = Vec::new();
        let mut spare = SPARE.iter();
        let mut extra = 0u32;
        for id in ids {
            let color = KNOWN
                .iter()
                .find(|k| k.0 == id)
                .map(|k| k.1)
                .unwrap_or_else(|| {
                    spare.next().copied().unwrap_or_else(|| {
                        // Past every safe colour: still distinct, spread round the hue circle.
                        extra += 1;
                        hue(f64::from(extra) * 137.5)
                    })
                });
            assigned.push((id, color));
        }
        Palette { assigned }
    }

    /// The colour of `label`'s environment (grey if the palette was not built with it).
    pub fn color(&self, label: &str) -> RGBColor {
        let id = identity(label);
        self.assigned
            .iter()
            .find(|a| a.0 == id)
            .map_or(RGBColor(0x80, 0x80, 0x80), |a| a.1)
    }

    /// Where `label` sorts among the report's environments.
    pub fn order(&self, label: &str) -> usize {
        let id = identity(label);
        self.assigned
            .iter()
            .position(|a| a.0 == id)
            .unwrap_or(self.assigned.len())
    }

    /// Every (environment, colour) pair.
    pub fn assignments(&self) -> &[(String, RGBColor)] {
        &self.assigned
    }
}

fn hue(degrees: f64) -> RGBColor {
    let h = (degrees % 360.0) / 60.0;
    let x = 1.0 - (h % 2.0 - 1.0).abs();
    let (r, g, b) = match h as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let c = |v: f64| (60.0 + v * 150.0) as u8;
    RGBColor(c(r), c(g), c(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_environment_one_colour_none_shared() {
        let labels = [
            "native",
            "pier",
            "pier (run)",
            "pier (host)",
            "pier (runtime)",
            "pier (run-bridge)",
            "pier (bridge)",
            "pier (bridge-c2c)",
            "pier (published)",
            "runc",
            "runc (runtime)",
            "crun (runtime)",
            "podman (run)",
            "docker (run)",
            "docker (run-bridge)",
            "docker (bridge)",
            "docker (published)",
            "qemu-tcg",
            "qemu-tcg (tap)",
            "OpenBLAS (native)",
            "youki",
            "gvisor",
            "kata",
            "wasm",
            "lxc",
            "nspawn",
            "bwrap",
            "firejail",
        ];
        let p = Palette::new(labels);
        // Aliases share their environment's colour...
        assert_eq!(p.color("runc"), p.color("runc (runtime)"));
        assert_eq!(p.color("qemu-tcg"), p.color("qemu-tcg (tap)"));
        assert_eq!(p.color("pier (run-bridge)"), p.color("pier (bridge)"));
        assert_eq!(p.color("docker (run-bridge)"), p.color("docker (bridge)"));
        assert_ne!(p.color("docker (run)"), p.color("docker (run-bridge)"));
        assert_ne!(p.color("docker (bridge)"), p.color("docker (published)"));
        // ... and no two environments share one (the old palette gave pier (run-bridge)
        // and qemu-tcg the same purple).
        let a = p.assignments();
        for (i, x) in a.iter().enumerate() {
            for y in &a[i + 1..] {
                assert_ne!(x.1, y.1, "{} and {} share a colour", x.0, y.0);
            }
        }
        assert_ne!(p.color("pier (run-bridge)"), p.color("qemu-tcg"));
        assert!(p.order("native") < p.order("pier") && p.order("pier") < p.order("qemu-tcg"));
    }

    #[test]
    fn the_vm_is_named_after_its_accelerator() {
        assert_eq!(display_name("qemu-kvm"), "VM (QEMU/KVM)");
        assert_eq!(
            display_name("qemu-tcg (tap)"),
            "VM (QEMU/TCG emulation, tap)"
        );
        assert_eq!(display_name("pier (host)"), "pier (host)");
    }
}
