use super::*;

/// Feeds `input` in pieces of `step` bytes; returns the events (body joined) or the error.
fn run(c: &mut Client, input: &[u8], step: usize) -> Result<(Vec<String>, Vec<u8>), Error> {
    let (mut evs, mut body) = (Vec::new(), Vec::new());
    for piece in input.chunks(step) {
        let mut pos = 0;
        loop {
            let (n, ev) = c.feed(piece.get(pos..).unwrap_or_default())?;
            pos += n;
            match ev {
                Some(Event::Body(b)) => body.extend_from_slice(b),
                Some(e) => evs.push(format!("{e:?}")),
                None if n == 0 || pos >= piece.len() => break,
                None => {}
            }
        }
    }
    Ok((evs, body))
}

fn logged_in() -> Client {
    let mut c = Client::new();
    run(&mut c, b"* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n", 100).unwrap();
    let pw = Secret::from("p\"w");
    let cmd = c.command(&Command::Login { user: "me", password: &pw }).unwrap();
    assert_eq!(cmd, b"F1 LOGIN \"me\" \"p\\\"w\"\r\n");
    run(&mut c, b"F1 OK done\r\n", 100).unwrap();
    assert_eq!(c.state(), State::Authenticated);
    c
}

#[test]
fn select_sizes_and_streamed_body_in_any_split() {
    for step in [1, 2, 3, 7, 1000] {
        let mut c = logged_in();
        assert_eq!(c.command(&Command::Select("INBOX")).unwrap(), b"F2 SELECT \"INBOX\"\r\n");
        let (ev, _) = run(
            &mut c,
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 77] x\r\n* OK [UIDNEXT 9] y\r\nF2 OK [READ-WRITE] s\r\n",
            step,
        )
        .unwrap();
        assert_eq!(ev[0], "Untagged(Exists(3))");
        assert_eq!(ev[1], "Untagged(UidValidity(77))");
        assert_eq!(ev[2], "Untagged(UidNext(9))");
        assert_eq!(c.state(), State::Selected);
        c.command(&Command::Sizes { from: 5 }).unwrap();
        let (ev, _) = run(&mut c, b"* 1 FETCH (UID 5 RFC822.SIZE 12)\r\nF3 OK\r\n", step).unwrap();
        assert_eq!(ev[0], "Untagged(Fetch { uid: Some(5), size: Some(12) })");
        c.command(&Command::Body { uid: 5, limit: 100 }).unwrap();
        let (ev, body) =
            run(&mut c, b"* 1 FETCH (UID 5 BODY[] {13}\r\nA: b\r\n\r\n{3}\r\n UID 5)\r\nF4 OK\r\n", step).unwrap();
        assert_eq!(body, b"A: b\r\n\r\n{3}\r\n");
        assert_eq!(ev[0], "BodyStart { len: 13 }");
        assert_eq!(ev[1], "BodyEnd");
        assert!(ev[3].starts_with("Done { status: Ok"), "{ev:?}");
    }
}

#[test]
fn bad_server_input_is_a_clear_error() {
    // A 2 GB announcement over the limit: refused before reading a byte.
    let mut c = logged_in();
    c.command(&Command::Select("INBOX")).unwrap();
    run(&mut c, b"F2 OK\r\n", 100).unwrap();
    c.command(&Command::Body { uid: 1, limit: 1000 }).unwrap();
    assert_eq!(run(&mut c, b"* 1 FETCH (BODY[] {2147483648}\r\n", 100), Err(Error::LiteralTooLarge(2147483648)));
    // More bytes than announced: what follows is not the end of the FETCH response.
    let mut c = logged_in();
    c.command(&Command::Select("INBOX")).unwrap();
    run(&mut c, b"F2 OK\r\n", 100).unwrap();
    c.command(&Command::Body { uid: 1, limit: 1000 }).unwrap();
    let r = run(&mut c, b"* 1 FETCH (BODY[] {3}\r\nabcdef\r\n)\r\n", 100);
    assert!(matches!(r, Err(Error::Malformed(_))), "{r:?}");
    // A never-ending line stops at the limit.
    let mut c = logged_in();
    let long = vec![b'x'; LINE_MAX + 10];
    assert_eq!(run(&mut c, &long, 4096), Err(Error::LineTooLong));
    // Garbage instead of a greeting, or after it.
    assert!(matches!(run(&mut Client::new(), b"HTTP/1.1 400\r\n", 10), Err(Error::BadGreeting(_))));
    let mut c = logged_in();
    assert!(matches!(run(&mut c, b"\x00\x01garbage\r\n", 10), Err(Error::Malformed(_))));
    // An empty literal inside a line: the rest of the input is read at once.
    let mut c = logged_in();
    let input = b"* LIST () \"/\" {0}\r\n\r\n* 2 EXISTS\r\n";
    let (n, ev) = c.feed(input).unwrap();
    assert_eq!((n, ev), (19, None));
    let (_, ev) = c.feed(&input[n..]).unwrap();
    assert_eq!(ev, Some(Event::Untagged(Untagged::Other)));
    // A small literal whose bytes end like an announcement is not one.
    let mut c = logged_in();
    let (ev, _) = run(&mut c, b"* LIST () \"/\" {3}\r\n{5}\r\n* 3 EXISTS\r\n", 1).unwrap();
    assert_eq!(ev, ["Untagged(Other)", "Untagged(Exists(3))"]);
    // A large literal outside a body fetch.
    let mut c = logged_in();
    assert_eq!(run(&mut c, b"* LIST () \"/\" {99999}\r\n", 100), Err(Error::UnexpectedLiteral(99999)));
}

#[test]
fn items_after_the_message_literal() {
    for tail in [&b")"[..], b" UID 5)", b" FLAGS (\\Seen $Junk) UID 5)", b" X \"a) b\")", b" F ((a) b))"] {
        assert_eq!(fetch_tail(tail), Ok(()), "{}", String::from_utf8_lossy(tail));
    }
    for tail in [&b"x)"[..], b" UID)", b" FLAGS (\\Seen)x)", b" UID 5", b"\r\nmore message)", b" F ((a) b)"] {
        assert!(fetch_tail(tail).is_err(), "{}", String::from_utf8_lossy(tail));
    }
}

#[test]
fn commands_check_the_state() {
    let mut c = Client::new();
    assert_eq!(c.command(&Command::Select("INBOX")), Err(Error::NotAllowed("SELECT")));
    let mut c = logged_in();
    assert_eq!(c.command(&Command::Idle), Err(Error::NotAllowed("IDLE")));
    c.command(&Command::Select("a\"b")).unwrap();
    run(&mut c, b"F2 OK\r\n", 100).unwrap();
    assert_eq!(c.command(&Command::Idle).unwrap(), b"F3 IDLE\r\n");
    let (ev, _) = run(&mut c, b"+ idling\r\n* 4 EXISTS\r\n", 100).unwrap();
    assert_eq!(ev, vec!["Continue", "Untagged(Exists(4))"]);
    assert_eq!(c.done().unwrap(), b"DONE\r\n");
    run(&mut c, b"F3 OK idle done\r\n", 100).unwrap();
    assert_eq!(c.state(), State::Selected);
    assert_eq!(c.command(&Command::Expunge { uid: 4 }).unwrap(), b"F4 UID EXPUNGE 4\r\n");
    let pw = Secret::from("x");
    let mut c = Client::new();
    run(&mut c, b"* OK hi\r\n", 100).unwrap();
    let cmd = c.command(&Command::AuthPlain { user: "u", password: &pw }).unwrap();
    assert_eq!(cmd, b"F1 AUTHENTICATE PLAIN AHUAeA==\r\n");
}
