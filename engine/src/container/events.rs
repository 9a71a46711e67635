//! pier's event log, `<root>/events.jsonl`: one JSON line per thing that happened to a
//! container — created, started, refused to start, signalled, exited, removed — the facts
//! `docker events` reports. It outlives the containers it tells about, so it can show that a
//! container existed after `pier rm`, or that a start was refused and rolled back; the labs'
//! checker reads it for exactly that (`pier events` prints it).
//!
//! Each line carries what the kernel said about the container's init when it happened
//! ([`InitSeen`]: its PID, the start time of that PID, its cgroup), read by pier then, and a
//! seal ([`super::event_seal`]) that a line written by hand lacks.
//!
//! Appends take a lock, so lines from concurrent `pier` processes never interleave. The log is
//! bounded: past [`MAX_BYTES`] it is renamed to `events.jsonl.1` (replacing the older one) and
//! a new one begins, so at most two files' worth is kept.

use super::event_seal::SealKey;
use super::now_rfc3339;
use super::record::{ContainerRecord, ProcessId};
use anyhow::{Context, Result};
use pier_oci::persist::Lock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Size past which the log is rotated.
pub const MAX_BYTES: u64 = 1 << 20;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The container was created (its record and writable layer exist).
    Create,
    /// Its command started.
    Start,
    /// A start was refused or failed before the command ran (a host port already taken, a
    /// missing executable); `error` says why.
    StartFailed,
    /// pier sent its init a signal (`pier kill`, `pier stop`, `pier rm -f`).
    Kill,
    /// Its command exited; `exit_code` says how.
    Die,
    /// It was removed, with its writable layer.
    Destroy,
    /// Its monitor restarted it under its `--restart` policy.
    Restart,
    /// Its health changed; `health` says to what.
    #[serde(rename = "health_status")]
    HealthStatus,
    /// `pier pause` froze it.
    Pause,
    /// `pier unpause` thawed it.
    Unpause,
    /// `pier update` changed its limits or restart policy.
    Update,
    /// `pier rename` gave it a new name (`name` is the new one).
    Rename,
}

impl Action {
    /// The word `pier events` prints.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::StartFailed => "start-failed",
            Action::Kill => "kill",
            Action::Die => "die",
            Action::Destroy => "destroy",
            Action::Restart => "restart",
            Action::HealthStatus => "health_status",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Update => "update",
            Action::Rename => "rename",
        }
    }
}

/// The container's init as the kernel showed it to pier when an event happened: which
/// process it was (PID and the start time of that PID, so a reused PID is not mistaken for
/// it) and which cgroup it was in. Only pier, watching the container, can read these at the
/// time; a checker compares them with the live process while it runs, and with each other
/// (every event of one run names the same process) once it has gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitSeen {
    /// Host PID.
    pub pid: i32,
    /// Start time of that PID in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start_time: u64,
    /// Its cgroup as `/proc/PID/cgroup` names it (the unified line on cgroup v2, the `pids`
    /// or `memory` hierarchy's on v1): `/pier/<id>`.
    pub cgroup: String,
}

impl InitSeen {
    /// What the kernel shows now of process `pid`; `None` if it is gone (or a zombie).
    pub fn of(pid: i32) -> Option<InitSeen> {
        let id = ProcessId::of(pid).filter(|p| p.is_alive())?;
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        Some(InitSeen {
            pid,
            start_time: id.start_time,
            cgroup: cgroup_line(&text)?,
        })
    }

    /// What the kernel shows now of the process `init` names, if it is still that process.
    pub fn of_process(init: ProcessId) -> Option<InitSeen> {
        InitSeen::of(init.pid).filter(|s| s.start_time == init.start_time)
    }

