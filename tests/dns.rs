//! The stub resolver (`net::dns::StubResolver`) against real DNS servers on loopback:
//! dnsmasq (Debian's dnsmasq-base) serving MX, A, AAAA, TXT and CNAME records, and a small
//! hostile server in Python for the bad answers of issue 14 (truncated, garbage, spoofed
//! IDs, silent, CNAME loops, oversized, a TCP answer cut short).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use letterbox::dns::{DnsError, Rdata, Resolver, Rtype};
use letterbox::net::dns::StubResolver;

struct Peer {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dnsmasq() -> Peer {
    let port = common::free_port();
    let log = std::env::temp_dir().join(format!("letterbox-dnsmasq-{}-{port}.log", std::process::id()));
    let key = "p=".to_owned() + &"A".repeat(400);
    let child = Command::new("/usr/sbin/dnsmasq")
        .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces"])
        .args(["--listen-address=127.0.0.1", "--log-queries", "--log-facility=-", "--pid-file="])
        .arg(format!("--port={port}"))
        .args(["--local=/example.test/", "--mx-host=example.test,mail.example.test,10"])
        .args(["--mx-host=example.test,backup.example.test,20"])
        .args([
            "--host-record=mail.example.test,192.0.2.10,2001:db8::10",
            "--host-record=backup.example.test,192.0.2.20",
        ])
        .arg("--txt-record=example.test,v=spf1 mx -all")
        .arg(format!("--txt-record=lb1._domainkey.example.test,v=DKIM1; k=rsa; ,{key}"))
        .args(["--cname=www.example.test,mail.example.test"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("dnsmasq (scripts/deps.sh installs dnsmasq-base)");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    common::wait_for_dns(addr, "ready.example.test");
    Peer { child, addr, log }
}

fn queries_logged(p: &Peer, name: &str) -> usize {
    let log = std::fs::read_to_string(&p.log).unwrap_or_default();
    log.lines().filter(|l| l.contains("query[") && l.contains(&format!(" {name} from"))).count()
}

#[test]
fn dnsmasq_mx_a_aaaa_txt_cname_nxdomain_nodata_and_the_cache() {
    let p = dnsmasq();
    let r = StubResolver::new(p.addr);
    let lookup = |n: &str, t| smol::block_on(r.lookup(n, t));
    let mut mx = lookup("Example.TEST.", Rtype::Mx).unwrap();
    mx.sort_by_key(|m| match m {
        Rdata::Mx { preference, .. } => *preference,
        _ => 0,
    });
    assert_eq!(
        mx,
        vec![
            Rdata::Mx { preference: 10, exchange: "mail.example.test".into() },
            Rdata::Mx { preference: 20, exchange: "backup.example.test".into() },
        ]
    );
    assert_eq!(lookup("mail.example.test", Rtype::A), Ok(vec![Rdata::A([192, 0, 2, 10].into())]));
    assert_eq!(lookup("mail.example.test", Rtype::Aaaa), Ok(vec![Rdata::Aaaa("2001:db8::10".parse().unwrap())]));
    assert_eq!(lookup("example.test", Rtype::Txt), Ok(vec![Rdata::Txt(b"v=spf1 mx -all".to_vec())]));
    // Two character-strings (the second over 255 bytes is split by dnsmasq) joined again.
    let dkim = lookup("lb1._domainkey.example.test", Rtype::Txt).unwrap();
    let want = format!("v=DKIM1; k=rsa; p={}", "A".repeat(400));
    assert_eq!(dkim, vec![Rdata::Txt(want.into_bytes())]);
    // CNAME followed to the target's records.
    assert_eq!(lookup("www.example.test", Rtype::A), Ok(vec![Rdata::A([192, 0, 2, 10].into())]));
    assert_eq!(lookup("nobody.example.test", Rtype::Mx), Err(DnsError::NxDomain));
    assert_eq!(lookup("mail.example.test", Rtype::Mx), Ok(vec![]), "NODATA");
    // Cached: asking again does not reach the server.
    let before = queries_logged(&p, "mail.example.test");
    assert!(before >= 3, "dnsmasq logged {before} queries for mail.example.test");
    for _ in 0..5 {
        assert!(lookup("mail.example.test", Rtype::A).is_ok());
        assert_eq!(lookup("nobody.example.test", Rtype::Mx), Err(DnsError::NxDomain));
    }
    assert_eq!(queries_logged(&p, "mail.example.test"), before, "answers came from the cache");
    assert_eq!(queries_logged(&p, "nobody.example.test"), 1, "NXDOMAIN is cached");
    assert!(r.cached() >= 6);
}

/// A DNS server whose answers depend on the name asked (see the module docs).
const HOSTILE: &str = r#"
import socket, struct, sys, threading
PORT = int(sys.argv[1])
def qparse(q):
    i = 12; labels = []
    while q[i]:
        labels.append(q[i+1:i+1+q[i]].decode().lower()); i += 1 + q[i]
    return struct.unpack(">H", q[:2])[0], ".".join(labels), q[12:i+5]
def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
def rr(n, t, data, ttl=60):
    return name(n) + struct.pack(">HHIH", t, 1, ttl, len(data)) + data
def msg(qid, qsec, answers, rcode=0, tc=False):
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    return struct.pack(">HHHHHH", qid, flags, 1, len(answers), 0, 0) + qsec + b"".join(answers)
def answer(q, tcp):
    qid, n, qsec = qparse(q)
    a = lambda ip: rr(n, 1, socket.inet_aton(ip))
    if n == "trunc.bad.test":
        return [msg(qid, qsec, [a("192.0.2.7")])] if tcp else [msg(qid, qsec, [], tc=True)]
    if n == "spoofed.bad.test":
        return [b"\xff" * 40, msg(qid ^ 1, qsec, [a("203.0.113.66")]), msg(qid, qsec, [a("192.0.2.8")])]
    if n == "garbage.bad.test":
        return [b"\x00" * 3, struct.pack(">H", qid) + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\xc0\x0c"]
    if n == "silent.bad.test":
        return []
    if n == "loop.bad.test":
        return [msg(qid, qsec, [rr(n, 5, name("loop2.bad.test")), rr("loop2.bad.test", 5, name(n))])]
    if n.startswith("chain") and n.endswith(".bad.test"):
        k = int(n[5:-9] or 0)
        return [msg(qid, qsec, [rr(n, 5, name("chain%d.bad.test" % (k + 1)))])] if k < 20 else [msg(qid, qsec, [a("192.0.2.9")])]
    if n == "many.bad.test":
        many = [a("10.0.%d.%d" % (i // 250, i % 250)) for i in range(2000)]
        return [msg(qid, qsec, many)] if tcp else [msg(qid, qsec, [], tc=True)]
    if n == "cut.bad.test":
        return [b"cut"] if tcp else [msg(qid, qsec, [], tc=True)]
    return [msg(qid, qsec, [], rcode=3)]
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", PORT))
    while True:
        q, peer = s.recvfrom(4096)
        for r in answer(q, False):
            s.sendto(r, peer)
def tcp_client(c):
    try:
        ln = struct.unpack(">H", c.recv(2))[0]; q = c.recv(ln)
        for r in answer(q, True):
            if r == b"cut":
                c.sendall(struct.pack(">H", 65535) + b"\0" * 100)
            else:
                c.sendall(struct.pack(">H", len(r)) + r)
    finally:
        c.close()
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", PORT)); s.listen(8)
    while True:
        c, _ = s.accept(); threading.Thread(target=tcp_client, args=(c,), daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

fn hostile() -> Peer {
    let port = common::free_port();
    let mut child = Command::new("python3")
        .args(["-c", HOSTILE, &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    Peer { child, addr: ([127, 0, 0, 1], port).into(), log: std::path::PathBuf::new() }
}

#[test]
fn hostile_answers_truncated_spoofed_garbage_silent_looped_oversized_and_cut() {
    let p = hostile();
    let r = StubResolver::with_timeout(p.addr, Duration::from_millis(300));
    let lookup = |n: &str| smol::block_on(r.lookup(n, Rtype::A));
    assert_eq!(lookup("trunc.bad.test"), Ok(vec![Rdata::A([192, 0, 2, 7].into())]), "TC: asked again over TCP");
    assert_eq!(lookup("spoofed.bad.test"), Ok(vec![Rdata::A([192, 0, 2, 8].into())]), "wrong ID ignored");
    assert_eq!(lookup("garbage.bad.test"), Err(DnsError::Temporary));
    assert_eq!(lookup("silent.bad.test"), Err(DnsError::Temporary));
    assert_eq!(lookup("loop.bad.test"), Err(DnsError::Invalid));
    assert_eq!(lookup("chain0.bad.test"), Err(DnsError::Invalid), "a chain of 20 CNAMEs is over the limit");
    assert_eq!(lookup("chain15.bad.test"), Ok(vec![Rdata::A([192, 0, 2, 9].into())]), "5 links are fine");
    let many = lookup("many.bad.test").unwrap();
    assert_eq!(many.len(), letterbox::dns::wire::RECORDS_MAX, "2,000 records over TCP: the first 64 kept");
    assert_eq!(lookup("cut.bad.test"), Err(DnsError::Temporary), "a TCP answer cut short");
    assert_eq!(lookup("other.bad.test"), Err(DnsError::NxDomain));
    // Temporary failures are not cached; nothing is kept for the silent name.
    assert_eq!(lookup("silent.bad.test"), Err(DnsError::Temporary));
}
