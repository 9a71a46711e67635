//! What a pull tells its user: messages, and each layer's state as `docker pull` shows it
//! (`Already exists`, `Waiting`, `Downloading`, `Extracting`, `Pull complete`).

pub use crate::image::store::LayerState;

/// Receives a pull's progress, on the thread that called the pull.
pub trait PullProgress {
    /// A message line (a mirror that failed, a warning).
    fn line(&mut self, text: &str);

    /// Layer `digest` is now in `state`. By default, a plain line for the states that
    /// end a layer (`<id>: Already exists`, `<id>: Pull complete`), as `docker pull`
    /// prints when its output is not a terminal.
    fn layer(&mut self, digest: &str, state: LayerState) {
        if let Some(text) = final_state_text(state) {
            self.line(&format!("{}: {text}", super::short_digest(digest)));
        }
    }
}

/// Any line sink is a plain progress.
impl<F: FnMut(&str)> PullProgress for F {
    fn line(&mut self, text: &str) {
        self(text)
    }
}

/// Docker's words for a layer that is done, or `None` while it is still going.
pub fn final_state_text(state: LayerState) -> Option<&'static str> {
    match state {
        LayerState::Exists => Some("Already exists"),
        LayerState::Complete => Some("Pull complete"),
        _ => None,
    }
}

/// Docker's words for a layer's state (`Downloading` without the byte counts).
pub fn state_text(state: LayerState) -> &'static str {
    match state {
        LayerState::Exists => "Already exists",
        LayerState::Waiting => "Waiting",
        LayerState::Downloading { .. } => "Downloading",
        LayerState::Extracting => "Extracting",
        LayerState::Complete => "Pull complete",
    }
}
