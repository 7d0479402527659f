//! `letterbox dns` and the autoconfig documents (issue 18) read by real consumers: the printed
//! records, wrapped in an SOA and NS, must load in BIND's `named-checkzone` (Debian
//! bind9-utils, strict checks) and in dnspython's zone parser (python3-dnspython) with the
//! type and data of every record checked; the Thunderbird and autodiscover XML in
//! `xmllint` (libxml2-utils) and Python's xml.etree, field by field; the `.mobileconfig` in
//! Python's plistlib; the MTA-STS policy in a parser written from the RFC 8461 §3.2 ABNF.
#![cfg(feature = "web")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::Home;
use letterbox::config::Config;
use letterbox::web::{autoconfig, zone};

const LISTEN: &str = "[listen]\nsmtp = [\"5.6.7.8:25\", \"[2a01:4f8::25]:25\"]\nsubmission = [\"0.0.0.0:587\"]\nsubmissions = [\"0.0.0.0:465\"]\nimap = []\nimaps = [\"[::]:993\"]\npop3 = []\npop3s = [\"0.0.0.0:995\"]\n";

fn python(script: &str, args: &[&Path]) -> String {
    let o = Command::new("/usr/bin/python3").arg("-c").arg(script).args(args).output().expect("/usr/bin/python3");
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "python failed:\n{out}\n{err}");
    out.into_owned()
}

fn make_rsa(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::set_permissions(path.parent().unwrap(), std::fs::Permissions::from_mode(0o700)).unwrap();
    common::make_rsa(path);
}

const ZONE_HEAD: &str = "$ORIGIN example.org.\n$TTL 3600\n@ IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600\n@ IN NS ns1.example.org.\nns1 IN A 5.6.7.9\n";

/// dnspython reads the zone; every record the command should print is checked by type and
/// data; argv: zone file, expected DKIM values (JSON), expected MTA-STS id.
const DNSPYTHON: &str = r#"
import sys, json, dns.zone, dns.rdatatype as T
z = dns.zone.from_text(open(sys.argv[1]).read(), origin="example.org.", relativize=False, check_origin=True)
dkim = json.loads(open(sys.argv[2]).read()); sts_id = sys.argv[3]
def rr(name, t):
    rs = z.get_rdataset(name + ("." if not name.endswith(".") else ""), t)
    assert rs is not None, (name, T.to_text(t))
    return list(rs)
def txt(name):
    (r,) = rr(name, T.TXT)
    assert all(len(s) <= 255 for s in r.strings)
    return b"".join(r.strings).decode()
(mx,) = rr("example.org", T.MX)
assert (mx.preference, mx.exchange.to_text()) == (10, "mail.example.org."), mx
assert txt("example.org") == "v=spf1 mx -all"
assert [r.address for r in rr("mail.example.org", T.A)] == ["5.6.7.8"]
assert [r.address for r in rr("mail.example.org", T.AAAA)] == ["2a01:4f8::25"]
for sel, value in dkim.items():
    assert txt(sel + "._domainkey.example.org") == value, sel
(rsa,) = rr("lb1-rsa._domainkey.example.org", T.TXT)
assert len(rsa.strings) >= 2, "a 2048-bit RSA record needs more than one string"
assert txt("_dmarc.example.org") == "v=DMARC1; p=quarantine; rua=mailto:alice@example.org"
assert txt("_mta-sts.example.org") == "v=STSv1; id=" + sts_id
assert txt("_smtp._tls.example.org") == "v=TLSRPTv1; rua=mailto:alice@example.org"
srv = {n: [(r.priority, r.weight, r.port, r.target.to_text()) for r in rr(n + "._tcp.example.org", T.SRV)]
       for n in ["_submissions", "_submission", "_imaps", "_imap", "_pop3s", "_pop3"]}
assert srv == {"_submissions": [(0, 1, 465, "mail.example.org.")], "_submission": [(10, 1, 587, "mail.example.org.")],
               "_imaps": [(0, 1, 993, "mail.example.org.")], "_imap": [(0, 0, 0, ".")],
               "_pop3s": [(20, 1, 995, "mail.example.org.")], "_pop3": [(0, 0, 0, ".")]}, srv
for n in ["autoconfig", "autodiscover", "mta-sts"]:
    (c,) = rr(n + ".example.org", T.CNAME)
    assert c.target.to_text() == "mail.example.org.", c
names = sorted(n.to_text() for n in z.nodes)
print(len(names), "names")
"#;

