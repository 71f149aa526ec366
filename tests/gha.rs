//! GitHub Actions expressions (`${{ … }}`), as the runner parses and
//! evaluates them: literals, property and index access, `!`, comparisons
//! (loose equality, case-insensitive strings), `&&` / `||` returning an
//! operand, and the built-in functions. Each place an expression may appear
//! allows a set of contexts and functions; anything else is an error here,
//! where the runner would fail the step or the workflow.
//!
//! Grammar and semantics: <https://docs.github.com/en/actions/reference/evaluate-expressions-in-workflows-and-actions>
//! and the context-availability table in the contexts reference.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Literal(Value),
    Context(String),
    Property(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string in `{text}`")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Str(s));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let literal: String = chars[start..i].iter().collect();
            let number = match literal.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).map(|n| n as f64).ok(),
                None => literal.parse().ok(),
            };
            tokens.push(Token::Num(number.ok_or_else(|| format!("bad number `{literal}`"))?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-')
            {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let punct = ["==", "!=", "<=", ">=", "&&", "||"].into_iter().find(|p| *p == two).or_else(|| {
                ["(", ")", "[", "]", ".", ",", "!", "<", ">", "*"].into_iter().find(|p| p.starts_with(c))
            });
            let punct = punct.ok_or_else(|| format!("unexpected `{c}` in `{text}`"))?;
            i += punct.len();
            tokens.push(Token::Punct(punct));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Some(Token::Punct(p)) if *p == punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), String> {
        if self.eat(punct) { Ok(()) } else { Err(format!("expected `{punct}`, found {:?}", self.peek())) }
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: [&[(&str, Op)]; 4] = [
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[("==", Op::Eq), ("!=", Op::Ne)],
            &[("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        'outer: loop {
            for (punct, op) in LEVELS[level] {
                if self.eat(punct) {
                    let right = self.binary(level + 1)?;
                    left = Expr::Binary(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        let mut expr = self.primary()?;
        loop {
            if self.eat(".") {
                match self.tokens.get(self.at).cloned() {
                    Some(Token::Ident(name)) => {
                        self.at += 1;
                        expr = Expr::Property(Box::new(expr), name);
                    }
                    Some(Token::Punct("*")) => {
                        return Err("object filters (`.*`) are not supported here".into());
                    }
                    other => return Err(format!("expected a property name after `.`, found {other:?}")),
                }
            } else if self.eat("[") {
                let index = self.binary(0)?;
                self.expect("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("unexpected end of expression")?;
        self.at += 1;
        match token {
            Token::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Token::Num(n) => Ok(Expr::Literal(number(n))),
            Token::Punct("(") => {
                let inner = self.binary(0)?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Ident(name) => match name.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "null" => Ok(Expr::Literal(Value::Null)),
                _ if self.eat("(") => {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.binary(0)?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Ok(Expr::Call(name, args))
                }
                _ => Ok(Expr::Context(name)),
            },
            Token::Punct(p) => Err(format!("unexpected `{p}`")),
        }
    }
}

fn parse(text: &str) -> Result<Expr, String> {
    let mut parser = Parser { tokens: tokenize(text)?, at: 0 };
    let expr = parser.binary(0)?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {token:?} after a complete expression in `{text}`")),
    }
}

fn number(n: f64) -> Value {
    serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
}

const STATUS_FUNCTIONS: [&str; 4] = ["success", "always", "cancelled", "failure"];

/// Where an expression sits: the contexts and functions the runner offers
/// there.
#[derive(Debug, Clone)]
pub struct Place {
    pub contexts: &'static [&'static str],
    /// `success()`, `always()`, `failure()`, `cancelled()`: only in `if`.
    pub status_functions: bool,
    pub hash_files: bool,
}

/// A composite action's steps: `run`, `env`, `with`, `working-directory`,
/// `name`, and the action's `outputs`.
pub const COMPOSITE: Place = Place {
    contexts: &["github", "inputs", "job", "runner", "steps", "strategy", "matrix", "env"],
    status_functions: false,
    hash_files: true,
};
/// A composite action step's `if`.
pub const COMPOSITE_IF: Place = Place { status_functions: true, ..COMPOSITE };
/// A workflow's top-level `env`.
pub const WORKFLOW_ENV: Place =
    Place { contexts: &["github", "secrets", "inputs", "vars"], status_functions: false, hash_files: false };
/// `jobs.<id>.if`.
pub const JOB_IF: Place =
    Place { contexts: &["github", "needs", "vars", "inputs"], status_functions: true, hash_files: false };
/// `jobs.<id>.steps[*]` `with`, `env`, `run`, `name`, `working-directory`.
pub const WORKFLOW_STEP: Place = Place {
    contexts: &[
        "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets", "steps", "inputs",
    ],
    status_functions: false,
    hash_files: true,
};
/// `jobs.<id>.steps[*].if`: as a step's other keys, without `secrets`.
pub const WORKFLOW_STEP_IF: Place = Place {
    contexts: &["github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps", "inputs"],
    status_functions: true,
    hash_files: true,
};

fn check(expr: &Expr, place: &Place) -> Result<(), String> {
    match expr {
        Expr::Literal(_) => Ok(()),
        Expr::Context(name) if place.contexts.contains(&name.as_str()) => Ok(()),
        Expr::Context(name) => {
            Err(format!("the `{name}` context is not available here (only {:?})", place.contexts))
        }
        Expr::Property(inner, _) | Expr::Not(inner) => check(inner, place),
        Expr::Index(a, b) | Expr::Binary(a, _, b) => check(a, place).and(check(b, place)),
        Expr::Call(name, args) => {
            let known = match name.as_str() {
                "contains" | "startsWith" | "endsWith" | "join" => (1..=2).contains(&args.len()),
                "format" => !args.is_empty(),
                "toJSON" | "fromJSON" => args.len() == 1,
                "hashFiles" if place.hash_files => !args.is_empty(),
                n if STATUS_FUNCTIONS.contains(&n) && place.status_functions => args.is_empty(),
                _ => return Err(format!("the function `{name}` is not available here")),
            };
            if !known {
                return Err(format!("`{name}` does not take {} argument(s)", args.len()));
            }
            args.iter().try_for_each(|arg| check(arg, place))
        }
    }
}

fn uses_status_function(expr: &Expr) -> bool {
    match expr {
        Expr::Call(name, args) => {
            STATUS_FUNCTIONS.contains(&name.as_str()) || args.iter().any(uses_status_function)
        }
        Expr::Property(inner, _) | Expr::Not(inner) => uses_status_function(inner),
        Expr::Index(a, b) | Expr::Binary(a, _, b) => uses_status_function(a) || uses_status_function(b),
        Expr::Literal(_) | Expr::Context(_) => false,
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn to_number(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if s.trim().is_empty() => 0.0,
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).map(|n| n as f64).unwrap_or(f64::NAN),
                None => s.parse().unwrap_or(f64::NAN),
            }
        }
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// The string a value becomes when interpolated or compared as text.
fn to_text(value: &Value) -> Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            Ok(if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { f.to_string() })
        }
        Value::String(s) => Ok(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            Err("an object or array cannot be used as text (wrap it in toJSON)".into())
        }
    }
}

/// Loose equality: same-typed values compare directly (strings ignoring
/// case); otherwise both sides are converted to numbers.
fn loose_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            std::ptr::eq(a, b)
        }
        _ => to_number(a) == to_number(b),
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        _ => to_number(a).partial_cmp(&to_number(b)),
    }
}

/// What an expression can read while it is evaluated.
pub struct Scope<'a> {
    pub contexts: &'a BTreeMap<&'static str, Value>,
    /// Whether an earlier step failed (`success()` / `failure()`).
    pub failed: bool,
    /// Where `hashFiles` looks.
    pub workspace: &'a std::path::Path,
}

impl Scope<'_> {
    fn eval(&self, expr: &Expr) -> Result<Value, String> {
        Ok(match expr {
            Expr::Literal(v) => v.clone(),
            Expr::Context(name) => self.contexts.get(name.as_str()).cloned().unwrap_or(Value::Null),
            Expr::Property(inner, name) => property(&self.eval(inner)?, name),
            Expr::Index(inner, index) => {
                let target = self.eval(inner)?;
                match (&target, self.eval(index)?) {
                    (Value::Array(items), i) => {
                        let i = to_number(&i);
                        if i >= 0.0 && i.fract() == 0.0 {
                            items.get(i as usize).cloned().unwrap_or(Value::Null)
                        } else {
                            Value::Null
                        }
                    }
                    (_, key) => property(&target, &to_text(&key)?),
                }
            }
            Expr::Not(inner) => Value::Bool(!truthy(&self.eval(inner)?)),
            Expr::Binary(a, Op::And, b) => {
                let left = self.eval(a)?;
                if truthy(&left) { self.eval(b)? } else { left }
            }
            Expr::Binary(a, Op::Or, b) => {
                let left = self.eval(a)?;
                if truthy(&left) { left } else { self.eval(b)? }
            }
            Expr::Binary(a, op, b) => {
                let (left, right) = (self.eval(a)?, self.eval(b)?);
                use std::cmp::Ordering::*;
                Value::Bool(match op {
                    Op::Eq => loose_equal(&left, &right),
                    Op::Ne => !loose_equal(&left, &right),
                    Op::Lt => compare(&left, &right) == Some(Less),
                    Op::Le => matches!(compare(&left, &right), Some(Less | Equal)),
                    Op::Gt => compare(&left, &right) == Some(Greater),
                    Op::Ge => matches!(compare(&left, &right), Some(Greater | Equal)),
                    Op::And | Op::Or => unreachable!("handled above"),
                })
            }
            Expr::Call(name, args) => {
                let args: Vec<Value> = args.iter().map(|a| self.eval(a)).collect::<Result<_, _>>()?;
                self.call(name, &args)?
            }
        })
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let text = |i: usize| args.get(i).map(to_text).unwrap_or(Ok(String::new()));
        Ok(match name {
            "success" => Value::Bool(!self.failed),
            "failure" => Value::Bool(self.failed),
            "always" => Value::Bool(true),
            "cancelled" => Value::Bool(false),
            "contains" => Value::Bool(match &args[0] {
                Value::Array(items) => items.iter().any(|item| loose_equal(item, &args[1])),
                other => to_text(other)?.to_lowercase().contains(&text(1)?.to_lowercase()),
            }),
            "startsWith" => Value::Bool(text(0)?.to_lowercase().starts_with(&text(1)?.to_lowercase())),
            "endsWith" => Value::Bool(text(0)?.to_lowercase().ends_with(&text(1)?.to_lowercase())),
            "join" => {
                let separator = if args.len() > 1 { text(1)? } else { ",".into() };
                match &args[0] {
                    Value::Array(items) => Value::String(
                        items.iter().map(to_text).collect::<Result<Vec<_>, _>>()?.join(&separator),
                    ),
                    other => Value::String(to_text(other)?),
                }
            }
            "format" => {
                let template = text(0)?;
                let mut out = String::new();
                let mut rest = template.as_str();
                while let Some(open) = rest.find(['{', '}']) {
                    out.push_str(&rest[..open]);
                    let tail = &rest[open..];
                    if tail.starts_with("{{") || tail.starts_with("}}") {
                        out.push_str(&tail[..1]);
                        rest = &tail[2..];
                    } else if let Some(close) = tail.strip_prefix('{').and_then(|t| t.find('}')) {
                        let index: usize = tail[1..=close]
                            .parse()
                            .map_err(|_| format!("bad format placeholder in `{template}`"))?;
                        out.push_str(&to_text(args.get(index + 1).ok_or("format: missing argument")?)?);
                        rest = &tail[close + 2..];
                    } else {
                        return Err(format!("unbalanced brace in format string `{template}`"));
                    }
                }
                out.push_str(rest);
                Value::String(out)
            }
            "toJSON" => Value::String(serde_json::to_string_pretty(&args[0]).unwrap()),
            "fromJSON" => serde_json::from_str(&text(0)?).map_err(|e| format!("fromJSON: {e}"))?,
            "hashFiles" => self.hash_files(args)?,
            other => return Err(format!("unknown function `{other}`")),
        })
    }

    /// `hashFiles(patterns…)`: the SHA-256 of the matching files' SHA-256s,
    /// in path order, or '' when nothing matches. Patterns here are plain
    /// paths relative to the workspace (no globbing), which is all this
    /// project's workflows use; a glob is refused rather than misread.
    fn hash_files(&self, args: &[Value]) -> Result<Value, String> {
        use sha2::{Digest, Sha256};
        let mut paths = Vec::new();
        for arg in args {
            let pattern = to_text(arg)?;
            if pattern.contains(['*', '?', '[', '!']) {
                return Err(format!("hashFiles: globs are not simulated (`{pattern}`)"));
            }
            let path = self.workspace.join(&pattern);
            if path.is_file() {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Ok(Value::String(String::new()));
        }
        paths.sort();
        let mut outer = Sha256::new();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            outer.update(Sha256::digest(&bytes));
        }
        Ok(Value::String(hex::encode(outer.finalize())))
    }
}

