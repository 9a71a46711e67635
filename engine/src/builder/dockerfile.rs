//! Parsing a Dockerfile into stages of typed instructions.
//!
//! The text is handled as Docker's classic parser does: parser directives (`# syntax=`,
//! `# escape=`) only at the very top, `#` comment lines dropped (even inside a continued
//! instruction), a line ending in the escape character continued on the next one, and the
//! keyword case-insensitive. Variables are *not* expanded here: `${VAR}` depends on the `ARG`
//! and `ENV` values in effect when the step runs, so words keep their quotes and `$` until
//! the builder expands them (see [`super::expand`]). Errors name the file and line:
//! `Dockerfile:3: unknown instruction: FORM`.

use super::expand::split_words;
use anyhow::{bail, Result};

/// A command as written: shell form (`RUN echo hi`) or exec form (`RUN ["echo", "hi"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run through the image's shell (`SHELL`, default `/bin/sh -c`).
    Shell(String),
    /// Executed directly.
    Exec(Vec<String>),
}

/// Arguments of `COPY` and `ADD`, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyArgs {
    /// Source paths or globs (relative to the context, or to `--from`'s root).
    pub sources: Vec<String>,
    /// Destination (relative to `WORKDIR` unless absolute).
    pub dest: String,
    /// `--from=STAGE|INDEX|IMAGE`.
    pub from: Option<String>,
    /// `--chown=UID[:GID]` (names resolved in the image).
    pub chown: Option<String>,
    /// `--chmod=OCTAL`.
    pub chmod: Option<String>,
    /// Written in exec (JSON) form: no quote processing on the words.
    pub json: bool,
}

/// `HEALTHCHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [OPTIONS] CMD ...`.
    Check {
        /// The test command.
        command: Command,
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval`, `--retries` as
        /// given.
        options: Vec<(String, String)>,
    },
}

/// One instruction, its words still unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=P] IMAGE [AS NAME]`.
    From {
        /// Image reference, or `scratch`, or a previous stage's name.
        image: String,
        /// `AS NAME` (lowercased).
        name: Option<String>,
    },
    /// `RUN`.
    Run(Command),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `COPY`.
    Copy(CopyArgs),
    /// `ADD`.
    Add(CopyArgs),
    /// `ENV K=V ...` (or the legacy `ENV K V`): raw key/value words.
    Env(Vec<(String, String)>),
    /// `LABEL K=V ...`.
    Label(Vec<(String, String)>),
    /// `ARG NAME[=DEFAULT] ...`.
    Arg(Vec<(String, Option<String>)>),
    /// `WORKDIR PATH`.
    Workdir(String),
    /// `USER USER[:GROUP]`.
    User(String),
    /// `EXPOSE PORT[/PROTO] ...`.
    Expose(Vec<String>),
    /// `VOLUME PATH ...` (or a JSON array).
    Volume(Vec<String>),
    /// `SHELL ["exe", "arg"...]`.
    Shell(Vec<String>),
    /// `STOPSIGNAL SIG`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `MAINTAINER NAME` (deprecated; sets the author).
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// The instruction text as written (continuations joined), for `Step N/M : ...`.
    pub text: String,
    /// What it does.
    pub instruction: Instruction,
}

/// One `FROM` and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `FROM` step.
    pub from: Step,
    /// The stage's other steps.
    pub steps: Vec<Step>,
}