/// `letterbox dns`: strict named-checkzone, then dnspython record by record; its DKIM lines are
/// `letterbox dkim`'s (the key it created is the one `dkim` then finds, not a second one).
#[test]
fn dns_records_load_in_bind_and_dnspython() {
    let home = Home::with_config("web-dns", &format!("{LISTEN}[web]\nhost = \"mail.example.org\"\n"));
    make_rsa(&home.data().join("dkim/lb1.rsa.pem"));
    let out = home.run(&["dns"], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "letterbox dns: {stderr}");
    assert!(stderr.contains("created the DKIM key"), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.starts_with(';') || l.contains(". IN ")), "{text}");
    let dkim = home.run(&["dkim"], b"");
    let dkim_lines = String::from_utf8(dkim.stdout).unwrap();
    assert_eq!(dkim_lines.lines().count(), 2, "{dkim_lines}");
    for l in dkim_lines.lines() {
        assert!(text.lines().any(|t| t == l), "dkim line missing from dns: {l}");
    }
    let zone_file = home.dir.join("example.org.zone");
    std::fs::write(&zone_file, format!("{ZONE_HEAD}{text}")).unwrap();
    let check = Command::new("named-checkzone")
        .args(["-k", "fail", "-n", "fail", "-m", "fail", "-M", "fail", "-S", "fail", "-i", "full", "example.org"])
        .arg(&zone_file)
        .output()
        .expect("named-checkzone (Debian bind9-utils)");
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "named-checkzone:\n{said}{}", String::from_utf8_lossy(&check.stderr));
    assert!(said.contains("OK"), "{said}");

    let cfg = Config::load(&home.config()).unwrap();
    let keys = letterbox::mailauth::keys::KeySet::load(&cfg.data_dir, "lb1").unwrap();
    let values: Vec<String> = keys.keys.iter().map(|k| format!("\"{}\": \"{}\"", k.selector, k.record())).collect();
    let dkim_json = home.dir.join("dkim.json");
    std::fs::write(&dkim_json, format!("{{{}}}", values.join(", "))).unwrap();
    let id = zone::mta_sts_id(&autoconfig::mta_sts_policy(&cfg));
    let said = python(DNSPYTHON, &[&zone_file, &dkim_json, Path::new(&id)]);
    assert!(said.contains("names"), "{said}");
}

/// The Python consumers of the client documents; argv: thunderbird.xml autodiscover.xml
/// profile.mobileconfig mta-sts.txt, the expected display name (UTF-8 file).
const CONSUMERS: &str = r#"
import sys, re, plistlib, uuid, xml.etree.ElementTree as ET
tb, ad, mc, sts, name_file = sys.argv[1:6]
name = open(name_file, encoding="utf-8").read()
# Thunderbird clientConfig 1.1
root = ET.parse(tb).getroot()
assert root.tag == "clientConfig" and root.get("version") == "1.1"
(p,) = root.findall("emailProvider")
assert p.get("id") == "example.org" and p.findtext("domain") == "example.org"
assert p.findtext("displayName") == name, p.findtext("displayName")
def server(e):
    return (e.get("type"), e.findtext("hostname"), int(e.findtext("port")), e.findtext("socketType"),
            e.findtext("authentication"), e.findtext("username"))
assert [server(e) for e in p.findall("incomingServer")] == [
    ("imap", "mail.example.org", 993, "SSL", "password-cleartext", "alice"),
    ("pop3", "mail.example.org", 995, "SSL", "password-cleartext", "alice")], [server(e) for e in p.findall("incomingServer")]
assert [server(e) for e in p.findall("outgoingServer")] == [
    ("smtp", "mail.example.org", 465, "SSL", "password-cleartext", "alice"),
    ("smtp", "mail.example.org", 587, "STARTTLS", "password-cleartext", "alice")]
# Autodiscover POX response
R = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
root = ET.parse(ad).getroot()
assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover", root.tag
acct = root.find(R + "Response/" + R + "Account")
assert acct.findtext(R + "AccountType") == "email" and acct.findtext(R + "Action") == "settings"
protos = [(e.findtext(R + "Type"), e.findtext(R + "Server"), int(e.findtext(R + "Port")), e.findtext(R + "SSL"),
           e.findtext(R + "Encryption"), e.findtext(R + "LoginName")) for e in acct.findall(R + "Protocol")]
assert protos == [("IMAP", "mail.example.org", 993, "on", "SSL", "alice"), ("SMTP", "mail.example.org", 465, "on", "SSL", "alice"),
                  ("POP3", "mail.example.org", 995, "on", "SSL", "alice")], protos