    /// The process, without its cgroup.
    pub fn process(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

/// The cgroup path of `/proc/PID/cgroup`'s text: the unified hierarchy's (`0::/path`) when
/// there is one with a path other than `/` (v2; on a hybrid v1 machine it is systemd's), else
/// the `pids` hierarchy's, else `memory`'s, else the first line's.
fn cgroup_line(text: &str) -> Option<String> {
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            Some((f.next()?, f.next()?))
        })
        .collect();
    let v1 = |name: &str| {
        lines
            .iter()
            .find(|(c, _)| c.split(',').any(|c| c == name))
            .map(|(_, p)| p.to_string())
    };
    let unified = lines
        .iter()
        .find(|(c, _)| c.is_empty())
        .map(|(_, p)| p.to_string());
    match (lines.len(), unified) {
        (1, Some(p)) => Some(p),
        (_, u) => v1("pids")
            .or_else(|| v1("memory"))
            .or(u)
            .or_else(|| lines.first().map(|(_, p)| p.to_string())),
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When (RFC 3339, UTC, nanoseconds).
    pub time: String,
    /// What.
    pub action: Action,
    /// The container's full ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image as the user named it.
    #[serde(default)]
    pub image: String,
    /// Exit code (`die`, `start-failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Whether the OOM killer ended it (`die`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// The signal sent, by name (`kill`): `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Why a start failed (`start-failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The new health (`health_status`): `healthy`, `unhealthy`, `starting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The container's labels (`docker events --filter label=...` selects by them, removed
    /// containers included).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The container's init when it happened, as the kernel showed it to pier (`start`,
    /// `kill` before the signal, `die` (the process that ran), `health_status`, and any event
    /// while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitSeen>,
    /// The line's seal ([`super::event_seal`]), hex; set by [`EventLog::append`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl Event {
    /// An event about `rec`, now, with no details yet.
    pub fn about(rec: &ContainerRecord, action: Action) -> Event {
        Event {
            time: now_rfc3339(),
            action,
            id: rec.id.clone(),
            name: rec.name.clone(),
            image: rec.image.clone(),
            exit_code: None,
            oom_killed: false,
            signal: None,
            error: None,
            health: None,
            labels: rec.config.labels.clone(),
            init: rec.init.and_then(InitSeen::of_process),
            seal: None,
        }
    }

    /// The bytes the seal covers: the line without its seal.
    fn sealed_bytes(&self) -> Result<Vec<u8>> {
        let unsealed = Event {
            seal: None,
            ..self.clone()
        };
        serde_json::to_vec(&unsealed).context("serializing an event")
    }

    /// When it happened, parsed.
    pub fn when(&self) -> Option<std::time::SystemTime> {
        pier_oci::time::parse_rfc3339(&self.time).ok()
    }

    /// One line as `pier events` prints it, after `docker events`:
    /// `TIME container ACTION ID (name=NAME, image=IMAGE, ...)`.
    pub fn render(&self) -> String {
        let mut attrs = vec![format!("name={}", self.name)];
        if !self.image.is_empty() {
            attrs.push(format!("image={}", self.image));
        }
        if let Some(code) = self.exit_code {
            attrs.push(format!("exitCode={code}"));
        }
        if self.oom_killed {
            attrs.push("oomKilled=true".into());
        }
        if let Some(sig) = &self.signal {
            attrs.push(format!("signal={sig}"));
        }
        if let Some(err) = &self.error {
            attrs.push(format!("error={err}"));
        }
        // Docker prints `health_status: healthy` as the action.
        let action = match &self.health {
            Some(h) => format!("{}: {h}", self.action.as_str()),
            None => self.action.as_str().to_string(),
        };
        format!(
            "{} container {} {} ({})",
            self.time,
            action,
            self.id,
            attrs.join(", ")
        )
    }
}

/// The event log of a state directory.
pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    /// The log under `root`.
    pub fn at(root: &Path) -> EventLog {
        EventLog {
            path: root.join("events.jsonl"),
        }
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotated(&self) -> PathBuf {
        self.path.with_extension("jsonl.1")
    }

    /// Appends `event` (one line, under the lock), sealed, rotating a full log first.
    pub fn append(&self, event: &Event) -> Result<()> {
        let _lock = Lock::exclusive(&self.path.with_extension("lock"))?;
        let key = SealKey::open_or_create(&self.path)?;
        let sealed = Event {
            seal: Some(key.seal(&event.sealed_bytes()?)?),
            ..event.clone()
        };
        let mut line = serde_json::to_vec(&sealed).context("serializing an event")?;
        line.push(b'\n');
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= MAX_BYTES) {
            std::fs::rename(&self.path, self.rotated()).with_context(|| {
                format!(
                    "rotating {} to {}",
                    self.path.display(),
                    self.rotated().display()
                )
            })?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        f.write_all(&line)
            .with_context(|| format!("appending to {}", self.path.display()))
    }

    /// Every event kept, oldest first (the rotated file, then the current one). A line that
    /// does not parse (a log written by a newer pier) is skipped.
    pub fn read(&self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for path in [self.rotated(), self.path.clone()] {
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
            };
            for line in BufReader::new(file).lines() {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                if let Ok(event) = serde_json::from_str::<Event>(&line) {
                    out.push(event);
                }
            }
        }
        Ok(out)
    }
}

