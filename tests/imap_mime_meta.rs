//! Issue 13: the MIME summary (ENVELOPE, BODYSTRUCTURE and the SEARCH header fields) is
//! stored at delivery on every path — SMTP (smtplib), `letterbox deliver`, IMAP APPEND,
//! COPY and MOVE, `letterbox import` — and computed once, then kept, for messages stored
//! without one. Measured on the real `letterbox serve` with `/proc/PID/io` `rchar` (bytes
//! the server process read): a first sync's FETCH and SEARCH SUBJECT read a small, bounded
//! amount per message, never the 300 KB bodies.

mod common;

use common::*;

/// Messages per delivery path, and their size.
const N: usize = 6;
const SIZE: usize = 300 * 1024;
/// Bytes the server may read per message for FETCH ENVELOPE BODYSTRUCTURE (issue goal).
const FETCH_PER_MSG: u64 = 8 * 1024;
/// Per message for SEARCH SUBJECT: less than the 12 KB header of the test messages, so a
/// server that reads the header (or the body) for it fails.
const SEARCH_PER_MSG: u64 = 4 * 1024;
/// Per message for SEARCH HEADER of a field not kept: the header only (about 13 KB).
const HEADER_PER_MSG: u64 = 32 * 1024;

/// Large multipart messages with a 12 KB header; `rchar()` of the server process.
const PY: &str = r#"
import base64, subprocess, json
N = int(os.environ["T_N"]); SIZE = int(os.environ["T_SIZE"])
def rchar():
    return int([l.split()[1] for l in open("/proc/PID/io") if l.startswith("rchar:")][0])
