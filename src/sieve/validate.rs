//! Static checks of a parsed script: every command and test is known (RFC 5228 §3-§5 and the
//! extensions of [`CAPABILITIES`]), its tagged arguments (§2.6.2) are paired with their
//! values and come before the positional ones, `require` (§3.2) names only supported
//! capabilities and comes first, and an extension is used only when required (as Pigeonhole
//! does). `elsif`/`else` must follow `if` (§3.1). With `encoded-character` (RFC 5228 §2.4.2.4)
//! the `${hex:}`/`${unicode:}` escapes are decoded here, once.

use super::parser::{Arg, Node, Script};
use super::{Error, Limits, CAPABILITIES};

/// What a tag or positional argument holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum K {
    Flag,
    S,
    L,
    N,
}

/// Tag group: match types and comparator (§2.7).
const MATCH: u8 = 1;
/// Tag group: address parts (§2.7.4, RFC 5233).
const ADDR: u8 = 2;

struct Spec {
    name: &'static str,
    test: bool,
    cap: &'static str,
    groups: u8,
    tags: &'static [(&'static str, K, &'static str)],
    args: &'static [K],
    /// The first positional argument may be left out (imap4flags variable names).
    opt_first: bool,
    tests: (usize, usize),
    block: bool,
}

const fn c(
    name: &'static str,
    cap: &'static str,
    tags: &'static [(&'static str, K, &'static str)],
    args: &'static [K],
) -> Spec {
    Spec { name, test: false, cap, groups: 0, tags, args, opt_first: false, tests: (0, 0), block: false }
}

const fn t(
    name: &'static str,
    cap: &'static str,
    groups: u8,
    tags: &'static [(&'static str, K, &'static str)],
    args: &'static [K],
) -> Spec {
    Spec { name, test: true, cap, groups, tags, args, opt_first: false, tests: (0, 0), block: false }
}

const CONTROL: Spec = Spec {
    name: "if",
    test: false,
    cap: "",
    groups: 0,
    tags: &[],
    args: &[],
    opt_first: false,
    tests: (1, 1),
    block: true,
};
const FLAGS: (&str, K, &str) = (":flags", K::L, "imap4flags");
const MATCH_TAGS: [(&str, K, &str); 6] = [
    (":is", K::Flag, ""),
    (":contains", K::Flag, ""),
    (":matches", K::Flag, ""),
    (":count", K::S, "relational"),
    (":value", K::S, "relational"),
    (":comparator", K::S, ""),
];
const ADDR_TAGS: [(&str, K, &str); 5] = [
    (":all", K::Flag, ""),
    (":localpart", K::Flag, ""),
    (":domain", K::Flag, ""),
    (":user", K::Flag, "subaddress"),
    (":detail", K::Flag, "subaddress"),
];
const SET_TAGS: [(&str, K, &str); 6] = [
    (":lower", K::Flag, ""),
    (":upper", K::Flag, ""),
    (":lowerfirst", K::Flag, ""),
    (":upperfirst", K::Flag, ""),
    (":quotewildcard", K::Flag, ""),
    (":length", K::Flag, ""),
];
const VACATION_TAGS: [(&str, K, &str); 7] = [
    (":days", K::N, ""),
    (":seconds", K::N, "vacation-seconds"),
    (":subject", K::S, ""),
    (":from", K::S, ""),
    (":addresses", K::L, ""),
    (":mime", K::Flag, ""),
    (":handle", K::S, ""),
];

const SPECS: &[Spec] = &[
    c("require", "", &[], &[K::L]),
    CONTROL,
    Spec { name: "elsif", ..CONTROL },
    Spec { name: "else", tests: (0, 0), ..CONTROL },
    c("stop", "", &[], &[]),
    c("keep", "", &[FLAGS], &[]),
    c("discard", "", &[], &[]),
    c("fileinto", "fileinto", &[FLAGS, (":copy", K::Flag, "copy"), (":create", K::Flag, "mailbox")], &[K::S]),
    c("redirect", "", &[(":copy", K::Flag, "copy")], &[K::S]),
    Spec { opt_first: true, ..c("setflag", "imap4flags", &[], &[K::S, K::L]) },
    Spec { opt_first: true, ..c("addflag", "imap4flags", &[], &[K::S, K::L]) },
    Spec { opt_first: true, ..c("removeflag", "imap4flags", &[], &[K::S, K::L]) },
    c("set", "variables", &SET_TAGS, &[K::S, K::S]),
    c("reject", "reject", &[], &[K::S]),
    c("ereject", "ereject", &[], &[K::S]),
    c("vacation", "vacation", &VACATION_TAGS, &[K::S]),
    t("address", "", MATCH | ADDR, &[], &[K::L, K::L]),
    t("envelope", "envelope", MATCH | ADDR, &[], &[K::L, K::L]),
    t("header", "", MATCH, &[], &[K::L, K::L]),
    t("exists", "", 0, &[], &[K::L]),
    t("size", "", 0, &[(":over", K::Flag, ""), (":under", K::Flag, "")], &[K::N]),
    Spec { tests: (1, usize::MAX), ..t("allof", "", 0, &[], &[]) },
    Spec { tests: (1, usize::MAX), ..t("anyof", "", 0, &[], &[]) },
    Spec { tests: (1, 1), ..t("not", "", 0, &[], &[]) },
    t("true", "", 0, &[], &[]),
    t("false", "", 0, &[], &[]),
    Spec { opt_first: true, ..t("hasflag", "imap4flags", MATCH, &[], &[K::L, K::L]) },
    t("string", "variables", MATCH, &[], &[K::L, K::L]),
    t("body", "body", MATCH, &[(":raw", K::Flag, ""), (":content", K::L, ""), (":text", K::Flag, "")], &[K::L]),
    t("date", "date", MATCH, &[(":zone", K::S, ""), (":originalzone", K::Flag, "")], &[K::S, K::S, K::L]),
    t("currentdate", "date", MATCH, &[(":zone", K::S, "")], &[K::S, K::L]),
    t("mailboxexists", "mailbox", 0, &[], &[K::L]),
];