impl Stage {
    /// `AS NAME`, if any.
    pub fn name(&self) -> Option<&str> {
        match &self.from.instruction {
            Instruction::From { name, .. } => name.as_deref(),
            _ => None,
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The file name used in messages.
    pub file: String,
    /// The escape character (`\` or `` ` ``).
    pub escape: char,
    /// `ARG`s before the first `FROM` (usable in `FROM` lines).
    pub global_args: Vec<Step>,
    /// Build stages, in order.
    pub stages: Vec<Stage>,
}

/// A logical line: an instruction with its continuation lines joined.
struct LogicalLine {
    line: usize,
    text: String,
}

/// Parses Dockerfile `source`; `file` names it in errors.
pub fn parse(file: &str, source: &str) -> Result<Dockerfile> {
    let (escape, body_start) = directives(file, source)?;
    let lines = logical_lines(source, body_start, escape);
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for l in lines {
        let step = parse_instruction(file, &l, escape)?;
        match (&step.instruction, stages.last_mut()) {
            (Instruction::From { .. }, _) => stages.push(Stage {
                from: step,
                steps: Vec::new(),
            }),
            (_, Some(stage)) => stage.steps.push(step),
            (Instruction::Arg(_), None) => global_args.push(step),
            (_, None) => bail!(
                "{file}:{}: no FROM before {}: a Dockerfile must start with FROM (only ARG may come before it)",
                step.line,
                keyword_of(&step.text)
            ),
        }
    }
    if stages.is_empty() {
        bail!("{file}: no FROM instruction: the Dockerfile has no build stage");
    }
    Ok(Dockerfile {
        file: file.to_string(),
        escape,
        global_args,
        stages,
    })
}

fn keyword_of(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Reads the parser directives at the top; returns the escape character and the index of
/// the first line that is not a directive.
fn directives(file: &str, source: &str) -> Result<(char, usize)> {
    let mut escape = '\\';
    let mut seen = Vec::new();
    for (i, raw) in source.lines().enumerate() {
        let Some(body) = raw.trim().strip_prefix('#') else {
            return Ok((escape, i));
        };
        let Some((key, value)) = body.split_once('=') else {
            return Ok((escape, i));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Ok((escape, i));
        }
        if seen.contains(&key) {
            bail!(
                "{file}:{}: only one {key} parser directive can be used",
                i + 1
            );
        }
        match key.as_str() {
            "escape" => {
                escape = match value.trim() {
                    "\\" => '\\',
                    "`" => '`',
                    other => bail!(
                        "{file}:{}: invalid escape token {other:?}: it must be \\ or `",
                        i + 1
                    ),
                }
            }
            // Frontend selection and checks mean nothing to pier's own builder.
            "syntax" | "check" => {}
            _ => return Ok((escape, i)),
        }
        seen.push(key);
    }
    Ok((escape, source.lines().count()))
}

/// Joins continuation lines and drops comments and blank lines.
fn logical_lines(source: &str, start: usize, escape: char) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    for (i, raw) in source.lines().enumerate().skip(start) {
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.trim_end().is_empty() {
            // An empty line inside a continuation is skipped (Docker accepts it).
            continue;
        }
        let stripped = raw.trim_end();
        let (content, continues) = match stripped.strip_suffix(escape) {
            Some(c) => (c, true),
            None => (stripped, false),
        };
        match current.as_mut() {
            Some(cur) => cur.text.push_str(content),
            None => {
                current = Some(LogicalLine {
                    line: i + 1,
                    text: content.trim_start().to_string(),
                })
            }
        }
        if !continues {
            out.extend(current.take());
        }
    }
    // A trailing escape at end of file: the instruction ends there.
    out.extend(current.take());
    out
}

/// Splits leading `--name=value` flags off `rest`.
fn take_flags(rest: &str) -> (Vec<(String, String)>, String) {
    let mut flags = Vec::new();
    let mut s = rest.trim_start();
    while let Some(after) = s.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        let (k, v) = word.split_once('=').unwrap_or((word, "true"));
        flags.push((k.to_ascii_lowercase(), v.to_string()));
        s = after[end..].trim_start();
    }
    (flags, s.to_string())
}

/// A JSON array of strings, if `rest` is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn command(rest: &str) -> Command {
    match json_array(rest) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(rest.trim().to_string()),
    }
}