def big(tag, i):
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (k, b"f" * 110) for k in range(100))
    att = base64.encodebytes(bytes(range(256)) * (SIZE * 3 // 4 // 256)).replace(b"\n", b"\r\n")
    return (b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: meta %s %d\r\n"
            b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <%s%d@example.net>\r\n" % (tag.encode(), i, tag.encode(), i)
            + filler + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
            b"--BB\r\nContent-Type: text/plain\r\n\r\nhello\r\n--BB\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + att + b"--BB--\r\n")
def measure(folder, tags):
    M = imap(); ok(M.select(folder))
    r0 = rchar()
    d = ok(M.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)"))
    r1 = rchar()
    text = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in d)
    for t in tags:
        for i in range(N):
            assert b'"meta %s %d"' % (t.encode(), i) in text, (t, i, text[:2000])
    assert text.count(b'("application" "octet-stream"') == len(tags) * N, text[:2000]
    s0 = rchar()
    hits = ok(M.search(None, "SUBJECT", '"meta %s 3"' % tags[-1]))[0].split()
    s1 = rchar()
    assert len(hits) == 1, hits
    h0 = rchar()
    hits = ok(M.search(None, "HEADER", "X-Filler-7", "fff"))[0].split()
    h1 = rchar()
    assert len(hits) == len(tags) * N, hits
    M.logout()
    print(json.dumps({"n": len(tags) * N, "fetch": r1 - r0, "search": s1 - s0, "header": h1 - h0}))
"#;

fn py(srv: &Server, script: &str) -> String {
    let prelude = PY.replace("PID", &srv.pid().to_string());
    let script = format!("import os\nos.environ['T_N'] = '{N}'\nos.environ['T_SIZE'] = '{SIZE}'\n{prelude}\n{script}");
    srv.py("", &script)
}

/// (messages, fetch, search, header) rchar deltas printed by `measure`.
fn deltas(out: &str) -> (u64, u64, u64, u64) {
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
    let num = |k: &str| -> u64 {
        let at = line.find(&format!("\"{k}\": ")).map(|i| i + k.len() + 4).unwrap_or(line.len());
        line.get(at..).unwrap_or("").chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
    };
    (num("n"), num("fetch"), num("search"), num("header"))
}

fn assert_small(what: &str, out: &str) {
    let (n, fetch, search, header) = deltas(out);
    eprintln!(
        "{what}: {n} messages, rchar per message: FETCH {} SEARCH SUBJECT {} SEARCH HEADER {}",
        fetch / n.max(1),
        search / n.max(1),
        header / n.max(1)
    );
    assert!(n > 0, "{out}");
    assert!(fetch <= FETCH_PER_MSG * n, "{what}: FETCH read {fetch} bytes for {n} messages");
    assert!(search <= SEARCH_PER_MSG * n, "{what}: SEARCH SUBJECT read {search} bytes for {n} messages");
    assert!(header <= HEADER_PER_MSG * n, "{what}: SEARCH HEADER read {header} bytes for {n} messages");
}

#[test]
fn every_delivery_path_stores_the_summary() {
    let mut srv = Server::start("meta-paths", "", "message_size = 10000000");
    let deliver = format!("{:?}", letterbox_argv(&["deliver", "--config", &srv.home.config().display().to_string()]));
    let import = format!(
        "{:?}",
        letterbox_argv(&["import", "--config", &srv.home.config().display().to_string(), "--folder", "Arch"])
    );
    let mbox = srv.home.dir.join("in.mbox").display().to_string();
    py(
        &srv,
        &format!(
            r#"
send([big("smtp", i) for i in range(N)])
for i in range(N):
    assert subprocess.run({deliver}, input=big("deliver", i)).returncode == 0
M = imap()
for i in range(N):
    ok(M.append("INBOX", None, None, big("append", i)))
with open("{mbox}", "wb") as f:
    for i in range(N):
        f.write(b"From bob@example.net Mon Mar  2 10:00:00 2026\n" + big("import", i).replace(b"\r\n", b"\n") + b"\n")
assert subprocess.run({import} + ["{mbox}"]).returncode == 0
ok(M.create("Copies"))
ok(M.select("Arch"))
ok(M.copy("1:*", "Copies"))
typ, dat = M._simple_command("MOVE", "1:*", "INBOX")
assert typ == "OK", dat
M.logout()
"#
        ),
    );
    // A fresh process: nothing is cached in RAM.
    srv.stop();
    srv.spawn();
    assert_small(
        "INBOX (SMTP, deliver, APPEND, MOVE)",
        &py(&srv, r#"measure("INBOX", ["smtp", "deliver", "append", "import"])"#),
    );
    assert_small("Copies (import, COPY)", &py(&srv, r#"measure("Copies", ["import"])"#));
}

/// Appends `n` large messages without a summary, as versions before issue 13 stored
/// SMTP, `deliver` and mbox imports.
fn append_legacy(srv: &Server, n: usize) {
    let store = srv.home.store();
    let mut f = store.open_folder("INBOX").unwrap();
    let script = format!("import os\nos.environ['T_N'] = '{N}'\nos.environ['T_SIZE'] = '{SIZE}'\n{}\nimport sys\nfor i in range({n}): sys.stdout.buffer.write(big('legacy', i).hex().encode() + b'\\n')", PY.replace("PID", "0"));
    let out =
        std::process::Command::new("python3").arg("-c").arg(format!("import imaplib\n{script}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut msgs = Vec::new();
    for line in text.lines() {
        let body: Vec<u8> =
            (0..line.len() / 2).map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).unwrap()).collect();
        let mut spool = letterbox::util::Spool::new(&store.tmp_dir(), 1 << 20);
        spool.write(&body).unwrap();
        msgs.push(letterbox::store::NewMessage {
            body: spool,
            date: 0,
            flags: 0,
            keywords: Vec::new(),
            meta: Vec::new(),
            attrs: 0,
        });
    }
    assert_eq!(msgs.len(), n, "{}", String::from_utf8_lossy(&out.stderr));
    f.append(&mut msgs).unwrap();
}

#[test]
fn summaries_of_old_messages_are_computed_once_and_kept() {
    let mut srv = Server::start("meta-legacy", "", "message_size = 10000000");
    append_legacy(&srv, N);
    // First use: parsed (the bodies are read once) ...
    let (n, fetch, _, _) = deltas(&py(&srv, r#"measure("INBOX", ["legacy"])"#));
    assert_eq!(n, N as u64);
    assert!(fetch >= (N * SIZE) as u64, "the first FETCH read only {fetch} bytes: nothing was parsed?");
    let cache = srv.home.data().join("INBOX.mcx");
    assert!(file_len(&cache) > 20, "no meta cache written");
    // ... and after a restart never again.
    srv.stop();
    srv.spawn();
    assert_small("legacy after restart", &py(&srv, r#"measure("INBOX", ["legacy"])"#));
    check_clean(&srv.home);
    // Compaction folds the cached summaries into the records and drops the cache.
    srv.stop();
    let out = srv.home.run(&["compact"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!cache.exists(), "meta cache left after compaction");
    let store = srv.home.store();
    let f = store.open_folder("INBOX").unwrap();
    for e in f.entries() {
        let meta = f.meta(e).unwrap();
        let s = letterbox::mime::MimeSummary::from_meta(&meta).expect("summary folded into the record");
        assert!(s.header_fields.is_some());
    }
    srv.spawn();
    assert_small("legacy after compaction", &py(&srv, r#"measure("INBOX", ["legacy"])"#));
    assert!(!cache.exists(), "meta cache recreated for messages that have a summary");
}
