//! The checker's own words: the ✔/✘ lines, the score, the hint and the answer messages, in
//! one place (each lab's task titles and hints live in its file, beside the task). A message
//! catalog in more languages replaces these functions one for one.

/// A task that passed: `✔ id  title (note)`.
pub fn passed(id: &str, title: &str, note: &str) -> String {
    if note.is_empty() {
        format!("✔ {id:<12} {title}\n")
    } else {
        format!("✔ {id:<12} {title} ({note})\n")
    }
}

/// A task that failed, with what the checker saw.
pub fn failed(id: &str, title: &str, why: &str) -> String {
    format!("✘ {id:<12} {title}\n    {why}\n")
}

/// A task not checked because a task it depends on did not pass.
pub fn parent_failed(id: &str, title: &str, parent: &str) -> String {
    format!("✘ {id:<12} {title}\n    parent failed: finish task {parent} first\n")
}

/// The score line.
pub fn score(passed: usize, total: usize) -> String {
    format!("Score {passed}/{total}\n")
}

/// After an incomplete score: where to get help.
pub fn hint_pointer(lab: u32) -> String {
    format!("(`pier lab hint {lab}` explains the first task not done)\n")
}

/// `pier lab hint N`: the task, its hint, and what the checker saw.
pub fn hint(id: &str, title: &str, hint: &str, why: &str) -> String {
    format!("Task {id} ({title}):\n  {hint}\n\nWhat the checker saw: {why}")
}

/// A task asks for a value the student has not recorded.
pub fn no_answer(lab: u32, key: &str) -> String {
    format!("no answer recorded yet: run `pier lab answer {lab} {key} VALUE`")
}

/// `pier lab answer` with a key the lab does not ask for.
pub fn unknown_answer_key(lab: u32, key: &str, keys: &[&str]) -> String {
    format!(
        "lab {lab} asks for no answer called {key:?}; it asks for: {}",
        if keys.is_empty() {
            "nothing".to_string()
        } else {
            keys.join(", ")
        }
    )
}

/// An event the task needs happened before `pier lab start N` (an earlier attempt).
pub fn before_start(lab: u32) -> String {
    format!("(only what happened after the last `pier lab start {lab}` counts)")
}