impl EventLog {
    /// The events pier wrote, oldest first: those whose seal verifies under this state
    /// directory's key, each once (a sealed line copied again is the same event). A line
    /// written by hand, edited, or sealed under another directory's key is left out. No key
    /// (no event was ever appended) means no event.
    pub fn read_sealed(&self) -> Result<Vec<Event>> {
        let Some(key) = SealKey::open(&self.path)? else {
            return Ok(Vec::new());
        };
        let mut seen = std::collections::HashSet::new();
        Ok(self
            .read()?
            .into_iter()
            .filter(|e| {
                let Some(seal) = e.seal.clone() else {
                    return false;
                };
                e.sealed_bytes()
                    .is_ok_and(|bytes| key.verifies(&bytes, &seal))
                    && seen.insert(seal)
            })
            .collect())
    }
}

/// How far a follower of the log has read: the file (by inode) and the offset after the last
/// whole line read from it. The default cursor is before the first event kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    ino: u64,
    offset: u64,
}

/// Parses the whole lines of `bytes` (a partial last line, still being appended, is left for
/// the next read): the events, and how many bytes they took.
fn whole_lines(bytes: &[u8], out: &mut Vec<Event>) -> u64 {
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    for line in bytes[..end].split(|b| *b == b'\n') {
        if let Ok(event) = serde_json::from_slice::<Event>(line) {
            out.push(event);
        }
    }
    end as u64
}

/// The bytes of `file` from `offset` on.
fn read_from(mut file: &std::fs::File, offset: u64, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

impl EventLog {
    /// The events appended since `cursor` (every event kept, for the default cursor), oldest
    /// first, and the cursor moved past them: what `docker events` follows the log with. A
    /// rotation in between is followed: the rest of the rotated file, then the new one.
    pub fn read_new(&self, cursor: &mut Cursor) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        let current = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("opening {}", self.path.display())),
        };
        let ino = current
            .metadata()
            .with_context(|| format!("reading {}", self.path.display()))?
            .ino();
        if cursor.ino != ino {
            // A fresh cursor reads the rotated file whole; one whose file was rotated away
            // reads its rest there.
            let rotated = self.rotated();
            if let Ok(old) = std::fs::File::open(&rotated) {
                let old_ino = old.metadata().map(|m| m.ino()).unwrap_or(0);
                let from = match cursor.ino {
                    0 => Some(0),
                    i if i == old_ino => Some(cursor.offset),
                    _ => None,
                };
                if let Some(from) = from {
                    whole_lines(&read_from(&old, from, &rotated)?, &mut out);
                }
            }
            *cursor = Cursor { ino, offset: 0 };
        }
        let bytes = read_from(&current, cursor.offset, &self.path)?;
        cursor.offset += whole_lines(&bytes, &mut out);
        Ok(out)
    }
}

impl super::Engine {
    /// This state directory's event log.
    pub fn events(&self) -> EventLog {
        EventLog::at(self.root())
    }