/// Comparators (RFC 4790 names) and the capability each needs.
const COMPARATORS: [(&str, &str); 3] =
    [("i;octet", ""), ("i;ascii-casemap", ""), ("i;ascii-numeric", "comparator-i;ascii-numeric")];
/// RFC 5231 §4 relational operators.
pub const RELATIONS: [&str; 6] = ["gt", "ge", "lt", "le", "eq", "ne"];

/// Checks the raw command list and builds the [`Script`].
pub fn validate(mut commands: Vec<Node>, limits: &Limits) -> Result<Script, Error> {
    let required = requires(&commands)?;
    let v = Validator { required: &required, encoded: required.iter().any(|r| r == "encoded-character"), limits };
    v.block(&mut commands, true)?;
    Ok(Script { commands, required })
}

/// §3.2: the leading `require` commands; later ones are an error.
fn requires(commands: &[Node]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    let mut leading = true;
    for cmd in commands {
        if cmd.name != "require" {
            leading = false;
            continue;
        }
        if !leading {
            return Err(Error { line: cmd.line, message: "require must come before other commands".into() });
        }
        for cap in cmd.args.iter().flat_map(Arg::strings) {
            let cap = cap.to_ascii_lowercase();
            if !CAPABILITIES.contains(&cap.as_str()) {
                return Err(Error { line: cmd.line, message: format!("unsupported extension {cap:?}") });
            }
            out.push(cap);
        }
    }
    Ok(out)
}

struct Validator<'a> {
    required: &'a [String],
    encoded: bool,
    limits: &'a Limits,
}