/// Splits `K=V K2=V2` (or legacy `K V` when `legacy` allows it) into raw pairs.
fn key_values(
    file: &str,
    line: usize,
    keyword: &str,
    rest: &str,
    escape: char,
) -> Result<Vec<(String, String)>> {
    let words = split_words(rest, escape);
    if words.is_empty() {
        bail!("{file}:{line}: {keyword} requires at least one argument");
    }
    if !words[0].contains('=') {
        // Legacy `ENV KEY some value`: the rest of the line is the value.
        let key = words[0].clone();
        let value = rest.trim_start()[key.len()..].trim().to_string();
        if value.is_empty() {
            bail!("{file}:{line}: {keyword} {key} needs a value: use {keyword} {key}=VALUE");
        }
        return Ok(vec![(key, value)]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => bail!("{file}:{line}: {keyword}: {w:?} is not of the form KEY=VALUE"),
        }
    }
    Ok(out)
}

fn check_flags(
    file: &str,
    line: usize,
    keyword: &str,
    flags: &[(String, String)],
    allowed: &[&str],
) -> Result<()> {
    for (k, _) in flags {
        if !allowed.contains(&k.as_str()) {
            bail!("{file}:{line}: {keyword}: unknown flag --{k}");
        }
    }
    Ok(())
}

