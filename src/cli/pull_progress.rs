//! How `pier pull` shows its progress: on a terminal, a line per layer redrawn in place
//! with a byte bar while it downloads (as `docker pull`); otherwise plain lines, one when
//! each layer is done (`<id>: Pull complete`, `<id>: Already exists`); with `-q`, nothing.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pier_engine::image::registry::progress::{state_text, LayerState, PullProgress};
use pier_engine::image::registry::short_digest;
use std::collections::HashMap;
use std::io::IsTerminal;

/// The progress display for standard output: bars on a terminal, lines otherwise.
pub fn for_stdout(quiet: bool) -> Box<dyn PullProgress> {
    if quiet {
        Box::new(|_: &str| {})
    } else if std::io::stdout().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(|line: &str| println!("{line}"))
    }
}

/// A bar per layer, in the order the layers were first heard of.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: HashMap::new(),
        }
    }
}

/// `0123456789ab: Waiting`.
fn plain_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `0123456789ab: Downloading [=====>     ] 12.3 MiB/40.0 MiB`.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Drop for Bars {
    /// indicatif leaves the cursor at the end of the last layer's line: what is printed
    /// next (`Digest: ...`) starts on a line of its own.
    fn drop(&mut self) {
        if !self.bars.is_empty() {
            println!();
        }
    }
}

impl PullProgress for Bars {
    fn line(&mut self, text: &str) {
        // Above the bars, not through them.
        if self.multi.println(text).is_err() {
            println!("{text}");
        }
    }

    fn layer(&mut self, digest: &str, state: LayerState) {
        let multi = &self.multi;
        let bar = self.bars.entry(digest.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(0).with_style(plain_style()));
            bar.set_prefix(short_digest(digest).to_string());
            bar
        });
        match state {
            LayerState::Downloading { done, total } => {
                bar.set_message(state_text(state));
                if bar.length() != Some(total) {
                    bar.set_style(bar_style());
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            LayerState::Exists | LayerState::Complete => {
                bar.set_style(plain_style());
                bar.finish_with_message(state_text(state));
            }
            LayerState::Waiting | LayerState::Extracting => {
                bar.set_style(plain_style());
                bar.set_message(state_text(state));
            }
        }
    }
}
