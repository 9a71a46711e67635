//! The checker's own words, in English and Korean: the ✔/✘ lines, the score, the hint and the
//! answer messages, and what `pier lab` prints around them. Each message is one function with
//! a `match` on [`Lang`], so a message cannot exist in one language only (the compiler asks
//! for every arm; the tests below check the Korean arm is Korean). Each lab's task titles and
//! hints live in its file, beside the task, as [`Tr`] pairs.
//!
//! What a failed check saw (its reason) stays in English: it quotes names, paths and values
//! from the machine.

/// The language the checker speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Korean.
    Ko,
}

impl Lang {
    /// From the environment: `PIER_LANG` first, then the locale as POSIX orders it (`LC_ALL`,
    /// `LC_MESSAGES`, `LANG`; the first one set decides). Korean when that value starts with
    /// `ko` (`ko`, `ko_KR.UTF-8`), English otherwise.
    pub fn from_env() -> Lang {
        Lang::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Lang::from_env`] over any variable lookup (for tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        let value = ["PIER_LANG", "LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|v| get(v).filter(|s| !s.is_empty()));
        match value {
            Some(v) if v.to_ascii_lowercase().starts_with("ko") => Lang::Ko,
            _ => Lang::En,
        }
    }
}

/// One text in both languages (a task title, a hint, a lab title).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    /// English.
    pub en: &'static str,
    /// Korean.
    pub ko: &'static str,
}

/// A text in English and Korean.
pub const fn tr(en: &'static str, ko: &'static str) -> Tr {
    Tr { en, ko }
}

impl Tr {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Ko => self.ko,
        }
    }
}

/// A text the student sees, made at run time, in both languages: what a check saw. A
/// [`Msg`] is also an error, so the context's lookups can return one through `anyhow` and a
/// check's `?` keeps both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// English.
    pub en: String,
    /// Korean.
    pub ko: String,
}

impl Msg {
    /// A message in English and Korean.
    pub fn new(en: impl Into<String>, ko: impl Into<String>) -> Msg {
        Msg {
            en: en.into(),
            ko: ko.into(),
        }
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Ko => &self.ko,
        }
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.en)
    }
}

impl std::error::Error for Msg {}

/// What the Korean frame of a machine fault starts with (tests tell such a fault from a
/// reason a check wrote on purpose by it).
pub const MACHINE_ERROR_KO: &str = "확인하는 중에 오류가 났습니다";

/// A fault of the machine while checking (an I/O error, pier failing), not a reason a check
/// wrote: the error is quoted as the system gave it.
pub fn machine_error(error: &str) -> Msg {
    Msg::new(error, format!("{MACHINE_ERROR_KO}: {error}"))
}

/// Korean particles whose form depends on whether the word before ends in a consonant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Josa {
    /// 이/가 (subject).
    IGa,
    /// 을/를 (object).
    EulReul,
    /// 은/는 (topic).
    EunNeun,
    /// 과/와 (and, with).
    GwaWa,
    /// 으로/로 (to, as; 로 after ㄹ too).
    EuroRo,
    /// 이라는/라는 (called).
    IraneunRaneun,
}

/// How the word is read at its end: `None` when it ends in a vowel sound, `Some(true)` when
/// it ends in ㄹ, `Some(false)` in another consonant. Digits and Latin letters are read as a
/// Korean reader says them (`13` 십삼, `lab` 랩, `pier` 피어, `host` 호스트, `commit` 커밋);
/// closing quotes, backticks and brackets are skipped.
fn final_consonant(word: &str) -> Option<bool> {
    let trimmed: Vec<char> = word
        .trim_end_matches(['`', '"', '\'', ')', ']', '」', '』', ' '])
        .chars()
        .collect();
    let last = *trimmed.last()?;
    let before = |n: usize| {
        trimmed
            .len()
            .checked_sub(n + 1)
            .and_then(|i| trimmed.get(i))
            .map(char::to_ascii_lowercase)
    };
    let vowel = |c: Option<char>| matches!(c, Some('a' | 'e' | 'i' | 'o' | 'u'));
    match last.to_ascii_lowercase() {
        '가'..='힣' => match (last as u32 - 0xAC00) % 28 {
            0 => None,
            8 => Some(true),
            _ => Some(false),
        },
        // 영 일 이 삼 사 오 육 칠 팔 구
        '0' | '3' | '6' => Some(false),
        '1' | '7' | '8' => Some(true),
        '2' | '4' | '5' | '9' => None,
        'l' => Some(true),
        'm' | 'n' => Some(false),
        // -ng (링), but -g alone is 그 (로그, 태그).
        'g' if before(1) == Some('n') => Some(false),
        // After a vowel a stop closes the syllable (랩, 앱, 웹, 북, 락); after a consonant it
        // takes 으 (디스크).
        'p' | 'b' | 'k' if vowel(before(1)) || before(1) == Some('c') => Some(false),
        // After one vowel, -t closes it (캣, 넷, 커밋); after two or a consonant it is 트
        // (루트, 호스트, 포트, 텍스트).
        't' if vowel(before(1)) && !vowel(before(2)) => Some(false),
        _ => None,
    }
}

/// `word` followed by the form of `josa` that fits it: `josa("실습 14", EulReul)` is
/// "실습 14를", `josa("`pier lab hint 13`", IGa)` is "`pier lab hint 13`이".
pub fn josa(word: &str, josa: Josa) -> String {
    let end = final_consonant(word);
    let particle = match (josa, end) {
        (Josa::IGa, None) => "가",
        (Josa::IGa, Some(_)) => "이",
        (Josa::EulReul, None) => "를",
        (Josa::EulReul, Some(_)) => "을",
        (Josa::EunNeun, None) => "는",
        (Josa::EunNeun, Some(_)) => "은",
        (Josa::GwaWa, None) => "와",
        (Josa::GwaWa, Some(_)) => "과",
        (Josa::EuroRo, None | Some(true)) => "로",
        (Josa::EuroRo, Some(false)) => "으로",
        (Josa::IraneunRaneun, None) => "라는",
        (Josa::IraneunRaneun, Some(_)) => "이라는",
    };
    format!("{word}{particle}")
}

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
pub fn parent_failed(lang: Lang, id: &str, title: &str, parent: &str) -> String {
    match lang {
        Lang::En => format!("✘ {id:<12} {title}\n    parent failed: finish task {parent} first\n"),
        Lang::Ko => {
            format!(
                "✘ {id:<12} {title}\n    선행 과제 미완료: 먼저 과제 {} 끝내세요\n",
                josa(parent, Josa::EulReul)
            )
        }
    }
}

/// `pier lab ... N` with a number no lab has.
pub fn no_such_lab(lang: Lang, lab: u32, count: usize) -> String {
    match lang {
        Lang::En => format!(
            "there is no lab {lab}: the labs are numbered 1 to {count} (see `pier lab list`)"
        ),
        Lang::Ko => format!(
            "{} 없습니다: 실습 번호는 1부터 {count}까지입니다 (`pier lab list`를 보세요)",
            josa(&format!("실습 {lab}"), Josa::EunNeun)
        ),
    }
}

/// The score line.
pub fn score(lang: Lang, passed: usize, total: usize) -> String {
    match lang {
        Lang::En => format!("Score {passed}/{total}\n"),
        Lang::Ko => format!("점수 {passed}/{total}\n"),
    }
}

/// After an incomplete score: where to get help.
pub fn hint_pointer(lang: Lang, lab: u32) -> String {
    match lang {
        Lang::En => format!("(`pier lab hint {lab}` explains the first task not done)\n"),
        Lang::Ko => format!(
            "({} 아직 끝내지 않은 첫 과제를 설명합니다)\n",
            josa(&format!("`pier lab hint {lab}`"), Josa::IGa)
        ),
    }
}

/// `pier lab hint N`: the task, its hint, and what the checker saw.
pub fn hint(lang: Lang, id: &str, title: &str, hint: &str, why: &str) -> String {
    match lang {
        Lang::En => format!("Task {id} ({title}):\n  {hint}\n\nWhat the checker saw: {why}"),
        Lang::Ko => format!("과제 {id} ({title}):\n  {hint}\n\n채점기가 본 것: {why}"),
    }
}

/// `pier lab hint N` when every task passes.
pub fn nothing_to_hint(lang: Lang, lab: u32) -> String {
    match lang {
        Lang::En => format!("Every task of lab {lab} passes: nothing to hint."),
        Lang::Ko => format!("실습 {lab}의 모든 과제를 통과했습니다: 줄 힌트가 없습니다."),
    }
}

/// A task asks for a value the student has not recorded.
pub fn no_answer(lang: Lang, lab: u32, key: &str) -> String {
    match lang {
        Lang::En => format!("no answer recorded yet: run `pier lab answer {lab} {key} VALUE`"),
        Lang::Ko => {
            format!("아직 기록한 답이 없습니다: `pier lab answer {lab} {key} VALUE`를 실행하세요")
        }
    }
}

/// `pier lab answer` with a key the lab does not ask for.
pub fn unknown_answer_key(lang: Lang, lab: u32, key: &str, keys: &[&str]) -> String {
    match (lang, keys.is_empty()) {
        (Lang::En, true) => {
            format!("lab {lab} asks for no answer called {key:?}; it asks for: nothing")
        }
        (Lang::En, false) => format!(
            "lab {lab} asks for no answer called {key:?}; it asks for: {}",
            keys.join(", ")
        ),
        (Lang::Ko, true) => {
            format!(
                "실습 {lab}에는 {} 답이 없습니다. 이 실습은 답을 묻지 않습니다",
                josa(&format!("{key:?}"), Josa::IraneunRaneun)
            )
        }
        (Lang::Ko, false) => format!(
            "실습 {lab}에는 {} 답이 없습니다. 묻는 답: {}",
            josa(&format!("{key:?}"), Josa::IraneunRaneun),
            keys.join(", ")
        ),
    }
}

/// `pier lab answer`: the value is recorded.
pub fn recorded(lang: Lang, lab: u32, key: &str, value: &str) -> String {
    match lang {
        Lang::En => format!(
            "Recorded {key} = {value} for lab {lab}; `pier lab check {lab}` compares it with the real value."
        ),
        Lang::Ko => format!(
            "실습 {lab}의 {key} = {} 기록했습니다. `pier lab check {lab}`가 실제 값과 비교합니다.",
            josa(value, Josa::EulReul)
        ),
    }
}

/// An event the task needs happened before `pier lab start N` (an earlier attempt).
pub fn before_start(lang: Lang, lab: u32) -> String {
    match lang {
        Lang::En => format!("(only what happened after the last `pier lab start {lab}` counts)"),
        Lang::Ko => format!("(마지막 `pier lab start {lab}` 이후에 일어난 일만 인정됩니다)"),
    }
}

/// `pier lab start N`: the lab is prepared.
pub fn ready(lang: Lang, lab: u32, title: &str, slug: &str) -> String {
    match lang {
        Lang::En => format!(
            "Lab {lab} is ready: {title}.\nFollow labs/{slug}/lab.md (or the book); check your work with `pier lab check {lab}`."
        ),
        Lang::Ko => format!(
            "실습 {lab} 준비 완료: {title}.\nlabs/{slug}/lab.ko.md(또는 한국어 책)를 따라 하고, `pier lab check {lab}`로 확인하세요."
        ),
    }
}

/// `pier lab reset N`: one object removed.
pub fn removed(lang: Lang, what: &str) -> String {
    match lang {
        Lang::En => format!("Removed {what}"),
        Lang::Ko => format!("삭제함: {what}"),
    }
}

/// `pier lab reset N`: done.
pub fn reset_done(lang: Lang, lab: u32) -> String {
    match lang {
        Lang::En => format!("Lab {lab} is reset: nothing of it is left."),
        Lang::Ko => format!(
            "{} 초기화했습니다: 남은 것이 없습니다.",
            josa(&format!("실습 {lab}"), Josa::EulReul)
        ),
    }
}

/// `pier lab list`: a lab's status column.
pub fn status(lang: Lang, score: Option<(usize, usize)>, started: bool) -> String {
    match (lang, score) {
        (Lang::En, Some((a, b))) if a == b => "done".into(),
        (Lang::En, Some((a, b))) => format!("started, {a}/{b}"),
        (Lang::En, None) if started => "started".into(),
        (Lang::Ko, Some((a, b))) if a == b => "완료".into(),
        (Lang::Ko, Some((a, b))) => format!("진행 중, {a}/{b}"),
        (Lang::Ko, None) if started => "진행 중".into(),
        (_, None) => String::new(),
    }
}

/// `pier lab list`: the status of a lab whose feature this build lacks.
pub fn pending(lang: Lang, feature: &str) -> String {
    match lang {
        Lang::En => format!("pending: needs {feature} (not in this build)"),
        Lang::Ko => format!("대기 중: {feature} 필요 (이 빌드에는 없음)"),
    }
}

/// `pier lab start/check N` on a lab whose feature this build lacks.
pub fn pending_lab(lang: Lang, lab: u32, feature: &str) -> String {
    match lang {
        Lang::En => format!(
            "lab {lab} needs {feature}, which this build of pier does not have yet (`pier lab list` shows it as pending)"
        ),
        Lang::Ko => format!(
            "실습 {lab}에는 {} 필요한데, 이 pier 빌드에는 아직 없습니다 (`pier lab list`에 대기 중으로 표시됩니다)",
            josa(feature, Josa::IGa)
        ),
    }
}

/// Whether `s` holds Hangul (syllables or jamo).
pub fn has_hangul(s: &str) -> bool {
    s.chars()
        .any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c) || ('\u{1100}'..='\u{11FF}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of the catalog, rendered in one language.
    fn all(lang: Lang) -> Vec<String> {
        vec![
            parent_failed(lang, "t", "T", "p"),
            no_such_lab(lang, 16, 15),
            score(lang, 1, 2),
            hint_pointer(lang, 3),
            hint(lang, "t", "T", "H", "W"),
            nothing_to_hint(lang, 3),
            no_answer(lang, 3, "k"),
            unknown_answer_key(lang, 3, "k", &["a", "b"]),
            unknown_answer_key(lang, 3, "k", &[]),
            recorded(lang, 3, "k", "v"),
            before_start(lang, 3),
            ready(lang, 3, "T", "03-cgroups"),
            removed(lang, "x"),
            reset_done(lang, 3),
            status(lang, Some((1, 2)), true),
            status(lang, Some((2, 2)), true),
            status(lang, None, true),
            pending(lang, "`pier compose`"),
            pending_lab(lang, 15, "`pier compose`"),
        ]
    }

    #[test]
    fn particles_fit_the_word_they_follow() {
        assert_eq!(josa("실습 14", Josa::EulReul), "실습 14를");
        assert_eq!(josa("실습 13", Josa::EulReul), "실습 13을");
        assert_eq!(
            josa("`pier lab hint 13`", Josa::IGa),
            "`pier lab hint 13`이"
        );
        assert_eq!(
            josa("`pier lab hint 12`", Josa::IGa),
            "`pier lab hint 12`가"
        );
        assert_eq!(josa("컨테이너", Josa::EunNeun), "컨테이너는");
        assert_eq!(josa("볼륨", Josa::EunNeun), "볼륨은");
        assert_eq!(josa("파일", Josa::EuroRo), "파일로");
        assert_eq!(josa("이미지", Josa::EuroRo), "이미지로");
        assert_eq!(josa("네임스페이스", Josa::GwaWa), "네임스페이스와");
        assert_eq!(josa("cgroup", Josa::GwaWa), "cgroup과");
        assert_eq!(josa("\"capeff\"", Josa::IraneunRaneun), "\"capeff\"라는");
        assert_eq!(josa("경로", Josa::EuroRo), "경로로");
        assert_eq!(josa("방법", Josa::EuroRo), "방법으로");
        assert_eq!(josa("host", Josa::EulReul), "host를");
        assert_eq!(josa("lab6-host", Josa::IraneunRaneun), "lab6-host라는");
        assert_eq!(josa("log.txt", Josa::IGa), "log.txt가");
        assert_eq!(josa("root", Josa::EuroRo), "root로");
        assert_eq!(josa("commit", Josa::IGa), "commit이");
        assert_eq!(josa("lab", Josa::IGa), "lab이");
        assert_eq!(josa("disk", Josa::IGa), "disk가");
        assert_eq!(josa("stack", Josa::IGa), "stack이");
        assert_eq!(josa("tag", Josa::IGa), "tag가");
        assert_eq!(josa("ping", Josa::IGa), "ping이");
        assert_eq!(josa("pier", Josa::IGa), "pier가");
        assert_eq!(josa("CapEff", Josa::IGa), "CapEff가");
    }

    #[test]
    fn every_message_exists_in_both_languages() {
        for (en, ko) in all(Lang::En).iter().zip(all(Lang::Ko)) {
            assert!(!has_hangul(en), "English message in Korean: {en}");
            assert!(has_hangul(&ko), "Korean message not in Korean: {ko}");
            // Commands and values stay as they are.
            for word in en.split('`').skip(1).step_by(2) {
                assert!(ko.contains(word), "{ko:?} lacks `{word}`");
            }
            // The Korean messages point at the Korean text.
            assert!(!ko.contains("lab.md"), "{ko:?} points at the English text");
        }
        assert_eq!(status(Lang::Ko, None, false), "");
    }

    #[test]
    fn the_locale_picks_the_language() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Lang::from_vars(env(&[])), Lang::En);
        assert_eq!(Lang::from_vars(env(&[("LANG", "ko_KR.UTF-8")])), Lang::Ko);
        assert_eq!(Lang::from_vars(env(&[("LC_MESSAGES", "ko_KR")])), Lang::Ko);
        assert_eq!(Lang::from_vars(env(&[("PIER_LANG", "ko")])), Lang::Ko);
        // LC_ALL overrides LANG, as in POSIX; PIER_LANG overrides both.
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", "C.UTF-8"), ("LANG", "ko_KR.UTF-8")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_vars(env(&[("PIER_LANG", "en"), ("LANG", "ko_KR.UTF-8")])),
            Lang::En
        );
        assert_eq!(Lang::from_vars(env(&[("LANG", "")])), Lang::En);
    }
}
