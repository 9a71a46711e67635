//! The report from a fixed run (`tests/fixtures/run`: a reduced copy of the committed
//! reference run's samples, plus raw jitter items): every plot renders with unique colours
//! and no text overlapping another or leaving its canvas; the verdicts follow the whole
//! interval; figures from other machines stay context; implausible figures are flagged;
//! `report.html` embeds every figure. No root, no kernel: only files.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_bench::plot::palette::identity;
use pier_bench::report::{self, ReportFiles};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run")
}

/// The fixture copied into a temporary directory and rendered there.
fn rendered() -> (tempfile::TempDir, ReportFiles) {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["samples.csv", "environment.json", "notes.json"] {
        std::fs::copy(fixture().join(f), tmp.path().join(f)).unwrap();
    }
    let files = report::rerender(tmp.path(), &pier_bench::reference::default_dir()).unwrap();
    (tmp, files)
}

/// `pier bench report DIR --lang ko --plots-to OUT`: the same figures with Korean texts,
/// drawn in the installed Korean font (scripts/setup.sh test installs fonts-nanum), fitting
/// as the English ones do; the report itself is left alone, and a symbolic link as the
/// output is refused (drawing through book/ko's old link would have replaced the English
/// figures).
#[test]
fn korean_plots_have_korean_texts_and_fitting_labels() {
    let Some(_) = pier_testkit::prereq::require(
        "a Korean font (fonts-nanum)",
        pier_bench::plot::korean().map(drop),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for f in ["samples.csv", "environment.json", "notes.json"] {
        std::fs::copy(fixture().join(f), tmp.path().join(f)).unwrap();
    }
    let out = tmp.path().join("ko");
    let reference = pier_bench::reference::default_dir();
    let figures =
        report::draw_plots(tmp.path(), &reference, &out, pier_bench::figures::Lang::Ko).unwrap();
    assert!(
        !tmp.path().join("report.md").exists(),
        "a report was written"
    );
    let plots: Vec<_> = figures.all().collect();
    assert!(plots.len() >= 8, "only {} plots", plots.len());
    let hangul = |t: &str| t.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
    for p in &plots {
        let problems = p.drawn.layout_problems();
        assert!(problems.is_empty(), "{}: {problems:#?}", p.caption);
        assert!(hangul(&p.caption), "caption not Korean: {}", p.caption);
        let svg = std::fs::read_to_string(p.drawn.file("svg").unwrap()).unwrap();
        assert!(hangul(&svg), "{}: no Hangul in the SVG", p.caption);
        assert!(p.drawn.file("png").unwrap().is_file());
    }
    // The Korean font ends with the Korean drawing: the English report drawn next on this
    // thread is English again.
    let english = report::rerender(tmp.path(), &reference).unwrap();
    assert!(english.figures.all().all(|p| !hangul(&p.caption)));

    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let err = report::draw_plots(tmp.path(), &reference, &link, pier_bench::figures::Lang::Ko)
        .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err:#}");
}

#[test]
fn every_plot_renders_with_unique_colours_and_fitting_labels() {
    let (dir, files) = rendered();
    let lead = files.figures.lead.as_ref().expect("the lead figure");
    let startup = files.figures.startup.as_ref().expect("the start-up figure");
    let plots: Vec<_> = files.figures.all().collect();
    assert!(plots.len() >= 8, "only {} plots", plots.len());
    let md = std::fs::read_to_string(&files.report).unwrap();
    for p in &plots {
        let problems = p.drawn.layout_problems();
        assert!(problems.is_empty(), "{}: {problems:#?}", p.caption);
        for f in &p.drawn.files {
            assert!(
                std::fs::metadata(f).unwrap().len() > 1000,
                "{} too small",
                f.display()
            );
            let name = f.file_name().unwrap().to_string_lossy();
            assert!(
                md.contains(&format!("plots/{name}")),
                "report.md does not link {name}"
            );
        }
    }
    // One colour per environment, never shared, in every figure alike.
    let palette = files.figures.palette.as_ref().unwrap();
    let a = palette.assignments();
    for (i, x) in a.iter().enumerate() {
        for y in &a[i + 1..] {
            assert_ne!(x.1, y.1, "{} and {} share a colour", x.0, y.0);
        }
    }
    let summary = pier_bench::record::read_summary(&files.summary_csv).unwrap();
    let ids: std::collections::BTreeSet<String> =
        summary.iter().map(|r| identity(&r.label())).collect();
    assert!(ids.len() >= 9, "{ids:?}");
    for id in &ids {
        assert!(a.iter().any(|x| &x.0 == id), "{id} has no colour");
    }
    // The lead figure: every workload, the VM under its accelerator's name, the study's
    // ratios as their own (hollow) rows.
    let texts: Vec<&str> = lead.drawn.texts.iter().map(|t| t.text.as_str()).collect();
    for want in [
        "DGEMM, N=1024, 2 threads (GFLOPS)",
        "STREAM triad (GB/s)",
        "Start-up (launch → exit)",
        "IBM 2015: KVM tuned",
    ] {
        assert!(
            texts.contains(&want),
            "lead figure lacks {want:?}: {texts:?}"
        );
    }
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("VM (QEMU/TCG emulation")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("noise?")),
        "the flagged latency is not marked: {texts:?}"
    );
    // Start-up on a log axis: decade ticks from about 1 ms to seconds.
    let st: Vec<&str> = startup
        .drawn
        .texts
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    for decade in ["1", "10", "100", "1000"] {
        assert!(st.contains(&decade), "start-up axis lacks {decade}: {st:?}");
    }
    assert!(
        st.iter().any(|t| t.ends_with(" ms")),
        "values not printed: {st:?}"
    );
    // The DGEMM chart: OpenBLAS is a bar beside native, not a group of its own.
    let cpu = plots
        .iter()
        .find(|p| p.caption.starts_with("DGEMM"))
        .unwrap();
    assert!(cpu.drawn.series.iter().any(|s| s == "OpenBLAS (native)"));
    assert!(
        !cpu.drawn.texts.iter().any(|t| t.text.contains("openblas_")),
        "OpenBLAS drawn as its own groups"
    );
    // Docker, a whole-path peer: in the start-up and network figures, each path its own
    // colour, and in the tables with its version.
    for (series, fig) in [
        ("docker (run)", "Start-up"),
        ("docker (run-bridge)", "Start-up"),
        ("docker (bridge)", "net: median"),
        ("docker (published)", "net: median"),
    ] {
        assert!(
            plots
                .iter()
                .any(|p| p.caption.contains(fig) && p.drawn.series.iter().any(|s| s == series)),
            "no {series} in a {fig} figure: {:?}",
            plots
                .iter()
                .map(|p| (&p.caption, &p.drawn.series))
                .collect::<Vec<_>>()
        );
    }
    for id in ["docker", "docker bridge", "docker published"] {
        assert!(a.iter().any(|x| x.0 == id), "{id} has no colour: {a:?}");
    }
    for row in [
        "| docker (run) | ",
        "| docker (run-bridge) | ",
        "| docker (bridge) | ",
        "| docker (published) | ",
        "`docker run --rm` (dockerd, containerd, runc) / `pier run --rm` = ",
        "Docker vs pier, published path: throughput docker/pier = ",
        "| docker (dockerd) | Docker version 20.10.24",
        "| podman | podman version 4.3.1 |",
    ] {
        assert!(md.contains(row), "report.md lacks {row:?}");
    }
    // report.html: one file with every figure of report.md inside.
    let html = std::fs::read_to_string(&files.html).unwrap();
    let embedded = html.matches("src=\"data:image/svg+xml;base64,").count();
    assert_eq!(
        embedded,
        plots.len(),
        "{} of {} figures embedded",
        embedded,
        plots.len()
    );
    assert!(html.contains("<table>"));
    drop(dir);
}

