//! The HTTP listeners of `letterbox serve` (issue 18) read by real consumers: curl fetches
//! every document over http and https; lxml (python3-lxml) parses the XML ones, plistlib the
//! Apple profile, a parser written from the RFC 8461 §3.2 ABNF the MTA-STS policy; headless
//! Chromium renders the help page (a screenshot that is a real, non-blank PNG) and every
//! link in its DOM answers 200. Then hostile clients: a 1 MB request line, 10,000 header
//! fields, dot segments and NULs in paths, an oversized POST, chunked uploads, HTTP/0.9,
//! TLS garbage, slowloris on both ports; the server answers each with its status and keeps
//! serving.
#![cfg(feature = "web")]

mod common;

use std::process::{Command, Stdio};

use common::*;
use letterbox::config::Config;
use letterbox::web::autoconfig;

/// A server with both HTTP listeners on loopback; returns it and the (http, https) ports.
fn start(name: &str, limits: &str) -> (Server, u16, u16) {
    let (http, https) = (free_port(), free_port());
    let listen = format!("http = [\"127.0.0.1:{http}\"]\nhttps = [\"127.0.0.1:{https}\"]\n");
    let srv = Server::start_listen(name, "", &listen, limits, &[]);
    wait_port(&srv, http);
    (srv, http, https)
}

fn wait_port(srv: &Server, port: u16) {
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("port {port} never opened:\n{}", srv.log_text());
}

/// curl `-sS -w "%{http_code}"`: (status, body).
fn fetch(args: &[&str]) -> (u16, Vec<u8>) {
    let mut out = curl(&[&["-k", "-w", "\n%{http_code}"], args].concat());
    let nl = out.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&out[nl + 1..]).parse().unwrap();
    out.truncate(nl);
    (code, out)
}

/// /usr/bin/python3 (Debian's lxml) on `script` with `args`; its stdout, asserting success.
fn python(script: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let o = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("/usr/bin/python3");
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "python failed:\n{out}\n{err}");
    out.into_owned()
}

/// lxml, plistlib and the RFC 8461 grammar on the fetched documents; argv: tb.xml ad.xml
/// profile.mobileconfig mta-sts.txt.
const CONSUMERS: &str = r#"
import sys, re, plistlib
from lxml import etree
tb, ad, mc, sts = sys.argv[1:5]
parser = etree.XMLParser(resolve_entities=False, no_network=True)
root = etree.parse(tb, parser).getroot()
assert root.tag == "clientConfig" and root.get("version") == "1.1"
(p,) = root.findall("emailProvider")
for e in p.iter("incomingServer", "outgoingServer"):
    assert e.get("type") in ("imap", "pop3", "smtp")
    assert e.findtext("socketType") in ("SSL", "STARTTLS")
    assert 0 < int(e.findtext("port")) < 65536 and e.findtext("hostname") == "example.org"
    assert e.findtext("username") == "alice"