fn flag(flags: &[(String, String)], name: &str) -> Option<String> {
    flags
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn parse_instruction(file: &str, l: &LogicalLine, escape: char) -> Result<Step> {
    let line = l.line;
    let text = l.text.trim().to_string();
    let (word, rest) = match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim().to_string()),
        None => (text.as_str(), String::new()),
    };
    let keyword = word.to_ascii_uppercase();
    let need = |ok: bool, what: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            bail!("{file}:{line}: {keyword} requires {what}")
        }
    };
    let instruction = match keyword.as_str() {
        "FROM" => {
            let (flags, rest) = take_flags(&rest);
            check_flags(file, line, &keyword, &flags, &["platform"])?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [image] => Instruction::From {
                    image: image.to_string(),
                    name: None,
                },
                [image, kw, name] if kw.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                    if !valid {
                        bail!("{file}:{line}: invalid stage name {name:?}: it must start with a letter and contain only letters, digits, '_', '.', '-'");
                    }
                    Instruction::From {
                        image: image.to_string(),
                        name: Some(name),
                    }
                }
                [] => bail!("{file}:{line}: FROM requires an image (or scratch)"),
                _ => bail!("{file}:{line}: FROM takes IMAGE [AS NAME], got {rest:?}"),
            }
        }
        "RUN" => {
            let (flags, rest) = take_flags(&rest);
            if let Some((k, _)) = flags.first() {
                bail!("{file}:{line}: RUN --{k} is not supported by pier's builder");
            }
            need(!rest.is_empty(), "a command")?;
            Instruction::Run(command(&rest))
        }
        "CMD" => {
            need(!rest.is_empty(), "a command")?;
            Instruction::Cmd(command(&rest))
        }
        "ENTRYPOINT" => {
            need(!rest.is_empty(), "a command")?;
            Instruction::Entrypoint(command(&rest))
        }
        "COPY" | "ADD" => {
            let (flags, rest) = take_flags(&rest);
            let allowed: &[&str] = if keyword == "COPY" {
                &["from", "chown", "chmod"]
            } else {
                &["chown", "chmod"]
            };
            check_flags(file, line, &keyword, &flags, allowed)?;
            let (mut words, json) = match json_array(&rest) {
                Some(v) => (v, true),
                None => (split_words(&rest, escape), false),
            };
            if words.len() < 2 {
                bail!("{file}:{line}: {keyword} requires at least two arguments: SOURCE... DEST");
            }
            let dest = words.pop().unwrap_or_default();
            let args = CopyArgs {
                sources: words,
                dest,
                from: flag(&flags, "from"),
                chown: flag(&flags, "chown"),
                chmod: flag(&flags, "chmod"),
                json,
            };
            if keyword == "COPY" {
                Instruction::Copy(args)
            } else {
                Instruction::Add(args)
            }
        }
        "ENV" => Instruction::Env(key_values(file, line, &keyword, &rest, escape)?),
        "LABEL" => Instruction::Label(key_values(file, line, &keyword, &rest, escape)?),
        "ARG" => {
            let words = split_words(&rest, escape);
            need(!words.is_empty(), "a name: ARG NAME[=DEFAULT]")?;
            let mut out = Vec::new();
            for w in words {
                let (k, v) = match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    bail!("{file}:{line}: ARG: invalid name {k:?}");
                }
                out.push((k, v));
            }
            Instruction::Arg(out)
        }
        "WORKDIR" => {
            need(!rest.is_empty(), "a path")?;
            Instruction::Workdir(rest)
        }
        "USER" => {
            need(!rest.is_empty(), "a user: USER NAME[:GROUP]")?;
            Instruction::User(rest)
        }
        "EXPOSE" => {
            let words = split_words(&rest, escape);
            need(!words.is_empty(), "at least one port")?;
            Instruction::Expose(words)
        }
        "VOLUME" => {
            let words = json_array(&rest).unwrap_or_else(|| split_words(&rest, escape));
            need(!words.is_empty(), "at least one path")?;
            Instruction::Volume(words)
        }
        "SHELL" => match json_array(&rest) {
            Some(v) if !v.is_empty() => Instruction::Shell(v),
            _ => bail!(
                "{file}:{line}: SHELL requires the arguments to be in JSON form: SHELL [\"executable\", \"parameters\"]"
            ),
        },
        "STOPSIGNAL" => {
            need(!rest.is_empty(), "a signal")?;
            Instruction::StopSignal(rest)
        }
        "MAINTAINER" => {
            need(!rest.is_empty(), "a name")?;
            Instruction::Maintainer(rest)
        }
        "HEALTHCHECK" => {
            let (flags, rest) = take_flags(&rest);
            check_flags(
                file,
                line,
                &keyword,
                &flags,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
            )?;
            let (kw, cmd) = match rest.find(char::is_whitespace) {
                Some(i) => (&rest[..i], rest[i..].trim()),
                None => (rest.as_str(), ""),
            };
            match kw.to_ascii_uppercase().as_str() {
                "NONE" if cmd.is_empty() && flags.is_empty() => {
                    Instruction::Healthcheck(Healthcheck::None)
                }
                "NONE" => bail!("{file}:{line}: HEALTHCHECK NONE takes no other arguments"),
                "CMD" if !cmd.is_empty() => Instruction::Healthcheck(Healthcheck::Check {
                    command: command(cmd),
                    options: flags,
                }),
                _ => bail!("{file}:{line}: HEALTHCHECK takes NONE or [OPTIONS] CMD command"),
            }
        }
        "ONBUILD" => bail!("{file}:{line}: ONBUILD is not supported by pier's builder"),
        "" => bail!("{file}:{line}: empty instruction"),
        _ => bail!("{file}:{line}: unknown instruction: {word}"),
    };
    Ok(Step {
        line,
        text,
        instruction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        format!("{:#}", parse("Dockerfile", src).unwrap_err())
    }

    #[test]
    fn stages_instructions_and_forms() {
        let df = parse(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\n\
             ARG BASE=busybox\n\
             FROM $BASE AS Build\n\
             # a comment\n\
             RUN echo one \\\n  && echo two\n\
             RUN [\"/bin/echo\", \"exec\"]\n\
             COPY --chown=1:2 a b* /dst/\n\
             ENV A=1 B=\"two words\"\n\
             ENV LEGACY some value\n\
             from scratch\n\
             copy --from=build /x /y\n\
             CMD [\"/y\"]\n",
        )
        .unwrap();
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].name(), Some("build"));
        let s = &df.stages[0].steps;
        assert_eq!(
            s[0].instruction,
            Instruction::Run(Command::Shell("echo one   && echo two".into()))
        );
        assert_eq!(s[0].line, 5);
        assert_eq!(s[1].line, 7);
        assert_eq!(
            s[1].instruction,
            Instruction::Run(Command::Exec(vec!["/bin/echo".into(), "exec".into()]))
        );
        match &s[2].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.sources, vec!["a", "b*"]);
                assert_eq!(c.dest, "/dst/");
                assert_eq!(c.chown.as_deref(), Some("1:2"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s[3].instruction,
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into())
            ])
        );
        assert_eq!(
            s[4].instruction,
            Instruction::Env(vec![("LEGACY".into(), "some value".into())])
        );
        match &df.stages[1].steps[0].instruction {
            Instruction::Copy(c) => assert_eq!(c.from.as_deref(), Some("build")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escape_directive_and_comments_inside_continuations() {
        let df = parse(
            "Dockerfile",
            "# escape=`\nFROM scratch\nRUN a `\n# inner comment\n  b\nWORKDIR C:\\dir\n",
        )
        .unwrap();
        assert_eq!(df.escape, '`');
        let s = &df.stages[0].steps;
        assert_eq!(
            s[0].instruction,
            Instruction::Run(Command::Shell("a   b".into()))
        );
        assert_eq!(s[1].instruction, Instruction::Workdir("C:\\dir".into()));
        // A directive after the first comment is a plain comment.
        let df = parse("Dockerfile", "# hello\n# escape=`\nFROM x\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
    }

    #[test]
    fn healthcheck_shell_arg() {
        let df = parse(
            "Dockerfile",
            "FROM x\nHEALTHCHECK --interval=5s CMD wget -q localhost\nHEALTHCHECK NONE\nSHELL [\"/bin/ash\", \"-c\"]\nARG A B=2\nEXPOSE 80/tcp 53/udp\nVOLUME [\"/data\"]\n",
        )
        .unwrap();
        let s = &df.stages[0].steps;
        assert_eq!(
            s[0].instruction,
            Instruction::Healthcheck(Healthcheck::Check {
                command: Command::Shell("wget -q localhost".into()),
                options: vec![("interval".into(), "5s".into())]
            })
        );
        assert_eq!(
            s[1].instruction,
            Instruction::Healthcheck(Healthcheck::None)
        );
        assert_eq!(
            s[2].instruction,
            Instruction::Shell(vec!["/bin/ash".into(), "-c".into()])
        );
        assert_eq!(
            s[3].instruction,
            Instruction::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))])
        );
        assert_eq!(
            s[4].instruction,
            Instruction::Expose(vec!["80/tcp".into(), "53/udp".into()])
        );
        assert_eq!(s[5].instruction, Instruction::Volume(vec!["/data".into()]));
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            err("FROM x\n\nFORM y\n"),
            "Dockerfile:3: unknown instruction: FORM"
        );
        assert!(err("RUN x\n").contains("Dockerfile:1: no FROM before RUN"));
        assert!(err("# only a comment\n").contains("no FROM"));
        assert!(err("FROM x\nCOPY onlyone\n").contains("Dockerfile:2: COPY requires at least two"));
        assert!(err("FROM x\nSHELL /bin/sh -c\n").contains("Dockerfile:2: SHELL requires"));
        assert!(err("FROM x y z w\n").contains("Dockerfile:1: FROM takes"));
        assert!(err("FROM x\nCOPY --bogus=1 a b\n").contains("unknown flag --bogus"));
        assert!(err("FROM x\nENV A\n").contains("Dockerfile:2: ENV A needs a value"));
        assert!(err("FROM x\nONBUILD RUN x\n").contains("not supported"));
        assert!(err("# escape=x\nFROM x\n").contains("invalid escape"));
    }
}