#[test]
fn verdicts_lean_on_nothing_and_other_machines_stay_context() {
    let (_dir, files) = rendered();
    let md = std::fs::read_to_string(&files.report).unwrap();
    // The fixture's pier/native DGEMM intervals straddle 0.98: inconclusive, never "met"
    // on the median alone.
    assert!(md.contains("inconclusive: the 95% CI"), "{md}");
    assert!(!md.contains("(goal met)"));
    // Start-up goals (issue 24): pier runtime at most 0.5x crun under Docker's profile.
    assert!(
        md.contains("/ `crun run` = ") && md.contains("(goal ≤ 0.500: "),
        "{md}"
    );
    // The peak and each DGEMM as a fraction of it.
    assert!(
        md.contains("Theoretical peak: 2 cores × 3.70 GHz × 16 FLOP/cycle"),
        "{md}"
    );
    assert!(md.contains("| of peak |"));
    // Implausible figures are flagged in a table with a rerun, not presented as findings.
    assert!(md.contains("## Figures flagged as noise"), "{md}");
    assert!(
        md.contains("| figure | why it cannot be true | measure it again |"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| {
            l.starts_with("| net `tcp_rr_latency`:") && l.contains("pier (published) 0.677× native")
        })
        .unwrap_or_else(|| panic!("no row for the published-port latency: {md}"));
    assert!(
        row.ends_with("| `pier bench --suite net --env native,pier --runs 15` |"),
        "{row}"
    );
    assert!(files.flags.iter().all(|f| f.label != "native"));
    // Published figures: their own section, source and machine, no speed verdicts.
    let context = &md[md.find("## Figures from other machines").unwrap()
        ..md.find("## What was measured").unwrap()];
    assert!(context.contains("2 x 8-core Sandy Bridge-EP"));
    assert!(context.contains("youki README") && context.contains("firecracker nsdi2020-data"));
    assert!(
        !context.contains("faster than") && !context.contains("as long as"),
        "{context}"
    );
    assert!(
        !md.contains("less overhead than the study")
            && !md.contains("more overhead than the study")
    );
    for line in context.lines().filter(|l| l.starts_with("| tcp_")) {
        assert!(
            line.contains(
                "not comparable: the study's client and server were two machines over 10 GbE"
            ),
            "{line}"
        );
    }
    for line in context
        .lines()
        .filter(|l| l.contains("QEMU/TCG") && l.starts_with("| stream"))
    {
        assert!(
            line.contains("not comparable: this VM is emulated"),
            "{line}"
        );
    }
    // The notes made it in, a pipe in an error does not break the table.
    assert!(md.contains("a test fixture's failure / with a pipe"));
    assert!(md.contains("| cgroup_create_destroy"));
}

#[test]
fn rerender_refuses_a_directory_without_samples_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let err = report::rerender(tmp.path(), &pier_bench::reference::default_dir()).unwrap_err();
    assert!(format!("{err:#}").contains("has no samples.csv"), "{err:#}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn rerendering_twice_gives_the_same_report() {
    let (dir, first) = rendered();
    let a = std::fs::read_to_string(&first.report).unwrap();
    let second = report::rerender(dir.path(), &pier_bench::reference::default_dir()).unwrap();
    assert_eq!(a, std::fs::read_to_string(&second.report).unwrap());
    assert_eq!(first.plots(), second.plots());
}

/// A peer that could not run (dockerd refused to start) keeps its rows, each saying why.
#[test]
fn a_peer_that_could_not_run_says_why_in_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["environment.json", "notes.json"] {
        std::fs::copy(fixture().join(f), tmp.path().join(f)).unwrap();
    }
    let samples = std::fs::read_to_string(fixture().join("samples.csv")).unwrap();
    let without_docker: String = samples
        .lines()
        .filter(|l| !l.contains(",docker,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(tmp.path().join("samples.csv"), without_docker).unwrap();
    let mut notes = pier_bench::notes::Notes::read(tmp.path()).unwrap().unwrap();
    notes.unavailable.push(pier_bench::notes::Unavailable {
        label: "docker (run)".into(),
        reason: "dockerd exited (exit status: 1) while starting: no | pipe allowed".into(),
    });
    notes.write(tmp.path()).unwrap();
    let files = report::rerender(tmp.path(), &pier_bench::reference::default_dir()).unwrap();
    let md = std::fs::read_to_string(&files.report).unwrap();
    for row in [
        "| docker (run) | not measured: dockerd exited (exit status: 1) while starting: no / pipe allowed | - |",
        "| docker (run-bridge) | not measured: dockerd exited",
        "| docker (bridge, published) | not measured: dockerd exited",
    ] {
        assert!(md.contains(row), "no {row:?} in:\n{md}");
    }
}

/// The emulated VM's ratios to native are thousandths: written as fractions, never `0.000`.
#[test]
fn the_vm_rows_ratios_read_as_fractions() {
    let (_dir, files) = rendered();
    let md = std::fs::read_to_string(&files.report).unwrap();
    let vm = &md[md.find("### The VM:").unwrap()..];
    let vm = &vm[..vm.find("\n### ").unwrap_or(vm.len())];
    let dgemm = vm
        .lines()
        .find(|l| l.starts_with("* dgemm_gflops"))
        .expect("a DGEMM line in the VM section");
    assert!(dgemm.contains("× native"), "{dgemm}");
    assert!(dgemm.contains("[1/"), "{dgemm}");
    assert!(!vm.contains("0.000") && !vm.contains("0.00 ["), "{vm}");
}
