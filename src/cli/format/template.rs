//! The part of Go's text/template that Docker's `--format` is used with, over JSON values:
//! `{{.Field.Sub}}`, `{{json .Config}}`, `{{.Label "k"}}`, `{{range}}`, `{{if}}/{{else}}`,
//! `{{$v}}` in a range, pipes (`{{.Names | upper}}`) and Docker's functions (json, join,
//! split, upper, lower, title, truncate, pad, len, index, eq, ne, not, and, or, printf).
//!
//! Why not a crate: `gtmpl` (the Rust port of text/template) has had no release since 2021,
//! works on its own value type, and words errors its own way; Docker users expect Go's
//! `template: :1:2: executing "" at <.Foo>: can't evaluate field Foo`. The subset is small.

use serde_json::Value;
use std::fmt;

/// A template error, worded as Go's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

type Result<T> = std::result::Result<T, TemplateError>;

/// Where a node starts: 1-based line, 0-based byte column (as Go reports it).
#[derive(Debug, Clone, Copy)]
struct Pos {
    line: usize,
    col: usize,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (var `None`) or `$x.A.B`; `path` empty for `.` and `$x` themselves.
    Field {
        var: Option<String>,
        path: Vec<String>,
        text: String,
        pos: Pos,
    },
    Str(String),
    Int(i64),
    Bool(bool),
    /// A function name.
    Func(String, Pos),
    /// `( pipeline )`.
    Sub(Pipe),
}