kinds = [e.get("type") for e in p.iter("incomingServer")]
assert kinds == ["imap", "imap", "pop3", "pop3"], kinds
NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
root = etree.parse(ad, parser).getroot()
assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover"
types = [e.findtext(NS + "Type") for e in root.iter(NS + "Protocol")]
assert types == ["IMAP", "SMTP", "POP3"], types
pl = plistlib.loads(open(mc, "rb").read())
(acc,) = pl["PayloadContent"]
assert acc["PayloadType"] == "com.apple.mail.managed" and acc["EmailAddress"] == "alice@example.org"
assert acc["IncomingMailServerUseSSL"] is True and acc["IncomingMailServerHostName"] == "example.org"
# RFC 8461 §3.2: sts-policy-record = *WSP sts-policy-field *WSP *(sts-policy-term ...) with
# CRLF (or LF) terminated `key: value` fields; version first, mode, max_age, mx.
text = open(sts, "rb").read().decode("ascii")
assert text.endswith("\r\n")
fields = [l for l in text.split("\r\n")[:-1]]
FIELD = re.compile(r"^([A-Za-z0-9_]{1,32}):[ \t]*([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)[ \t]*$")
kv = [FIELD.match(f).group(1, 2) for f in fields]
assert kv[0] == ("version", "STSv1"), kv
d = {}
for k, v in kv: d.setdefault(k, []).append(v)
assert d["mode"] in (["testing"], ["enforce"], ["none"]), d
assert re.fullmatch(r"[0-9]{1,10}", d["max_age"][0]) and int(d["max_age"][0]) <= 31557600
for mx in d["mx"]:
    assert re.fullmatch(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?", mx) or re.fullmatch(r"[A-Za-z0-9-]+", mx), mx
print("consumers ok")
"#;

const AUTODISCOVER_REQUEST: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>alice@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";

/// Every document over http and https, byte-equal to `web::autoconfig`'s and read by its
/// consumer; the MTA-STS policy only on its host over HTTPS; unknown ACME tokens are 404.
#[test]
fn documents_served_to_real_consumers() {
    let (srv, http, https) = start("web-http-docs", "");
    let cfg = Config::load(&srv.home.config()).unwrap();
    let (h, s) = (format!("http://127.0.0.1:{http}"), format!("https://127.0.0.1:{https}"));
    let tb_expected = autoconfig::thunderbird(&cfg).unwrap();
    for base in [&h, &s] {
        for path in ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"] {
            let (code, body) = fetch(&[&format!("{base}{path}?emailaddress=alice%40example.org")]);
            assert_eq!((code, String::from_utf8(body).unwrap()), (200, tb_expected.clone()), "{base}{path}");
        }
        for path in ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"] {
            let (code, body) = fetch(&[
                "-H",
                "Content-Type: text/xml",
                "--data-binary",
                AUTODISCOVER_REQUEST,
                &format!("{base}{path}"),
            ]);
            assert_eq!((code, String::from_utf8(body).unwrap()), (200, autoconfig::autodiscover(&cfg).unwrap()));
            assert_eq!(fetch(&[&format!("{base}{path}")]).0, 405, "GET {path}");
        }
    }
    let (code, profile) = fetch(&[&format!("{s}/mail.mobileconfig")]);
    assert_eq!((code, profile.clone()), (200, autoconfig::mobileconfig(&cfg).unwrap().into_bytes()));
    let head = curl(&["-k", "-sI", &format!("{s}/mail.mobileconfig")]);
    assert!(String::from_utf8_lossy(&head).contains("Content-Type: application/x-apple-aspen-config"));
    let resolve = format!("mta-sts.example.org:{https}:127.0.0.1");
    let policy_url = format!("https://mta-sts.example.org:{https}/.well-known/mta-sts.txt");
    let (code, policy) = fetch(&["--resolve", &resolve, &policy_url]);
    assert_eq!((code, String::from_utf8(policy.clone()).unwrap()), (200, autoconfig::mta_sts_policy(&cfg)));
    assert_eq!(fetch(&[&format!("{s}/.well-known/mta-sts.txt")]).0, 404, "policy off its host");
    let plain = format!("http://mta-sts.example.org:{http}/.well-known/mta-sts.txt");
    assert_eq!(fetch(&["--resolve", &format!("mta-sts.example.org:{http}:127.0.0.1"), &plain]).0, 404);
    assert_eq!(fetch(&[&format!("{h}/.well-known/acme-challenge/unknownToken")]).0, 404);

    let (tb, ad) = (srv.home.dir.join("tb.xml"), srv.home.dir.join("ad.xml"));
    let (mc, sts) = (srv.home.dir.join("p.mobileconfig"), srv.home.dir.join("mta-sts.txt"));
    std::fs::write(&tb, tb_expected).unwrap();
    std::fs::write(&ad, autoconfig::autodiscover(&cfg).unwrap()).unwrap();
    std::fs::write(&mc, profile).unwrap();
    std::fs::write(&sts, policy).unwrap();
    let args: Vec<&str> = [&tb, &ad, &mc, &sts].iter().map(|p| p.to_str().unwrap()).collect();
    assert!(python(CONSUMERS, &args, &[]).contains("consumers ok"));
}

