//! The owner's Sieve script at delivery (issue 16), end to end on the real server: mail
//! sent with Python's smtplib and with `letterbox deliver` lands in the folders the script
//! names with the flags it sets (checked over IMAP with imaplib); `reject` is a 550 at
//! SMTP time; `discard` stores nothing; a vacation reply goes out through the outbound
//! queue once per sender and period (captured at a local SMTP sink, tests/common/fake_mx.py),
//! never to list mail or to `<>`, and the period survives a restart; `redirect` sends a
//! copy carrying `X-Sieve-Redirected-From` and a message that already carries it is not
//! sent round again.

mod common;

use std::time::{Duration, Instant};

use common::{contents, relay_to, FakeMx, Server};
use letterbox::store::scripts::Scripts;

fn activate(srv: &Server, script: &str) {
    let s = Scripts::open(&srv.home.data()).unwrap();
    s.put("rules", script.as_bytes()).unwrap();
    s.activate(Some("rules")).unwrap();
}

fn subjects(srv: &Server, folder: &str) -> Vec<String> {
    let store = srv.home.store();
    if !store.list().unwrap().iter().any(|f| f == folder) {
        return Vec::new();
    }
    contents(&store, folder)
        .iter()
        .map(|(_, _, m)| {
            let t = String::from_utf8_lossy(m).into_owned();
            t.split("Subject: ").nth(1).and_then(|s| s.split("\r\n").next()).unwrap_or_default().to_owned()
        })
        .collect()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const RULES: &str = r#"require ["fileinto", "imap4flags", "envelope", "subaddress", "reject", "mailbox", "body"];
if header :contains "list-id" "<dev.lists.example>" { fileinto :create :flags "\\Seen" "lists"; stop; }
if envelope :detail "to" "shop" { fileinto :create "Shopping"; stop; }
if header :is "subject" "spam please" { discard; stop; }
if address :domain "from" "rejected.example" { reject "we do not take mail from you"; stop; }
if body :text :contains "Grüße" { addflag "$greeting"; }
if header :is "subject" "missing folder" { fileinto "nowhere"; stop; }
keep;
"#;

const SEND: &str = r#"
import imaplib, os, smtplib
s = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']))
def send(rcpt, frm, headers, body='hi'):
    msg = ('From: %s\r\nTo: %s\r\n%s\r\n\r\n%s\r\n' % (frm, rcpt, headers, body)).encode()
    try:
        s.sendmail(frm, [rcpt], msg)
        return 'ok'
    except smtplib.SMTPDataError as e:
        return '%d %s' % (e.smtp_code, e.smtp_error.decode())
print(send('alice@example.org', 'dev@lists.example', 'List-Id: Dev <dev.lists.example>\r\nSubject: list mail'))
print(send('alice+shop@example.org', 'shop@store.example', 'Subject: your order'))
print(send('alice@example.org', 'x@spam.example', 'Subject: spam please'))
print(send('alice@example.org', 'bad@rejected.example', 'Subject: from a rejected domain'))
print(send('alice@example.org', 'friend@example.net', 'Subject: greeting\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable', 'Viele Gr=C3=BC=C3=9Fe'))
print(send('alice@example.org', 'friend@example.net', 'Subject: missing folder'))
s.quit()
m = imaplib.IMAP4('127.0.0.1', int(os.environ['LB_IMAP']))
m.login(os.environ['LB_USER'], os.environ['LB_PASS'])
for f in ['lists', 'INBOX']:
    m.select(f, readonly=True)
    typ, data = m.fetch('1:*', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    for d in data:
        if isinstance(d, tuple):
            flags = d[0].decode().split('FLAGS (')[1].split(')')[0].split()
            print(f, '(' + ' '.join(x for x in flags if x != '\\Recent') + ')', d[1].decode().strip())
m.logout()
"#;

#[test]
fn a_script_sorts_smtp_and_deliver_mail_into_folders_with_flags() {
    let srv = Server::start("sieve-delivery", "", "");
    activate(&srv, RULES);
    let out = srv.python(SEND);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.get(..6).unwrap_or(&[]),
        ["ok", "ok", "ok", "550 5.7.1 we do not take mail from you", "ok", "ok"],
        "{out}"
    );
    assert!(out.contains("lists (\\Seen) Subject: list mail"), "{out}");
    assert!(out.contains("INBOX ($greeting) Subject: greeting"), "{out}");
    assert!(out.contains("INBOX () Subject: missing folder"), "{out}");
    assert_eq!(subjects(&srv, "Shopping"), ["your order"]);
    assert_eq!(subjects(&srv, "INBOX"), ["greeting", "missing folder"], "discarded and rejected mail is nowhere");
    assert!(srv.log_text().contains("no such folder"), "the missing folder is logged");
    // `letterbox deliver` goes through the same step.
    let code = srv
        .home
        .deliver(b"From: dev@lists.example\r\nList-Id: <dev.lists.example>\r\nSubject: by deliver\r\n\r\nx\r\n");
    assert_eq!(code, 0);
    assert_eq!(subjects(&srv, "lists"), ["list mail", "by deliver"]);
    let out = srv
        .home
        .run(&["deliver", "--from", "bad@rejected.example"], b"From: bad@rejected.example\r\nSubject: r\r\n\r\nx\r\n");
    assert_eq!(out.status.code(), Some(77), "a rejection is EX_NOPERM for the calling MTA");
    assert!(String::from_utf8_lossy(&out.stderr).contains("we do not take mail from you"));
    // A broken active script (written behind the validator's back) never loses mail.
    std::fs::write(srv.home.data().join("sieve").join("rules.sieve"), b"if bogus { keep; }").unwrap();
    let s = Scripts::open(&srv.home.data()).unwrap();
    assert!(s.active().unwrap().is_some_and(|(_, b)| b.starts_with(b"if bogus")));
    assert_eq!(srv.home.deliver(b"Subject: after breakage\r\n\r\nx\r\n"), 0);
    assert!(subjects(&srv, "INBOX").contains(&"after breakage".to_owned()));
}

const VACATION: &str = r#"require ["vacation"];
vacation :days 1 :subject "Away until Monday" :addresses ["alice@example.org"] "I am away; back on Monday.";
"#;

const SEND_VACATION: &str = r#"
import os, smtplib
s = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']))
def send(frm, headers):
    s.sendmail(frm, ['alice@example.org'], ('From: %s\r\nTo: Alice <alice@example.org>\r\nMessage-ID: <%s@x>\r\n%s\r\n\r\nhi\r\n' % (frm or 'daemon@example.net', os.urandom(4).hex(), headers)).encode())
send('bob@example.net', 'Subject: are you there')
send('bob@example.net', 'Subject: again')
send('dev@lists.example', 'Subject: list\r\nList-Id: <dev.lists.example>')
send('', 'Subject: a bounce')
send('news@example.net', 'Subject: bulk\r\nPrecedence: bulk')
send('robot@example.net', 'Subject: auto\r\nAuto-Submitted: auto-generated')
s.quit()
"#;

#[test]
fn vacation_replies_once_per_sender_and_period_never_to_lists() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-vacation-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let mut srv = Server::start("sieve-vacation", "", &relay_to(mx.port));
    activate(&srv, VACATION);
    srv.python(SEND_VACATION);
    wait_for("the vacation reply", || !mx.received().is_empty());
    wait_for("all six messages", || subjects(&srv, "INBOX").len() == 6);
    std::thread::sleep(Duration::from_secs(2));
    let got = mx.received();
    assert_eq!(got.len(), 1, "one reply only: {got:?}");
    let (from, rcpts, data) = &got[0];
    assert_eq!(from, "", "RFC 5230 §5.1: the reply has the null reverse path");
    assert_eq!(rcpts, &vec!["bob@example.net".to_owned()]);
    assert!(data.contains("Subject: Away until Monday\r\n"), "{data}");
    assert!(data.contains("Auto-Submitted: auto-replied"), "{data}");
    assert!(data.contains("In-Reply-To: <"), "{data}");
    assert!(data.contains("I am away; back on Monday."), "{data}");
    // The period survives a restart.
    srv.stop();
    srv.spawn();
    srv.python(
        "import os, smtplib\ns = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']))\ns.sendmail('bob@example.net', ['alice@example.org'], b'From: bob@example.net\\r\\nTo: alice@example.org\\r\\nSubject: third\\r\\n\\r\\nhi\\r\\n')\ns.quit()\n",
    );
    wait_for("the third message", || subjects(&srv, "INBOX").len() == 7);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mx.received().len(), 1, "a second reply within the period");
    let _ = std::fs::remove_dir_all(&tmp);
}

