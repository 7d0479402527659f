//! The delivery step's rule without a Sieve script (issue 16): mail for `alice+shop@` lands
//! in folder `shop` when the owner made it (IMAP CREATE from Python's imaplib), in INBOX when
//! there is no such folder, and always in INBOX with `subaddress_folders = false`. Sent with
//! Python's smtplib to the real server.

mod common;

use common::{contents, Server};

const SEND: &str = r#"
import imaplib, os, smtplib
m = imaplib.IMAP4('127.0.0.1', int(os.environ['LB_IMAP']))
m.login(os.environ['LB_USER'], os.environ['LB_PASS'])
assert m.create('shop')[0] == 'OK'
m.logout()
s = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']))
for rcpt in ['alice+shop@example.org', 'alice+travel@example.org', 'alice@example.org', 'alice+Shop@example.org']:
    s.sendmail('bob@example.net', [rcpt], ('From: bob@example.net\r\nSubject: to %s\r\n\r\nhi\r\n' % rcpt).encode())
s.sendmail('bob@example.net', ['alice+travel@example.org', 'alice+shop@example.org'], b'Subject: both\r\n\r\nhi\r\n')
s.quit()
"#;

fn subjects(srv: &Server, folder: &str) -> Vec<String> {
    contents(&srv.home.store(), folder)
        .iter()
        .map(|(_, _, m)| {
            let t = String::from_utf8_lossy(m).into_owned();
            t.split("Subject: ").nth(1).and_then(|s| s.split("\r\n").next()).unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn subaddress_goes_to_an_existing_folder_else_inbox() {
    let srv = Server::start("delivery-detail", "", "");
    srv.python(SEND);
    assert_eq!(subjects(&srv, "shop"), ["to alice+shop@example.org", "both"]);
    // Folder names are case-sensitive (RFC 3501 §5.1): "+Shop" names no folder.
    assert_eq!(
        subjects(&srv, "INBOX"),
        ["to alice+travel@example.org", "to alice@example.org", "to alice+Shop@example.org"]
    );
}

#[test]
fn subaddress_folders_off_keeps_everything_in_inbox() {
    let srv = Server::start("delivery-detail-off", "subaddress_folders = false\n", "");
    srv.python(SEND);
    assert_eq!(subjects(&srv, "shop").len(), 0);
    assert_eq!(subjects(&srv, "INBOX").len(), 5);
}
