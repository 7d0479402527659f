//! Unit tests: lexer, parser and validator (RFC 5228 §2, §3.2, §8), the parse-side limits.

use super::lexer::{tokens, Token};
use super::{parse, Arg, Limits};

fn err_line(src: &str) -> u32 {
    parse(src.as_bytes(), &Limits::default()).map(|_| ()).expect_err(src).line
}

#[test]
fn numbers_quantifiers_and_strings() {
    let t: Vec<Token> = tokens("size :over 1K 2M 3g \"a\\\"b\\\\c\\d\"").unwrap().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        t,
        vec![
            Token::Ident("size".into()),
            Token::Tag("over".into()),
            Token::Num(1024),
            Token::Num(2 << 20),
            Token::Num(3 << 30),
            Token::Str("a\"b\\cd".into())
        ]
    );
    assert!(tokens("99999999999999999999").is_err());
    assert!(tokens("5G").is_err(), "5G is over 32 bits");
}

#[test]
fn multiline_strings_undo_dot_stuffing_and_comments_are_skipped() {
    let src = "# hash\n/* bracket\n * comment */ reject text: # trailing\nline one\n..dot\n.\n;";
    let t: Vec<(Token, u32)> = tokens(src).unwrap();
    assert_eq!(t.first(), Some(&(Token::Ident("reject".into()), 3)));
    assert_eq!(t.get(1).map(|x| &x.0), Some(&Token::Str("line one\r\n.dot\r\n".into())));
    assert_eq!(t.get(2).map(|x| x.1), Some(7));
    assert_eq!(tokens("/* open").unwrap_err().line, 1);
    assert_eq!(tokens("keep;\n\"open").unwrap_err().line, 2);
}

#[test]
fn errors_name_the_line() {
    assert_eq!(err_line("keep;\nkeep\nkeep;"), 2, "keep takes no test");
    assert_eq!(err_line("keep;\n\nkeep"), 3, "missing semicolon at the end");
    assert_eq!(err_line("require \"fileinto\";\n\nfrobnicate;"), 3);
    assert_eq!(err_line("keep;\nfileinto \"x\";"), 2, "fileinto without require");
    assert_eq!(err_line("require \"nope\";"), 1);
    assert_eq!(err_line("keep;\nrequire \"fileinto\";"), 2, "require after a command");
    assert_eq!(err_line("if true { require \"fileinto\"; }"), 1);
    assert_eq!(err_line("\n\nelse { keep; }"), 3);
    assert_eq!(err_line("if header :frob \"a\" \"b\" { keep; }"), 1);
    assert_eq!(err_line("if header :is :contains \"a\" \"b\" { keep; }"), 1);
    assert_eq!(err_line("if header \"a\" :is \"b\" { keep; }"), 1, "tag after positional");
    assert_eq!(err_line("if size 10 { keep; }"), 1, "size needs :over or :under");
    assert_eq!(err_line("if header :count \"ge\" \"a\" \"1\" { keep; }"), 1, ":count needs relational");
    assert_eq!(err_line("require \"relational\";\nif header :value \"xx\" \"a\" \"1\" { keep; }"), 2);
    assert_eq!(err_line("if header :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }"), 1);
    assert_eq!(err_line("require \"comparator-i;ascii-numeric\";\nif header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }"), 2);
    assert_eq!(err_line("require \"variables\";\nset \"1a\" \"x\";"), 2);
    assert_eq!(err_line("keep { stop; }"), 1);
    assert_eq!(err_line("if allof () { keep; }"), 1);
    assert_eq!(err_line("require \"encoded-character\";\nkeep :flags \"${unicode:d800}\";"), 2);
}

#[test]
fn tags_pair_with_values_and_extensions_parse() {
    let s = parse(
        b"require [\"fileinto\", \"copy\", \"imap4flags\", \"mailbox\", \"encoded-character\"];\nfileinto :copy :create :flags [\"\\\\Seen\"] \"${hex:41}b\";",
        &Limits::default(),
    )
    .unwrap();
    let f = s.commands.get(1).unwrap();
    assert!(f.has(":copy") && f.has(":create"));
    assert_eq!(f.tag(":flags"), Some(&Arg::List(vec!["\\Seen".into()])));
    assert_eq!(f.args, vec![Arg::Str("Ab".into())]);
    assert!(s.requires("mailbox"));
    for src in [
        "require \"imap4flags\"; setflag \"\\\\Seen\"; addflag \"v\" \"x\";",
        "require [\"vacation\", \"vacation-seconds\"]; vacation :seconds 60 :addresses [\"a@b\"] :mime :handle \"h\" \"r\";",
        "require \"date\"; if currentdate :zone \"+0100\" \"year\" \"2026\" { keep; }",
        "require \"body\"; if body :content [\"text\"] :contains \"x\" { keep; }",
        "if anyof (not true, allof (false, exists \"x\")) { keep; } elsif true { stop; } else { discard; }",
    ] {
        assert!(parse(src.as_bytes(), &Limits::default()).is_ok(), "{src}");
    }
}

/// BAD-INPUTS 88: a 1 MB script is refused before lexing.
#[test]
fn a_one_megabyte_script_is_refused() {
    let big = "keep;\n".repeat(1024 * 1024 / 6 + 1);
    let e = parse(big.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.message.contains("bytes"));
    // Within a raised size limit the same script parses; its cost is linear.
    let limits = Limits { script_bytes_max: 2 << 20, ..Limits::default() };
    assert_eq!(parse(big.as_bytes(), &limits).unwrap().commands.len(), big.len() / 6);
}

/// BAD-INPUTS 88: 10,000 nested `if` (and `not`) are a clean error, not a stack overflow.
#[test]
fn ten_thousand_nested_ifs_are_a_clean_error() {
    let limits = Limits { script_bytes_max: 1 << 20, ..Limits::default() };
    let ifs = "if true {\n".repeat(10_000) + &"}".repeat(10_000);
    let e = parse(ifs.as_bytes(), &limits).unwrap_err();
    assert_eq!(e.line, 33, "{e}");
    let nots = format!("if {} true {{ keep; }}", "not ".repeat(10_000));
    assert!(parse(nots.as_bytes(), &limits).unwrap_err().message.contains("nested"));
    let lists = format!("if {} true {} {{ keep; }}", "anyof(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(lists.as_bytes(), &limits).is_err());
    let ok = "if true {\n".repeat(31) + &"}".repeat(31);
    assert!(parse(ok.as_bytes(), &limits).is_ok());
}

#[test]
fn uploads_with_redirect_or_vacation_need_the_outbound_queue() {
    let limits = crate::sieve::Limits::default();
    let script = b"require \"vacation\";\nif true {\n  vacation \"away\";\n}\n";
    let r = crate::sieve::check_upload(script, &limits);
    if cfg!(feature = "outbound") {
        assert!(r.is_ok(), "{r:?}");
    } else {
        let e = r.expect_err("refused without the queue");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("outbound"), "{e}");
    }
    assert!(crate::sieve::check_upload(b"keep;", &limits).is_ok());
}