#[derive(Debug, Clone)]
struct Pipe {
    /// Commands joined by `|`; each is its arguments.
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Print(Pipe),
    If {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        vars: Vec<String>,
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: &[&str] = &[
    "json", "join", "split", "upper", "lower", "title", "truncate", "pad", "len", "index", "eq",
    "ne", "not", "and", "or", "printf", "print", "println",
];

impl Template {
    /// Parses `text`; errors name the line, as Go's parser does.
    pub fn parse(text: &str) -> Result<Template> {
        let items = split_actions(text)?;
        let mut p = Parser { items, at: 0 };
        let (nodes, end) = p.nodes()?;
        match end {
            None => Ok(Template { nodes }),
            Some((word, pos)) => Err(TemplateError(format!(
                "template: :{}: unexpected {{{{{word}}}}}",
                pos.line
            ))),
        }
    }

    /// Renders the template with `dot` as `.`.
    pub fn render(&self, dot: &Value) -> Result<String> {
        let mut out = String::new();
        let mut ctx = Ctx {
            root: dot,
            vars: Vec::new(),
        };
        exec(&self.nodes, dot, &mut ctx, &mut out)?;
        Ok(out)
    }
}

/// Text or one action's inside, with its position.
enum Item {
    Text(String),
    Action(String, Pos),
}

/// Cuts the text into literal text and `{{ ... }}` actions, applying `{{-` and `-}}` trimming.
fn split_actions(text: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_before = after.starts_with("- ") || after.starts_with("-\t");
        if trim_before {
            literal = literal.trim_end();
        }
        if !literal.is_empty() {
            items.push(Item::Text(literal.to_string()));
        }
        let action_start = offset + start + 2;
        let pos = position(text, action_start);
        let Some(end) = after.find("}}") else {
            return Err(TemplateError(format!(
                "template: :{}: unclosed action",
                pos.line
            )));
        };
        let mut inner = &after[..end];
        trim_next = inner.ends_with(" -") || inner.ends_with("\t-");
        if trim_next {
            inner = &inner[..inner.len() - 1];
        }
        let (inner, skipped) = if trim_before {
            (&inner[1..], 1)
        } else {
            (inner, 0)
        };
        let pos = position(text, action_start + skipped);
        items.push(Item::Action(inner.to_string(), pos));
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    let mut literal = rest;
    if trim_next {
        literal = literal.trim_start();
    }
    if !literal.is_empty() {
        items.push(Item::Text(literal.to_string()));
    }
    Ok(items)
}

fn position(text: &str, byte: usize) -> Pos {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|n| byte - n - 1).unwrap_or(byte);
    Pos { line, col }
}

struct Parser {
    items: Vec<Item>,
    at: usize,
}

/// The `{{end}}` or `{{else ...}}` (its text) that closed a list of nodes, and where.
type Closer = Option<(String, Pos)>;

impl Parser {
    /// Nodes up to an `{{else}}`/`{{end}}` (returned) or the end of input (`None`).
    fn nodes(&mut self) -> Result<(Vec<Node>, Closer)> {
        let mut nodes = Vec::new();
        while self.at < self.items.len() {
            let item = &self.items[self.at];
            self.at += 1;
            let (inner, pos) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action(inner, pos) => (inner.clone(), *pos),
            };
            let trimmed = inner.trim();
            if trimmed.starts_with("/*") {
                continue;
            }
            let tokens = lex(&inner, pos)?;
            let Some(first) = tokens.first() else {
                return Err(TemplateError(format!(
                    "template: :{}: missing value for command",
                    pos.line
                )));
            };
            match first.text.as_str() {
                "end" => return Ok((nodes, Some(("end".into(), pos)))),
                "else" => {
                    // `{{else if ...}}` continues as a nested if: keep the rest for the caller.
                    return Ok((nodes, Some((inner.trim().to_string(), pos))));
                }
                "if" => nodes.push(self.if_node(&tokens[1..], pos)?),
                "range" => {
                    let (vars, rest) = range_vars(&tokens[1..], pos)?;
                    let pipe = pipeline(rest, pos)?;
                    let (body, end) = self.nodes()?;
                    let otherwise = self.else_branch(end, pos, "range")?;
                    nodes.push(Node::Range {
                        vars,
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "with" | "define" | "template" | "block" => {
                    return Err(TemplateError(format!(
                        "template: :{}: {{{{{}}}}} is not supported by pier's --format",
                        pos.line, first.text
                    )))
                }
                _ => nodes.push(Node::Print(pipeline(&tokens, pos)?)),
            }
        }
        Ok((nodes, None))
    }

    fn if_node(&mut self, tokens: &[Token], pos: Pos) -> Result<Node> {
        let pipe = pipeline(tokens, pos)?;
        let (then, end) = self.nodes()?;
        let otherwise = self.else_branch(end, pos, "if")?;
        Ok(Node::If {
            pipe,
            then,
            otherwise,
        })
    }

    /// After a body: `{{end}}` (no else), `{{else}} ... {{end}}`, or `{{else if ...}}`.
    fn else_branch(&mut self, end: Closer, start: Pos, what: &str) -> Result<Vec<Node>> {
        match end {
            None => Err(TemplateError(format!(
                "template: :{}: unexpected EOF: {{{{{what}}}}} has no {{{{end}}}}",
                start.line
            ))),
            Some((word, _)) if word == "end" => Ok(Vec::new()),
            Some((word, pos)) => {
                let rest = word["else".len()..].trim();
                if rest.is_empty() {
                    let (nodes, end) = self.nodes()?;
                    match end {
                        Some((w, _)) if w == "end" => Ok(nodes),
                        _ => Err(TemplateError(format!(
                            "template: :{}: expected {{{{end}}}} after {{{{else}}}}",
                            pos.line
                        ))),
                    }
                } else if let Some(cond) = rest.strip_prefix("if ") {
                    let tokens = lex(cond, pos)?;
                    Ok(vec![self.if_node(&tokens, pos)?])
                } else {
                    Err(TemplateError(format!(
                        "template: :{}: unexpected {{{{{word}}}}}",
                        pos.line
                    )))
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    pos: Pos,
    /// A quoted string's value.
    string: Option<String>,
}

/// Splits an action into words, strings, `|`, `(`, `)`, `,` and `:=`.
fn lex(inner: &str, start: Pos) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = inner.char_indices().collect();
    let mut i = 0;
    let at = |byte: usize| Pos {
        line: start.line,
        col: start.col + byte,
    };
    while i < chars.len() {
        let (b, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' || c == '`' {
            let mut value = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < chars.len() {
                let (_, d) = chars[j];
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' && c == '"' && j + 1 < chars.len() {
                    j += 1;
                    value.push(match chars[j].1 {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    value.push(d);
                }
                j += 1;
            }
            if !closed {
                return Err(TemplateError(format!(
                    "template: :{}: unterminated quoted string",
                    start.line
                )));
            }
            let end = chars[j].0 + 1;
            out.push(Token {
                text: inner[b..end].to_string(),
                pos: at(b),
                string: Some(value),
            });
            i = j + 1;
            continue;
        }
        if matches!(c, '|' | '(' | ')' | ',') {
            out.push(Token {
                text: c.to_string(),
                pos: at(b),
                string: None,
            });
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && !chars[j].1.is_whitespace() && !"|(),\"`".contains(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map(|x| x.0).unwrap_or(inner.len());
        out.push(Token {
            text: inner[b..end].to_string(),
            pos: at(b),
            string: None,
        });
        i = j;
    }
    Ok(out)
}

/// `$v :=` or `$k, $v :=` at the start of a range.
fn range_vars(tokens: &[Token], pos: Pos) -> Result<(Vec<String>, &[Token])> {
    if let Some(decl) = tokens.iter().position(|t| t.text == ":=") {
        let vars: Vec<String> = tokens[..decl]
            .iter()
            .filter(|t| t.text != ",")
            .map(|t| t.text.clone())
            .collect();
        if vars.is_empty() || vars.len() > 2 || vars.iter().any(|v| !v.starts_with('$')) {
            return Err(TemplateError(format!(
                "template: :{}: range can only declare $value or $key, $value",
                pos.line
            )));
        }
        return Ok((vars, &tokens[decl + 1..]));
    }
    Ok((Vec::new(), tokens))
}

fn pipeline(tokens: &[Token], pos: Pos) -> Result<Pipe> {
    let mut cmds = Vec::new();
    let mut i = 0;
    let mut current = Vec::new();
    while i < tokens.len() {
        let t = &tokens[i];
        match t.text.as_str() {
            "|" => {
                if current.is_empty() {
                    return Err(TemplateError(format!(
                        "template: :{}: missing command before |",
                        pos.line
                    )));
                }
                cmds.push(std::mem::take(&mut current));
            }
            "(" => {
                let mut depth = 0;
                let mut j = i;
                loop {
                    match tokens.get(j).map(|t| t.text.as_str()) {
                        Some("(") => depth += 1,
                        Some(")") => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        None => {
                            return Err(TemplateError(format!(
                                "template: :{}: unclosed left paren",
                                pos.line
                            )))
                        }
                        _ => {}
                    }
                    j += 1;
                }
                current.push(Arg::Sub(pipeline(&tokens[i + 1..j], pos)?));
                i = j;
            }
            ")" => {
                return Err(TemplateError(format!(
                    "template: :{}: unexpected right paren",
                    pos.line
                )))
            }
            _ => current.push(operand(t)?),
        }
        i += 1;
    }
    if current.is_empty() {
        return Err(TemplateError(format!(
            "template: :{}: missing value for command",
            pos.line
        )));
    }
    cmds.push(current);
    Ok(Pipe { cmds })
}

fn operand(t: &Token) -> Result<Arg> {
    if let Some(s) = &t.string {
        return Ok(Arg::Str(s.clone()));
    }
    let text = t.text.as_str();
    if text == "true" || text == "false" {
        return Ok(Arg::Bool(text == "true"));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Ok(Arg::Int(n));
    }
    let (var, fields) = if let Some(rest) = text.strip_prefix('$') {
        let (name, fields) = match rest.find('.') {
            Some(dot) => (&rest[..dot], &rest[dot..]),
            None => (rest, ""),
        };
        (Some(format!("${name}")), fields)
    } else if text.starts_with('.') {
        (None, text)
    } else if FUNCS.contains(&text) {
        return Ok(Arg::Func(text.to_string(), t.pos));
    } else {
        return Err(TemplateError(format!(
            "template: :{}: function \"{text}\" not defined",
            t.pos.line
        )));
    };
    let path: Vec<String> = fields
        .split('.')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Arg::Field {
        var,
        path,
        text: text.to_string(),
        pos: t.pos,
    })
}

struct Ctx<'a> {
    root: &'a Value,
    vars: Vec<(String, Value)>,
}

fn exec(nodes: &[Node], dot: &Value, ctx: &mut Ctx, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(pipe) => out.push_str(&print(&eval_pipe(pipe, dot, ctx)?)),
            Node::If {
                pipe,
                then,
                otherwise,
            } => {
                let branch = if truthy(&eval_pipe(pipe, dot, ctx)?) {
                    then
                } else {
                    otherwise
                };
                exec(branch, dot, ctx, out)?;
            }
            Node::Range {
                vars,
                pipe,
                body,
                otherwise,
            } => {
                let items: Vec<(Value, Value)> = match eval_pipe(pipe, dot, ctx)? {
                    Value::Array(a) => a
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v))
                        .collect(),
                    Value::Object(m) => m.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(TemplateError(format!(
                            "template: :1: range can't iterate over {}",
                            print(&other)
                        )))
                    }
                };
                if items.is_empty() {
                    exec(otherwise, dot, ctx, out)?;
                }
                for (key, value) in items {
                    let saved = ctx.vars.len();
                    match vars.as_slice() {
                        [v] => ctx.vars.push((v.clone(), value.clone())),
                        [k, v] => {
                            ctx.vars.push((k.clone(), key));
                            ctx.vars.push((v.clone(), value.clone()));
                        }
                        _ => {}
                    }
                    let result = exec(body, &value, ctx, out);
                    ctx.vars.truncate(saved);
                    result?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipe(pipe: &Pipe, dot: &Value, ctx: &Ctx) -> Result<Value> {
    let mut piped: Option<Value> = None;
    for cmd in &pipe.cmds {
        piped = Some(eval_cmd(cmd, dot, ctx, piped)?);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn eval_cmd(cmd: &[Arg], dot: &Value, ctx: &Ctx, piped: Option<Value>) -> Result<Value> {
    let mut args = Vec::new();
    for a in &cmd[1..] {
        args.push(eval_arg(a, dot, ctx)?);
    }
    if let Some(p) = piped {
        args.push(p);
    }
    match &cmd[0] {
        Arg::Func(name, pos) => call(name, &args, *pos),
        Arg::Field {
            var,
            path,
            text,
            pos,
        } if !args.is_empty() && !path.is_empty() => {
            // A method call such as `.Label "com.example"`: the field holds a map.
            let owner = field(
                var.as_deref(),
                &path[..path.len() - 1],
                text,
                *pos,
                dot,
                ctx,
            )?;
            let method = &path[path.len() - 1];
            match owner.get(method) {
                Some(Value::Object(m)) => Ok(args
                    .first()
                    .and_then(Value::as_str)
                    .and_then(|k| m.get(k))
                    .cloned()
                    .unwrap_or(Value::String(String::new()))),
                // Table headers: the header text, whatever the argument.
                Some(v @ Value::String(_)) => Ok(v.clone()),
                _ => Err(cant_evaluate(text, method, &owner, *pos)),
            }
        }
        first if args.is_empty() => eval_arg(first, dot, ctx),
        Arg::Field { text, pos, .. } => Err(TemplateError(format!(
            "template: :{}:{}: executing \"\" at <{text}>: {text} is not a method but has arguments",
            pos.line, pos.col
        ))),
        _ => Err(TemplateError(
            "template: :1: can't give argument to non-function".into(),
        )),
    }
}

fn eval_arg(a: &Arg, dot: &Value, ctx: &Ctx) -> Result<Value> {
    match a {
        Arg::Field {
            var,
            path,
            text,
            pos,
        } => field(var.as_deref(), path, text, *pos, dot, ctx),
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Int(n) => Ok(Value::from(*n)),
        Arg::Bool(b) => Ok(Value::Bool(*b)),
        Arg::Func(name, pos) => call(name, &[], *pos),
        Arg::Sub(p) => eval_pipe(p, dot, ctx),
    }
}

fn field(
    var: Option<&str>,
    path: &[String],
    text: &str,
    pos: Pos,
    dot: &Value,
    ctx: &Ctx,
) -> Result<Value> {
    let mut v = match var {
        None => dot.clone(),
        Some("$") => ctx.root.clone(),
        Some(name) => ctx
            .vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                TemplateError(format!(
                    "template: :{}: undefined variable \"{name}\"",
                    pos.line
                ))
            })?,
    };
    for name in path {
        v = match v.get(name.as_str()) {
            Some(next) => next.clone(),
            None => return Err(cant_evaluate(text, name, &v, pos)),
        };
    }
    Ok(v)
}

fn cant_evaluate(text: &str, name: &str, owner: &Value, pos: Pos) -> TemplateError {
    let in_type = match owner {
        Value::Object(_) => String::new(),
        other => format!(" in type {}", type_name(other)),
    };
    TemplateError(format!(
        "template: :{}:{}: executing \"\" at <{text}>: can't evaluate field {name}{in_type}",
        pos.line, pos.col
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%v` of a JSON value.
pub fn print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn call(name: &str, args: &[Value], pos: Pos) -> Result<Value> {
    let wrong = |want: &str| {
        TemplateError(format!(
            "template: :{}:{}: executing \"\" at <{name}>: wrong number of args for {name}: want {want} got {}",
            pos.line,
            pos.col,
            args.len()
        ))
    };
    let s = |i: usize| args.get(i).map(print).unwrap_or_default();
    Ok(match name {
        "json" => {
            let [v] = args else { return Err(wrong("1")) };
            Value::String(serde_json::to_string(v).unwrap_or_default())
        }
        "join" => {
            let [list, sep] = args else {
                return Err(wrong("2"));
            };
            let items: Vec<String> = match list {
                Value::Array(a) => a.iter().map(print).collect(),
                other => vec![print(other)],
            };
            Value::String(items.join(&print(sep)))
        }
        "split" => {
            let [text, sep] = args else {
                return Err(wrong("2"));
            };
            Value::Array(
                print(text)
                    .split(&print(sep))
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )
        }
        "upper" | "lower" | "title" => {
            let [_] = args else { return Err(wrong("1")) };
            let t = s(0);
            Value::String(match name {
                "upper" => t.to_uppercase(),
                "lower" => t.to_lowercase(),
                _ => t
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            })
        }
        "truncate" => {
            let [_, n] = args else { return Err(wrong("2")) };
            let n = n.as_u64().unwrap_or(0) as usize;
            Value::String(s(0).chars().take(n).collect())
        }
        "pad" => {
            let [_, before, after] = args else {
                return Err(wrong("3"));
            };
            let b = " ".repeat(before.as_u64().unwrap_or(0) as usize);
            let a = " ".repeat(after.as_u64().unwrap_or(0) as usize);
            Value::String(format!("{b}{}{a}", s(0)))
        }
        "len" => {
            let [v] = args else { return Err(wrong("1")) };
            Value::from(match v {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(t) => t.len(),
                other => {
                    return Err(TemplateError(format!(
                    "template: :{}:{}: executing \"\" at <len>: error calling len: len of type {}",
                    pos.line,
                    pos.col,
                    type_name(other)
                )))
                }
            })
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err(wrong("at least 1"));
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Object(m), Value::String(key)) => {
                        m.get(key).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .ok_or_else(|| {
                            TemplateError(format!(
                                "template: :{}:{}: executing \"\" at <index>: error calling index: index out of range: {n}",
                                pos.line, pos.col
                            ))
                        })?,
                    _ => {
                        return Err(TemplateError(format!(
                            "template: :{}:{}: executing \"\" at <index>: error calling index: cannot index {} with {}",
                            pos.line,
                            pos.col,
                            type_name(&v),
                            type_name(k)
                        )))
                    }
                };
            }
            v
        }
        "eq" | "ne" => {
            let [a, rest @ ..] = args else {
                return Err(wrong("at least 2"));
            };
            if rest.is_empty() {
                return Err(wrong("at least 2"));
            }
            let equal = rest.iter().any(|b| print(a) == print(b));
            Value::Bool(if name == "eq" { equal } else { !equal })
        }
        "not" => {
            let [v] = args else { return Err(wrong("1")) };
            Value::Bool(!truthy(v))
        }
        "and" => args
            .iter()
            .find(|v| !truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|v| truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "print" => Value::String(args.iter().map(print).collect::<Vec<_>>().join(" ")),
        "println" => Value::String(args.iter().map(print).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err(wrong("at least 1"));
            };
            Value::String(printf(&print(fmt), rest))
        }
        _ => unreachable!("FUNCS lists every function"),
    })
}

/// `printf` with `%s`, `%v`, `%d`, `%q` and `%%` (what `--format` strings use).
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&format!("{:?}", args.next().map(print).unwrap_or_default())),
            Some(verb) => match args.next() {
                Some(v) => out.push_str(&print(v)),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> std::result::Result<String, String> {
        Template::parse(t)
            .and_then(|t| t.render(v))
            .map_err(|e| e.0)
    }

    fn doc() -> Value {
        json!({
            "Names": "web",
            "State": {"Pid": 4242, "Running": true, "ExitCode": 0},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"tier": "front", "app": "shop"}},
            "Label": {"tier": "front"},
            "Empty": [],
        })
    }

    #[test]
    fn fields_and_nested_fields() {
        assert_eq!(render("{{.Names}}", &doc()).unwrap(), "web");
        assert_eq!(render("pid={{.State.Pid}}!", &doc()).unwrap(), "pid=4242!");
        assert_eq!(render("{{ .State.Running }}", &doc()).unwrap(), "true");
        assert_eq!(render("{{.}}", &json!("x")).unwrap(), "x");
    }

    #[test]
    fn json_and_go_printing() {
        assert_eq!(
            render("{{json .Config.Env}}", &doc()).unwrap(),
            r#"["A=1","B=2"]"#
        );
        assert_eq!(render("{{.Config.Env}}", &doc()).unwrap(), "[A=1 B=2]");
        assert_eq!(
            render("{{.Config.Labels}}", &doc()).unwrap(),
            "map[app:shop tier:front]"
        );
        assert_eq!(
            render("{{.State | json}}", &doc()).unwrap(),
            r#"{"ExitCode":0,"Pid":4242,"Running":true}"#
        );
    }

    #[test]
    fn range_with_and_without_variables() {
        assert_eq!(
            render("{{range .Config.Env}}[{{.}}]{{end}}", &doc()).unwrap(),
            "[A=1][B=2]"
        );
        assert_eq!(
            render(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                &doc()
            )
            .unwrap(),
            "app=shop;tier=front;"
        );
        assert_eq!(
            render("{{range .Empty}}x{{else}}none{{end}}", &doc()).unwrap(),
            "none"
        );
        assert_eq!(
            render("{{range .Config.Env}}{{$.Names}} {{end}}", &doc()).unwrap(),
            "web web "
        );
    }

    #[test]
    fn if_else_and_comparisons() {
        let t = "{{if .State.Running}}up{{else}}down{{end}}";
        assert_eq!(render(t, &doc()).unwrap(), "up");
        assert_eq!(
            render(t, &json!({"State": {"Running": false}})).unwrap(),
            "down"
        );
        assert_eq!(
            render(
                r#"{{if eq .Names "db"}}db{{else if eq .Names "web"}}w{{else}}?{{end}}"#,
                &doc()
            )
            .unwrap(),
            "w"
        );
        assert_eq!(
            render("{{if not .Empty}}empty{{end}}", &doc()).unwrap(),
            "empty"
        );
    }

    #[test]
    fn docker_functions() {
        assert_eq!(
            render(r#"{{join .Config.Env ","}}"#, &doc()).unwrap(),
            "A=1,B=2"
        );
        assert_eq!(render("{{.Names | upper}}", &doc()).unwrap(), "WEB");
        assert_eq!(render("{{len .Config.Env}}", &doc()).unwrap(), "2");
        assert_eq!(
            render(r#"{{index .Config.Labels "tier"}}"#, &doc()).unwrap(),
            "front"
        );
        assert_eq!(render(r#"{{.Label "tier"}}"#, &doc()).unwrap(), "front");
        assert_eq!(render(r#"{{.Label "nope"}}"#, &doc()).unwrap(), "");
        assert_eq!(
            render(r#"{{printf "%s:%d" .Names .State.Pid}}"#, &doc()).unwrap(),
            "web:4242"
        );
    }

    #[test]
    fn whitespace_trimming_and_comments() {
        assert_eq!(
            render("a  {{- .Names -}}  b{{/* note */}}", &doc()).unwrap(),
            "awebb"
        );
    }

    #[test]
    fn unknown_field_is_named_as_docker_does() {
        assert_eq!(
            render("{{.Foo}}", &doc()).unwrap_err(),
            "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo"
        );
        assert_eq!(
            render("x {{.State.Nope}}", &doc()).unwrap_err(),
            "template: :1:4: executing \"\" at <.State.Nope>: can't evaluate field Nope"
        );
        assert_eq!(
            render("{{.Names.Foo}}", &doc()).unwrap_err(),
            "template: :1:2: executing \"\" at <.Names.Foo>: can't evaluate field Foo in type string"
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            render("{{.Names", &doc()).unwrap_err(),
            "template: :1: unclosed action"
        );
        assert_eq!(
            render("{{nope .Names}}", &doc()).unwrap_err(),
            "template: :1: function \"nope\" not defined"
        );
        assert!(render("{{if .Names}}x", &doc())
            .unwrap_err()
            .contains("unexpected EOF"));
        assert!(render("{{end}}", &doc())
            .unwrap_err()
            .contains("unexpected {{end}}"));
    }
}