const REDIRECT: &str = r#"require ["copy"];
redirect :copy "fwd@remote.example";
"#;

#[test]
fn redirect_sends_a_marked_copy_and_stops_a_loop() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-redirect-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let srv = Server::start("sieve-redirect", "", &relay_to(mx.port));
    activate(&srv, REDIRECT);
    srv.python(
        "import os, smtplib\ns = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']))\n\
         s.sendmail('bob@example.net', ['alice@example.org'], b'From: bob@example.net\\r\\nSubject: forward me\\r\\n\\r\\nhi\\r\\n')\n\
         s.sendmail('bob@example.net', ['alice@example.org'], b'X-Sieve-Redirected-From: alice@example.org\\r\\nFrom: bob@example.net\\r\\nSubject: came back\\r\\n\\r\\nhi\\r\\n')\n\
         s.quit()\n",
    );
    wait_for("the redirected copy", || !mx.received().is_empty());
    wait_for("both kept", || subjects(&srv, "INBOX").len() == 2);
    std::thread::sleep(Duration::from_secs(2));
    let got = mx.received();
    assert_eq!(got.len(), 1, "the looping message is not sent again: {got:?}");
    let (from, rcpts, data) = &got[0];
    assert_eq!((from.as_str(), rcpts.clone()), ("bob@example.net", vec!["fwd@remote.example".to_owned()]));
    assert!(
        data.starts_with("X-Sieve-Redirected-From: alice@example.org\r\n")
            || data.contains("\r\nX-Sieve-Redirected-From: alice@example.org\r\n"),
        "{data}"
    );
    assert!(data.contains("Subject: forward me"), "{data}");
    assert!(srv.log_text().contains("loop"), "the dropped redirect is logged");
    let _ = std::fs::remove_dir_all(&tmp);
}
