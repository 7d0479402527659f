//! RFC 8970 PREVIEW transcripts against the in-memory store.

use super::preview::PREVIEW_CHARS;
use super::tests::H;

#[test]
fn preview_of_plain_html_encoded_and_empty() {
    let mut h = H::new();
    let long = "word ".repeat(200);
    let qp = b"Subject: q\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9   au\r\n\r\nlait=\r\n!\r\n";
    let html = b"Subject: h\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=x.txt\r\n\r\nnot this\r\n--b\r\nContent-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hello <b>there</b></p></html>\r\n--b--\r\n";
    h.store.deliver("INBOX", qp, 0, 0);
    h.store.deliver("INBOX", html, 0, 0);
    h.store.deliver("INBOX", format!("Subject: l\r\n\r\n{long}").as_bytes(), 0, 0);
    h.store.deliver("INBOX", b"Subject: none\r\nContent-Type: image/png\r\n\r\nPNG", 0, 0);
    h.select();
    assert!(h.run(b"c CAPABILITY\r\n").contains(" PREVIEW"));
    let out = h.run(b"a FETCH 1:* (PREVIEW)\r\n");
    assert!(out.contains("* 1 FETCH (PREVIEW \"Hello world second line\")"), "{out}");
    // ISO-8859-1 and quoted-printable decoded: a literal (UTF-8 is not a quoted char).
    assert!(out.contains("* 4 FETCH (PREVIEW {14}\r\nCaf\u{e9} au lait!)"), "{out}");
    assert!(out.contains("* 5 FETCH (PREVIEW \"Hello there\")"), "{out}");
    let cut = "word ".repeat(PREVIEW_CHARS / 5) + "w";
    assert!(out.contains(&format!("* 6 FETCH (PREVIEW \"{cut}\")")), "{out}");
    assert!(out.contains("* 7 FETCH (PREVIEW \"\")"), "{out}");
    let out = h.run(b"b FETCH 1 (UID PREVIEW (LAZY) FLAGS)\r\n");
    assert!(out.contains("(UID 1 PREVIEW \"Hello world second line\" FLAGS ())"), "{out}");
    assert!(h.run(b"d FETCH 1 (PREVIEW (EAGER))\r\n").starts_with("d BAD"));
}

/// RFC 9051 behaviours behind ENABLE IMAP4rev2.
#[test]
fn enable_imap4rev2_drops_recent_and_uses_nonexistent() {
    let mut h = H::new();
    h.login();
    h.run(b"c CREATE a/b\r\n");
    assert!(h.run(b"l LIST \"\" %\r\n").contains("* LIST (\\Noselect \\HasChildren) \"/\" \"a\""));
    h.run(b"a SELECT INBOX\r\n");
    h.store.deliver("INBOX", b"Subject: new\r\n\r\nx", 0, 0);
    let out = h.run(b"b NOOP\r\n");
    // (MemStore gives no \\Recent to later arrivals: the count is 0, the line is there.)
    assert!(out.contains("* 4 EXISTS\r\n* 0 RECENT\r\n"), "{out}");
    let out = h.run(b"d ENABLE IMAP4rev2\r\n");
    assert!(out.starts_with("* ENABLED IMAP4rev2\r\n"), "{out}");
    let out = h.run(b"e FETCH 4 FLAGS\r\n");
    assert!(out.contains("FLAGS ()"), "{out}");
    h.store.deliver("INBOX", b"Subject: new\r\n\r\ny", 0, 0);
    let out = h.run(b"f NOOP\r\n");
    assert!(out.contains("* 5 EXISTS") && !out.contains("RECENT"), "{out}");
    let out = h.run(b"g SELECT INBOX\r\n");
    assert!(out.contains("* 5 EXISTS") && !out.contains("RECENT"), "{out}");
    let out = h.run(b"h LIST \"\" %\r\n");
    assert!(out.contains("* LIST (\\NonExistent \\HasChildren) \"/\" \"a\""), "{out}");
    // §6.4.4: SEARCH without RETURN answers ESEARCH (ALL), tagged with the command's tag.
    let out = h.run(b"i SEARCH SUBJECT new\r\n");
    assert!(out.starts_with("* ESEARCH (TAG \"i\") ALL 4:5\r\ni OK"), "{out}");
    let out = h.run(b"j UID SEARCH SUBJECT nothing-like-this\r\n");
    assert!(out.starts_with("* ESEARCH (TAG \"j\") UID\r\nj OK"), "{out}");
}