    /// Records `event`. A container operation never fails because its event could not be
    /// written (a full disk must not stop `pier rm`); the log then misses that line.
    pub(crate) fn record_event(&self, event: Event) {
        let _ = self.events().append(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action, name: &str) -> Event {
        Event {
            time: now_rfc3339(),
            action,
            id: "ab".repeat(32),
            name: name.into(),
            image: "busybox".into(),
            exit_code: None,
            oom_killed: false,
            signal: None,
            error: None,
            health: None,
            labels: BTreeMap::new(),
            init: None,
            seal: None,
        }
    }

    #[test]
    fn appended_events_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::at(dir.path());
        assert!(log.read().unwrap().is_empty(), "no log yet reads as empty");
        let mut failed = event(Action::StartFailed, "b");
        failed.error = Some("host port 0.0.0.0:8080/tcp is already published".into());
        failed.exit_code = Some(125);
        log.append(&event(Action::Create, "a")).unwrap();
        log.append(&failed).unwrap();
        let back = log.read().unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            (back[0].action, back[0].name.as_str()),
            (Action::Create, "a")
        );
        assert_eq!(
            Event {
                seal: None,
                ..back[1].clone()
            },
            failed
        );
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\"action\":\"start-failed\""), "{text}");
        assert!(failed.render().contains("start-failed"));
        assert!(failed.render().contains("exitCode=125"));
    }

    #[test]
    fn the_cgroup_is_read_as_the_kernel_names_it() {
        assert_eq!(cgroup_line("0::/pier/ab\n").as_deref(), Some("/pier/ab"));
        let v1 =
            "12:pids:/pier/ab\n11:memory:/pier/ab\n1:name=systemd:/user.slice\n0::/user.slice\n";
        assert_eq!(cgroup_line(v1).as_deref(), Some("/pier/ab"));
        assert_eq!(
            cgroup_line("3:cpu,cpuacct:/pier/cd\n").as_deref(),
            Some("/pier/cd")
        );
        assert_eq!(cgroup_line(""), None);
    }

    #[test]
    fn only_lines_pier_sealed_are_read_as_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::at(dir.path());
        assert!(log.read_sealed().unwrap().is_empty(), "no key yet: nothing");
        let mut start = event(Action::Start, "a");
        start.init = Some(InitSeen {
            pid: 4242,
            start_time: 123456,
            cgroup: "/pier/abab".into(),
        });
        log.append(&start).unwrap();
        log.append(&event(Action::Die, "a")).unwrap();
        let sealed = log.read_sealed().unwrap();
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[0].init, start.init, "the init reads back");
        assert!(sealed.iter().all(|e| e.seal.is_some()));
        // By hand: a line as pier writes it but unsealed, a sealed line edited, a sealed line
        // copied again, and a line sealed under another directory's key.
        let text = std::fs::read_to_string(log.path()).unwrap();
        let first = text.lines().next().unwrap().to_string();
        let unsealed = serde_json::to_string(&event(Action::Restart, "a")).unwrap();
        let edited = first.replace("\"name\":\"a\"", "\"name\":\"b\"");
        assert_ne!(edited, first);
        let other = tempfile::tempdir().unwrap();
        let other_log = EventLog::at(other.path());
        other_log.append(&event(Action::Restart, "a")).unwrap();
        let foreign = std::fs::read_to_string(other_log.path()).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap();
        for line in [
            unsealed.as_str(),
            edited.as_str(),
            first.as_str(),
            foreign.trim(),
        ] {
            writeln!(f, "{line}").unwrap();
        }
        assert_eq!(
            log.read().unwrap().len(),
            6,
            "every line is still in the log"
        );
        let sealed = log.read_sealed().unwrap();
        assert_eq!(
            sealed.iter().map(|e| e.action).collect::<Vec<_>>(),
            vec![Action::Start, Action::Die],
            "only pier's two lines, once"
        );
    }

    #[test]
    fn a_full_log_is_rotated_and_both_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::at(dir.path());
        std::fs::write(log.path(), vec![b'x'; MAX_BYTES as usize]).unwrap();
        log.append(&event(Action::Create, "old")).unwrap();
        assert!(dir.path().join("events.jsonl.1").exists());
        assert!(std::fs::metadata(log.path()).unwrap().len() < 1000);
        log.append(&event(Action::Destroy, "old")).unwrap();
        let names: Vec<Action> = log.read().unwrap().iter().map(|e| e.action).collect();
        // The rotated file held garbage (skipped); the new file holds both events.
        assert_eq!(names, vec![Action::Create, Action::Destroy]);
    }

    #[test]
    fn a_cursor_reads_each_event_once_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::at(dir.path());
        let mut cursor = Cursor::default();
        assert!(log.read_new(&mut cursor).unwrap().is_empty());
        log.append(&event(Action::Create, "a")).unwrap();
        // A line still being written is left for the next read.
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(b"{\"time\":")
            .unwrap();
        let got = log.read_new(&mut cursor).unwrap();
        assert_eq!(got.len(), 1);
        assert!(log.read_new(&mut cursor).unwrap().is_empty());
        // Fill past the limit: the next append rotates, and the follower sees both sides.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap();
        f.write_all(b"\n").unwrap();
        let filler = serde_json::to_vec(&event(Action::Kill, "fill")).unwrap();
        let n = (MAX_BYTES as usize / (filler.len() + 1)) + 1;
        for _ in 0..n {
            f.write_all(&filler).unwrap();
            f.write_all(b"\n").unwrap();
        }
        log.append(&event(Action::Destroy, "a")).unwrap();
        let got = log.read_new(&mut cursor).unwrap();
        assert_eq!(
            got.len(),
            n + 1,
            "the rotated file's rest, then the new one"
        );
        assert_eq!(got.last().unwrap().action, Action::Destroy);
        // From the start: everything kept, once.
        let all = log.read_new(&mut Cursor::default()).unwrap();
        assert_eq!(all.len(), n + 2);
    }
}