impl Validator<'_> {
    fn block(&self, cmds: &mut [Node], top: bool) -> Result<(), Error> {
        let mut after_if = false;
        for cmd in cmds.iter_mut() {
            if cmd.name == "require" && !top {
                return Err(Error { line: cmd.line, message: "require is only allowed at the top".into() });
            }
            if matches!(cmd.name.as_str(), "elsif" | "else") && !after_if {
                return Err(Error { line: cmd.line, message: format!("{} without a preceding if", cmd.name) });
            }
            after_if = matches!(cmd.name.as_str(), "if" | "elsif");
            self.node(cmd, false)?;
            self.block(&mut cmd.block, false)?;
        }
        Ok(())
    }

    fn node(&self, n: &mut Node, test: bool) -> Result<(), Error> {
        let what = if test { "test" } else { "command" };
        let line = n.line;
        let err = |m: String| Error { line, message: m };
        let spec = SPECS
            .iter()
            .find(|s| s.name == n.name && s.test == test)
            .ok_or_else(|| err(format!("unknown {what} {}", n.name)))?;
        self.need(spec.cap, n)?;
        self.pair(spec, n)?;
        if n.tests.len() < spec.tests.0 || n.tests.len() > spec.tests.1 {
            return Err(err(format!("{} takes {} test(s)", n.name, spec.tests.0)));
        }
        if !spec.block && !n.block.is_empty() {
            return Err(err(format!("{} takes no block", n.name)));
        }
        for sub in n.tests.iter_mut() {
            self.node(sub, true)?;
        }
        self.semantics(n)
    }

    fn need(&self, cap: &str, n: &Node) -> Result<(), Error> {
        if cap.is_empty() || self.required.iter().any(|r| r == cap) {
            return Ok(());
        }
        Err(Error { line: n.line, message: format!("{} needs require \"{cap}\"", n.name) })
    }

    /// §2.6.2: tags first, each with its value; then the positional arguments.
    fn pair(&self, spec: &Spec, n: &mut Node) -> Result<(), Error> {
        let raw = std::mem::take(&mut n.args);
        let mut it = raw.into_iter().peekable();
        let mut tags: Vec<(String, Option<Arg>)> = Vec::new();
        let mut args = Vec::new();
        while let Some(a) = it.next() {
            let Arg::Tag(name) = a else {
                args.push(self.decode(a, n.line)?);
                continue;
            };
            let tag = format!(":{name}");
            let err = |m: String| Error { line: n.line, message: m };
            if !args.is_empty() {
                return Err(err(format!("tag {tag} after positional arguments of {}", n.name)));
            }
            let (_, kind, cap) =
                find_tag(spec, &tag).ok_or_else(|| err(format!("unknown tag {tag} for {}", n.name)))?;
            self.need(cap, n)?;
            if tags.iter().any(|(t, _)| *t == tag) || conflicts(&tags, &tag) {
                return Err(err(format!("conflicting or repeated tag {tag} for {}", n.name)));
            }
            let value = match kind {
                K::Flag => None,
                _ => Some(it.next().filter(|v| fits(kind, v)).ok_or_else(|| err(format!("{tag} needs a value")))?),
            };
            tags.push((tag, value.map(|v| self.decode(v, n.line)).transpose()?));
        }
        let skip = usize::from(spec.opt_first && args.len() + 1 == spec.args.len());
        let kinds = spec.args.get(skip..).unwrap_or(&[]);
        if args.len() != kinds.len() || args.iter().zip(kinds).any(|(a, k)| !fits(*k, a)) {
            return Err(Error { line: n.line, message: format!("wrong arguments for {}", n.name) });
        }
        n.tags = tags;
        n.args = args;
        Ok(())
    }

    /// Checks of argument values: comparator names, relations, `:contains` with numbers.
    fn semantics(&self, n: &Node) -> Result<(), Error> {
        let err = |m: String| Error { line: n.line, message: m };
        if let Some(cmp) = n.tag(":comparator") {
            let name = cmp.string().to_ascii_lowercase();
            let (_, cap) = COMPARATORS
                .iter()
                .find(|(c, _)| *c == name)
                .ok_or_else(|| err(format!("unknown comparator {name:?}")))?;
            if !cap.is_empty() && !self.required.iter().any(|r| r == cap) {
                return Err(err(format!("comparator {name} needs require \"{cap}\"")));
            }
            if name == "i;ascii-numeric" && (n.has(":contains") || n.has(":matches")) {
                return Err(err("i;ascii-numeric supports only :is, :count and :value".into()));
            }
        }
        for rel in [n.tag(":count"), n.tag(":value")].into_iter().flatten() {
            if !RELATIONS.contains(&rel.string().to_ascii_lowercase().as_str()) {
                return Err(err(format!("unknown relational operator {:?}", rel.string())));
            }
        }
        if n.name == "size" && n.has(":over") == n.has(":under") {
            return Err(err("size needs one of :over or :under".into()));
        }
        if n.name == "set" && !is_var_name(&n.args.first().map(Arg::string).unwrap_or_default()) {
            return Err(err("set: invalid variable name".into()));
        }
        let strings: usize =
            n.args.iter().chain(n.tags.iter().filter_map(|(_, v)| v.as_ref())).map(|a| a.strings().len()).sum();
        if strings > self.limits.list_items_max {
            return Err(err(format!("more than {} strings in one command", self.limits.list_items_max)));
        }
        Ok(())
    }

    /// RFC 5228 §2.4.2.4 encoded-character, when required.
    fn decode(&self, a: Arg, line: u32) -> Result<Arg, Error> {
        if !self.encoded {
            return Ok(a);
        }
        let dec = |s: String| {
            super::strings::decode_encoded(&s).ok_or(Error { line, message: "invalid encoded character".into() })
        };
        Ok(match a {
            Arg::Str(s) => Arg::Str(dec(s)?),
            Arg::List(l) => Arg::List(l.into_iter().map(dec).collect::<Result<_, _>>()?),
            other => other,
        })
    }
}

fn find_tag(spec: &Spec, tag: &str) -> Option<(&'static str, K, &'static str)> {
    let groups = [(MATCH, &MATCH_TAGS[..]), (ADDR, &ADDR_TAGS[..])];
    let grouped = groups.iter().filter(|(g, _)| spec.groups & g != 0).flat_map(|(_, tags)| tags.iter());
    spec.tags.iter().chain(grouped).find(|(name, _, _)| *name == tag).copied()
}

/// Tags of one exclusive group (match type, address part, size, body transform) seen twice.
fn conflicts(tags: &[(String, Option<Arg>)], tag: &str) -> bool {
    let sets: [&[&str]; 4] = [
        &[":is", ":contains", ":matches", ":count", ":value"],
        &[":all", ":localpart", ":domain", ":user", ":detail"],
        &[":over", ":under"],
        &[":raw", ":content", ":text"],
    ];
    sets.iter().any(|set| set.contains(&tag) && tags.iter().any(|(t, _)| set.contains(&t.as_str())))
}

fn fits(k: K, a: &Arg) -> bool {
    matches!((k, a), (K::S, Arg::Str(_)) | (K::L, Arg::Str(_) | Arg::List(_)) | (K::N, Arg::Num(_)))
}

/// RFC 5229 §3 `identifier` (with optional dotted namespace parts).
pub fn is_var_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            p.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}
