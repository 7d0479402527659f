//! Sieve grammar (RFC 5228 §8.2): `commands`, `command = identifier arguments (";" / block)`,
//! `arguments = *argument [test / test-list]`, string lists, tests nested in `allof`/`anyof`/
//! `not`. Produces the compact AST of [`Node`]s; `validate` then checks names, arguments and
//! `require` (§3.2). Nesting is bounded by [`Limits::nesting_max`] so hostile input cannot
//! exhaust the stack.

use super::lexer::{tokens, Token};
use super::validate::validate;
use super::{Error, Limits};

/// A raw argument (§2.6) before tags are paired with their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `:name`, lowercased.
    Tag(String),
    /// A number, quantifier applied.
    Num(u64),
    /// A single string.
    Str(String),
    /// A bracketed string list.
    List(Vec<String>),
}

impl Arg {
    /// The argument as a string list (a single string is a list of one, §2.4.2.1).
    pub fn strings(&self) -> Vec<String> {
        match self {
            Arg::Str(s) => vec![s.clone()],
            Arg::List(l) => l.clone(),
            _ => Vec::new(),
        }
    }

    /// The argument as a single string (the first of a list).
    pub fn string(&self) -> String {
        self.strings().into_iter().next().unwrap_or_default()
    }
}

/// A command or a test: name, tagged arguments, positional arguments, tests, block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Lowercased identifier.
    pub name: String,
    /// Tags with the value those that take one carry (`:comparator "i;octet"`).
    pub tags: Vec<(String, Option<Arg>)>,
    /// Positional arguments in order.
    pub args: Vec<Arg>,
    /// The test of `if`/`elsif`/`not`, the list of `allof`/`anyof`.
    pub tests: Vec<Node>,
    /// The block of a control command.
    pub block: Vec<Node>,
    /// Line the identifier is on.
    pub line: u32,
}

impl Node {
    /// True when tag `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.tags.iter().any(|(t, _)| t == name)
    }

    /// The value of tag `name`, when present with a value.
    pub fn tag(&self, name: &str) -> Option<&Arg> {
        self.tags.iter().find(|(t, _)| t == name).and_then(|(_, v)| v.as_ref())
    }
}

/// A parsed, validated script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Top-level commands (`require` included).
    pub commands: Vec<Node>,
    /// Capabilities the script requires, lowercased.
    pub required: Vec<String>,
}

impl Script {
    /// True when the script requires capability `cap`.
    pub fn requires(&self, cap: &str) -> bool {
        self.required.iter().any(|c| c == cap)
    }
}

/// Parses and validates `src` within `limits`.
pub fn parse(src: &[u8], limits: &Limits) -> Result<Script, Error> {
    if src.len() > limits.script_bytes_max {
        return Err(Error { line: 0, message: format!("script is over {} bytes", limits.script_bytes_max) });
    }
    let text = std::str::from_utf8(src).map_err(|_| Error { line: 0, message: "script is not UTF-8".into() })?;
    let toks = tokens(text)?;
    let mut p = Parser { toks: &toks, pos: 0, depth: 0, limits };
    let mut commands = Vec::new();
    while p.peek().is_some() {
        commands.push(p.command()?);
    }
    validate(commands, limits)
}

struct Parser<'a> {
    toks: &'a [(Token, u32)],
    pos: usize,
    depth: usize,
    limits: &'a Limits,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn line(&self) -> u32 {
        self.toks.get(self.pos).or(self.toks.last()).map_or(0, |(_, l)| *l)
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error { line: self.line(), message: message.into() }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > self.limits.nesting_max {
            return Err(self.err(format!("nested deeper than {} levels", self.limits.nesting_max)));
        }
        Ok(())
    }

    /// §8.2 `command = identifier arguments (";" / block)`.
    fn command(&mut self) -> Result<Node, Error> {
        let line = self.line();
        let Some(Token::Ident(name)) = self.next() else {
            return Err(Error { line, message: "expected a command".into() });
        };
        let (args, tests) = self.arguments()?;
        let mut block = Vec::new();
        if self.eat(b'{') {
            self.enter()?;
            while !self.eat(b'}') {
                if self.peek().is_none() {
                    return Err(self.err("missing '}'"));
                }
                block.push(self.command()?);
            }
            self.depth -= 1;
        } else if !self.eat(b';') {
            return Err(self.err(format!("expected ';' after {name}")));
        }
        Ok(raw_node(name, args, tests, block, line))
    }

    /// §8.2 `arguments = *argument [ test / test-list ]`.
    fn arguments(&mut self) -> Result<(Vec<Arg>, Vec<Node>), Error> {
        let mut args = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Tag(t)) => {
                    args.push(Arg::Tag(t.clone()));
                    self.pos += 1;
                }
                Some(Token::Num(n)) => {
                    args.push(Arg::Num(*n));
                    self.pos += 1;
                }
                Some(Token::Str(s)) => {
                    args.push(Arg::Str(s.clone()));
                    self.pos += 1;
                }
                Some(Token::Punct(b'[')) => args.push(Arg::List(self.string_list()?)),
                _ => break,
            }
        }
        let tests = match self.peek() {
            Some(Token::Ident(_)) => vec![self.test()?],
            Some(Token::Punct(b'(')) => self.test_list()?,
            _ => Vec::new(),
        };
        Ok((args, tests))
    }

    /// §8.2 `string-list = "[" string *("," string) "]" / string`.
    fn string_list(&mut self) -> Result<Vec<String>, Error> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.next() {
                Some(Token::Str(s)) => out.push(s),
                _ => return Err(self.err("expected a string in the list")),
            }
            if self.eat(b']') {
                return Ok(out);
            }
            if !self.eat(b',') {
                return Err(self.err("expected ',' or ']' in the string list"));
            }
        }
    }

    /// §8.2 `test = identifier arguments`.
    fn test(&mut self) -> Result<Node, Error> {
        let line = self.line();
        let Some(Token::Ident(name)) = self.next() else {
            return Err(Error { line, message: "expected a test".into() });
        };
        self.enter()?;
        let (args, tests) = self.arguments()?;
        self.depth -= 1;
        Ok(raw_node(name, args, tests, Vec::new(), line))
    }

    /// §8.2 `test-list = "(" test *("," test) ")"`.
    fn test_list(&mut self) -> Result<Vec<Node>, Error> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            out.push(self.test()?);
            if self.eat(b')') {
                return Ok(out);
            }
            if !self.eat(b',') {
                return Err(self.err("expected ',' or ')' in the test list"));
            }
        }
    }
}

/// A node whose tags are still mixed into `args` (validation pairs them up).
fn raw_node(name: String, args: Vec<Arg>, tests: Vec<Node>, block: Vec<Node>, line: u32) -> Node {
    Node { name, tags: Vec::new(), args, tests, block, line }
}