fn property(target: &Value, name: &str) -> Value {
    match target {
        Value::Object(map) => map
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// The `${{ … }}` spans of a string, as (expression text) in order.
pub fn expressions(text: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let end = find_close(&rest[start + 3..]).ok_or_else(|| format!("unclosed `${{{{` in {text:?}"))?;
        found.push(&rest[start + 3..start + 3 + end]);
        rest = &rest[start + 3 + end + 2..];
    }
    Ok(found)
}

/// The closing `}}` of an expression, skipping string literals.
fn find_close(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Checks every expression in `text` against `place` (static: contexts,
/// functions, syntax).
pub fn check_text(text: &str, place: &Place) -> Result<(), String> {
    for expr in expressions(text)? {
        check(&parse(expr)?, place).map_err(|e| format!("`${{{{{expr}}}}}`: {e}"))?;
    }
    Ok(())
}

/// Checks an `if:` value (an expression with or without `${{ }}`).
pub fn check_condition(text: &str, place: &Place) -> Result<(), String> {
    let expr = parse(condition_body(text)?)?;
    check(&expr, place).map_err(|e| format!("`if: {text}`: {e}"))
}

fn condition_body(text: &str) -> Result<&str, String> {
    let trimmed = text.trim();
    if let Some(inner) = trimmed.strip_prefix("${{").and_then(|t| t.strip_suffix("}}")) {
        return Ok(inner);
    }
    if trimmed.contains("${{") {
        return Err(format!(
            "`if: {text}` mixes text and `${{{{ }}}}`: the runner reads it as a non-empty string, always true"
        ));
    }
    Ok(trimmed)
}

impl Scope<'_> {
    /// Interpolates every `${{ … }}` of `text`, after checking it against `place`.
    pub fn substitute(&self, text: &str, place: &Place) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let body_start = start + 3;
            let end =
                find_close(&rest[body_start..]).ok_or_else(|| format!("unclosed `${{{{` in {text:?}"))?;
            let expr = parse(&rest[body_start..body_start + end])?;
            check(&expr, place)?;
            out.push_str(&to_text(&self.eval(&expr)?)?);
            rest = &rest[body_start + end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Evaluates an `if:`; without a status function the runner adds
    /// `success() &&`.
    pub fn condition(&self, text: &str, place: &Place) -> Result<bool, String> {
        let expr = parse(condition_body(text)?)?;
        check(&expr, place)?;
        let value = truthy(&self.eval(&expr)?);
        Ok(if uses_status_function(&expr) { value } else { !self.failed && value })
    }
}

/// A JSON object from string pairs.
pub fn object<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
}

#[test]
fn the_expression_language_behaves_as_the_runner_documents() {
    let contexts = BTreeMap::from([
        ("inputs", object([("tool-version", Value::from("")), ("sign", Value::from("auto"))])),
        ("github", object([("ref", Value::from("refs/tags/v1.2.3")), ("event_name", Value::from("push"))])),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let scope = Scope { contexts: &contexts, failed: false, workspace: dir.path() };
    let eval = |text: &str| scope.eval(&parse(text).unwrap()).unwrap();
    assert_eq!(eval("inputs.tool-version != 'preinstalled'"), Value::Bool(true));
    assert_eq!(eval("inputs.SIGN == 'AUTO'"), Value::Bool(true), "property names and strings ignore case");
    assert_eq!(eval("startsWith(github.ref, 'refs/tags/v')"), Value::Bool(true));
    assert_eq!(eval("inputs.missing"), Value::Null);
    assert_eq!(eval("inputs.sign || 'x'"), Value::from("auto"), "|| returns an operand");
    assert_eq!(eval("'' && 'x'"), Value::from(""));
    assert_eq!(eval("1 == '1'"), Value::Bool(true), "loose equality converts to numbers");
    assert_eq!(eval("null == 0"), Value::Bool(true));
    assert_eq!(eval("format('{0}-{1}{{x}}', 'a', 2)"), Value::from("a-2{x}"));
    assert_eq!(eval("fromJSON('[1,2]')[1]"), Value::from(2));
    assert_eq!(eval("!(github['event_name'] == 'push')"), Value::Bool(false));
    assert_eq!(eval("'it''s'"), Value::from("it's"));
    assert!(scope.condition("github.event_name == 'push'", &COMPOSITE_IF).unwrap());
    let failed = Scope { failed: true, ..scope };
    assert!(!failed.condition("github.event_name == 'push'", &COMPOSITE_IF).unwrap(), "implicit success()");
    assert!(failed.condition("always() && github.event_name == 'push'", &COMPOSITE_IF).unwrap());
    assert!(failed.substitute("${{ secrets.KEY }}", &COMPOSITE).unwrap_err().contains("`secrets` context"));
    assert!(failed.substitute("${{ always() }}", &COMPOSITE).is_err(), "status functions only in if");
    assert!(check_condition("vars.X != ''", &JOB_IF).is_ok());
    assert!(check_condition("steps.x.outputs.y", &JOB_IF).is_err(), "no steps context in a job's if");
    assert!(check_text("${{ secrets.A }}", &WORKFLOW_STEP).is_ok());
    assert!(check_condition("secrets.A != ''", &WORKFLOW_STEP_IF).is_err(), "no secrets in a step's if");
    assert!(parse("a ==").is_err() && parse("a b").is_err() && parse("'open").is_err());
}