# Apple configuration profile
pl = plistlib.loads(open(mc, "rb").read())
assert pl["PayloadType"] == "Configuration" and pl["PayloadVersion"] == 1
(acc,) = pl["PayloadContent"]
assert acc["PayloadType"] == "com.apple.mail.managed" and acc["PayloadVersion"] == 1
uuids = [uuid.UUID(pl["PayloadUUID"]), uuid.UUID(acc["PayloadUUID"])]
assert uuids[0] != uuids[1] and all(u.version == 8 and u.variant == uuid.RFC_4122 for u in uuids), uuids
assert acc["EmailAccountType"] == "EmailTypeIMAP" and acc["EmailAddress"] == "alice@example.org"
assert acc["EmailAccountDescription"] == name and pl["PayloadDisplayName"] == "Mail: " + name
want = {"IncomingMailServerHostName": "mail.example.org", "IncomingMailServerPortNumber": 993,
        "IncomingMailServerUseSSL": True, "IncomingMailServerUsername": "alice",
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": "mail.example.org", "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True, "OutgoingMailServerUsername": "alice",
        "OutgoingMailServerAuthentication": "EmailAuthPassword", "OutgoingPasswordSameAsIncomingPassword": True}
assert {k: acc[k] for k in want} == want, {k: acc.get(k) for k in want}
# MTA-STS policy: RFC 8461 section 3.2 ABNF, transcribed
raw = open(sts, "rb").read().decode("ascii")
WSP = "[ \t]"
DELIM = ":" + WSP + "*"
ALPHA_NUM = "[A-Za-z0-9]"
LABEL = "(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
DOMAIN = LABEL + r"(?:\." + LABEL + ")*"
FIELD = ("(?:version" + DELIM + "STSv1|mode" + DELIM + "(?:testing|enforce|none)|mx" + DELIM + r"(?:\*\.)?" + DOMAIN +
         "|max_age" + DELIM + "[0-9]{1,10}|" + ALPHA_NUM + "[A-Za-z0-9_.-]{0,31}" + DELIM + "[\x21-\x3a\x3c-\x7e](?:" + WSP + "*[\x21-\x3a\x3c-\x7e])*)")
TERM = r"(?:\r\n|\n)"
RECORD = FIELD + WSP + "*(?:" + TERM + FIELD + WSP + "*)*" + TERM + "?"
assert re.fullmatch(RECORD, raw), repr(raw)
fields = [l.split(":", 1) for l in re.split(TERM, raw) if l]
fields = [(k, v.strip(" \t")) for k, v in fields]
count = lambda k: sum(1 for f, _ in fields if f == k)
assert count("version") == count("mode") == count("max_age") == 1 and count("mx") >= 1, fields
d = dict(fields)
assert d["version"] == "STSv1" and d["mode"] == "testing" and int(d["max_age"]) <= 31557600
assert [v for k, v in fields if k == "mx"] == ["mail.example.org"]
print("consumers ok")
"#;

/// Thunderbird autoconfig, autodiscover, the Apple profile and the MTA-STS policy, for a
/// config whose display name is full of XML metacharacters (BAD-INPUTS 91).
#[test]
fn autoconfig_documents_parse_in_real_consumers() {
    let name = "Alice & <Bob>'s \"mail\" ]]> é";
    let toml_name = name.replace('\\', "\\\\").replace('"', "\\\"");
    let home = Home::with_config(
        "web-autoconfig",
        &format!("{LISTEN}[web]\nhost = \"mail.example.org\"\ndisplay_name = \"{toml_name}\"\n"),
    );
    let cfg = Config::load(&home.config()).unwrap();
    assert_eq!(cfg.web.display_name.as_deref(), Some(name));
    let files = [
        ("thunderbird.xml", autoconfig::thunderbird(&cfg).unwrap()),
        ("autodiscover.xml", autoconfig::autodiscover(&cfg).unwrap()),
        ("profile.mobileconfig", autoconfig::mobileconfig(&cfg).unwrap()),
        ("mta-sts.txt", autoconfig::mta_sts_policy(&cfg)),
        ("name.txt", name.to_owned()),
    ];
    let paths: Vec<_> = files
        .iter()
        .map(|(f, body)| {
            let p = home.dir.join(f);
            std::fs::write(&p, body).unwrap();
            p
        })
        .collect();
    for p in &paths[..3] {
        let o = Command::new("xmllint").arg("--noout").arg("--nonet").arg(p).output().expect("xmllint (libxml2-utils)");
        assert!(o.status.success(), "xmllint {}: {}", p.display(), String::from_utf8_lossy(&o.stderr));
    }
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    assert!(python(CONSUMERS, &refs).contains("consumers ok"));
}