/// Checks the screenshot (PNG signature, IHDR size, several distinct pixel values across the
/// image) and fetches every href of the dumped DOM; argv: png, dom, base URL.
const PAGE_CHECK: &str = r#"
import sys, struct, zlib, subprocess
from html.parser import HTMLParser
png, dom, base = sys.argv[1:4]
data = open(png, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (800, 1000), (w, h)
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
assert len(set(raw[:len(raw) // 4])) > 8, "top of the page is blank"
class Links(HTMLParser):
    def __init__(self):
        super().__init__(); self.hrefs = []; self.text = ""
    def handle_starttag(self, tag, attrs):
        if tag == "a": self.hrefs += [v for k, v in attrs if k == "href"]
    def handle_data(self, d): self.text += d
p = Links(); p.feed(open(dom, encoding="utf-8").read())
assert "Settings to type by hand" in p.text and "IN MX 10 example.org." in p.text, p.text[:500]
assert "postmaster" not in p.text, "aliases are not listed"
assert len(p.hrefs) >= 2, p.hrefs
for href in p.hrefs:
    code = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", base + href], capture_output=True, text=True).stdout
    assert code == "200", (href, code)
print("page ok", len(p.hrefs), "links")
"#;

/// The help page in headless Chromium: it renders (a non-blank 800×1000 screenshot), its DOM
/// has the settings and the DNS records, and every link on it answers 200.
#[test]
fn help_page_renders_in_chromium() {
    let (srv, http, _) = start("web-http-page", "");
    let url = format!("http://127.0.0.1:{http}/");
    let png = srv.home.dir.join("page.png");
    let profile = srv.home.dir.join("chromium-profile");
    let chromium = |extra: &[&str]| {
        // coreutils timeout: a wedged browser fails the test instead of hanging CI.
        let o = Command::new("timeout")
            .args([
                "120",
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=800,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .stdin(Stdio::null())
            .output()
            .expect("chromium (scripts/deps.sh installs it)");
        assert!(o.status.success(), "chromium: {}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    chromium(&[&format!("--screenshot={}", png.display())]);
    let dom = srv.home.dir.join("dom.html");
    std::fs::write(&dom, chromium(&["--dump-dom"])).unwrap();
    let said = python(PAGE_CHECK, &[png.to_str().unwrap(), dom.to_str().unwrap(), &url[..url.len() - 1]], &[]);
    assert!(said.contains("page ok"), "{said}");
}

/// Raw-socket clients; argv: http port, https port. Prints one verdict line per case.
const HOSTILE: &str = r#"
import socket, ssl, sys, threading, time
HTTP, HTTPS = int(sys.argv[1]), int(sys.argv[2])
def exchange(data, port=HTTP, tls=False, chunk=65536):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    if tls:
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    def send():
        try:
            for i in range(0, len(data), chunk): s.sendall(data[i:i + chunk])
        except OSError: pass
    # An SSL socket must not be written and read by two threads at once (OpenSSL): over TLS
    # the request goes first (the server drains what it refuses), then the answer is read.
    t = threading.Thread(target=send if not tls else (lambda: None)); t.start()
    if tls: send()
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            got += d
    except OSError: pass
    t.join(); s.close()
    return got
def status(got):
    return got.split(b"\r\n", 1)[0].decode("latin-1")
cases = {
    "1MB request line": b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    "10000 headers": b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Field: value\r\n" * 10000 + b"\r\n",
    "dot segments": b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n",
    "encoded dot segments": b"GET /%2e%2e/%2e%2e/letterbox.toml HTTP/1.1\r\nHost: h\r\n\r\n",
    "challenge traversal": b"GET /.well-known/acme-challenge/..%2f..%2fletterbox.toml HTTP/1.1\r\nHost: h\r\n\r\n",
    "NUL in path": b"GET /mail/config-v1.1.xml\x00.txt HTTP/1.1\r\nHost: h\r\n\r\n",
    "big POST": b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n" + b"x" * (1 << 20),
    "chunked POST": b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n",
    "garbage": bytes(range(256)) * 4 + b"\r\n\r\n",
    "TLS on http": bytes.fromhex("16030100c4010000c00303") + bytes(200) + b"\r\n\r\n",
}
for name, data in cases.items():
    print(name, "=>", status(exchange(data)))
print("https 10000 headers =>", status(exchange(cases["10000 headers"], HTTPS, tls=True)))
s = socket.create_connection(("127.0.0.1", HTTPS), timeout=15)
s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" + bytes(range(256)) * 64)
try: got = s.recv(4096)
except OSError: got = b""
print("plaintext on https =>", "closed" if not got or not got.startswith(b"HTTP") else status(got))
"#;

/// BAD-INPUTS 108 and 109 against the real binary: each hostile request gets its status (or,
/// for TLS mismatches, a close), no file is ever served, and the server keeps answering.
#[test]
fn hostile_http_clients() {
    let (srv, http, https) = start("web-http-hostile", "");
    let args = [http.to_string(), https.to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A first round warms the allocator and TLS up; a second may not grow the server.
    let said = python(HOSTILE, &args, &[]);
    let rss_before = srv.status_kib("VmRSS:");
    assert_eq!(python(HOSTILE, &args, &[]), said, "the same answers twice");
    let verdict = |case: &str| {
        said.lines()
            .find_map(|l| l.strip_prefix(&format!("{case} => ")))
            .unwrap_or_else(|| panic!("no verdict for {case}:\n{said}"))
            .to_owned()
    };
    let expect = [
        ("1MB request line", "HTTP/1.1 414 URI Too Long"),
        ("10000 headers", "HTTP/1.1 431 Request Header Fields Too Large"),
        ("dot segments", "HTTP/1.1 404 Not Found"),
        ("encoded dot segments", "HTTP/1.1 404 Not Found"),
        ("challenge traversal", "HTTP/1.1 404 Not Found"),
        ("NUL in path", "HTTP/1.1 400 Bad Request"),
        ("big POST", "HTTP/1.1 413 Content Too Large"),
        ("chunked POST", "HTTP/1.1 411 Length Required"),
        ("HTTP/0.9", "HTTP/1.1 400 Bad Request"),
        ("garbage", "HTTP/1.1 400 Bad Request"),
        ("TLS on http", "HTTP/1.1 400 Bad Request"),
        ("https 10000 headers", "HTTP/1.1 431 Request Header Fields Too Large"),
        ("plaintext on https", "closed"),
    ];
    for (case, status) in expect {
        assert_eq!(verdict(case), status, "{case}\n{said}");
    }
    let (code, body) = fetch(&[&format!("http://127.0.0.1:{http}/mail/config-v1.1.xml")]);
    assert_eq!(code, 200, "still serving");
    assert!(body.starts_with(b"<?xml"));
    let grew = srv.status_kib("VmRSS:").saturating_sub(rss_before);
    assert!(grew < 1024, "RSS grew {grew} KiB on the second round");
    assert!(srv.log_text().contains("https 127.0.0.1"), "TLS failures are logged");
}

/// BAD-INPUTS 110: slowloris on both ports. A client dribbling a request one byte every
/// 200 ms gets 408 at `http_timeout`; a dribbled ClientHello on https is cut at
/// `tls_handshake_timeout`; a normal client is served meanwhile.
#[test]
fn http_slowloris_cut() {
    let (_srv, http, https) = start("web-http-slow", "http_timeout = 2\ntls_handshake_timeout = 2");
    let script = r#"
import socket, sys, time, threading
HTTP, HTTPS = int(sys.argv[1]), int(sys.argv[2])
def dribble(port, payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.settimeout(0.2); t0 = time.time(); got = b""
    for b in payload:
        try:
            s.sendall(bytes([b]))
            d = s.recv(4096)
            if not d: return ("closed", round(time.time() - t0, 1), got)
            got += d
        except socket.timeout: continue
        except OSError: return ("closed", round(time.time() - t0, 1), got)
    return ("open", round(time.time() - t0, 1), got)
res = {}
def run(name, port, payload): res[name] = dribble(port, payload)
hello = bytes.fromhex("16030100c4010000c00303") + bytes(32) + bytes.fromhex("000004130113020100009300000000") + bytes(150)
ts = [threading.Thread(target=run, args=("http", HTTP, b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 200)),
      threading.Thread(target=run, args=("https", HTTPS, hello))]
for t in ts: t.start()
time.sleep(0.5)
import subprocess
code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/" % HTTP], capture_output=True, text=True).stdout
for t in ts: t.join()
print("normal", code)
for k, (state, secs, got) in res.items():
    print(k, state, secs, got.split(b"\r\n", 1)[0].decode("latin-1"))
"#;
    let said = python(script, &[&http.to_string(), &https.to_string()], &[]);
    assert!(said.contains("normal 200"), "{said}");
    let line = |k: &str| said.lines().find(|l| l.starts_with(&format!("{k} "))).unwrap().to_owned();
    let http_line = line("http");
    let f: Vec<&str> = http_line.split(' ').collect();
    assert_eq!(f[1], "closed", "{said}");
    let secs: f64 = f[2].parse().unwrap();
    assert!((1.5..8.0).contains(&secs), "cut after {secs} s: {said}");
    assert!(http_line.ends_with("HTTP/1.1 408 Request Timeout"), "{said}");
    let https_line = line("https");
    let secs: f64 = https_line.split(' ').nth(2).unwrap().parse().unwrap();
    assert!(https_line.starts_with("https closed") && (1.5..8.0).contains(&secs), "{said}");
}

/// The help page asks the resolver (dnsmasq here) which records are still missing: the MX
/// and SPF published are not listed, DMARC, MTA-STS and TLSRPT are.
#[test]
fn help_page_lists_the_records_still_missing() {
    let dns = dnsmasq(&[
        "--local=/example.org/".to_owned(),
        "--mx-host=example.org,example.org,10".to_owned(),
        "--txt-record=example.org,v=spf1 mx -all".to_owned(),
    ]);
    let (http, https) = (free_port(), free_port());
    let listen = format!("http = [\"127.0.0.1:{http}\"]\nhttps = [\"127.0.0.1:{https}\"]\n");
    let resolver = format!("\n[outbound]\nresolver = \"127.0.0.1:{}\"\n", dns.port);
    let srv = Server::start_listen("web-http-missing", "", &listen, &resolver, &[]);
    wait_port(&srv, http);
    let (code, page) = fetch(&[&format!("http://127.0.0.1:{http}/")]);
    assert_eq!(code, 200);
    let page = String::from_utf8(page).unwrap();
    let missing = page.split("<pre id=\"missing\">").nth(1).and_then(|m| m.split("</pre>").next());
    let missing = missing.unwrap_or_else(|| panic!("no missing list:\n{page}"));
    assert!(!missing.contains("example.org. IN MX") && !missing.contains("v=spf1"), "{missing}");
    for owner in ["_dmarc.example.org. IN TXT", "_mta-sts.example.org. IN TXT", "_smtp._tls.example.org. IN TXT"] {
        assert!(missing.lines().any(|l| l.starts_with(owner)), "{owner} not listed:\n{missing}");
    }
    assert!(page.contains("example.org. IN MX 10 example.org."), "the full list stays");
}
