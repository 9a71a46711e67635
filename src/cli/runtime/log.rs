//! The runtime's log: errors (and with `--debug`, progress) to the `--log` file in logrus's
//! text or JSON line format, which containerd and Podman read back when a command fails.

use super::args::LogFormat;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Where and how to log.
pub struct Log {
    file: Option<Mutex<File>>,
    format: LogFormat,
    debug: bool,
}

impl Log {
    /// Opens (appends to) `path`; without a path, logs go to stderr.
    pub fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> anyhow::Result<Log> {
        use anyhow::Context;
        let file = match path {
            Some(p) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening the log file {}", p.display()))?,
            )),
            None => None,
        };
        Ok(Log {
            file,
            format,
            debug,
        })
    }

    /// Whether errors also need printing on stderr (they went to a file).
    pub fn to_file(&self) -> bool {
        self.file.is_some()
    }

    /// Logs an error.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// Logs a warning.
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// Logs progress (only with `--debug`).
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = format_line(self.format, level, msg, std::time::SystemTime::now());
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

/// One log line (with its newline) as logrus writes it.
fn format_line(format: LogFormat, level: &str, msg: &str, at: std::time::SystemTime) -> String {
    let time = pier_oci::time::rfc3339_nanos(at);
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        }
        LogFormat::Text => {
            let quoted = serde_json::Value::String(msg.to_string()).to_string();
            format!("time=\"{time}\" level={level} msg={quoted}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_logrus_json_and_text() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
        let json = format_line(LogFormat::Json, "error", "bad \"thing\"", at);
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"thing\"");
        assert_eq!(v["time"], "1970-01-01T00:00:01.000000000Z");
        let text = format_line(LogFormat::Text, "error", "bad \"thing\"", at);
        assert_eq!(
            text,
            "time=\"1970-01-01T00:00:01.000000000Z\" level=error msg=\"bad \\\"thing\\\"\"\n"
        );
    }
}
