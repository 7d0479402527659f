//! SPF (`mailauth::spf`) against the RFC 7208 test suite of the openspf project, as Debian's
//! python3-spf ships it (/usr/share/doc/python3-spf/rfc7208-tests.yml.gz). The YAML is read
//! by Python (python3-yaml) and handed over as tab-separated hex fields; the zone data is
//! served by a resolver with the suite driver's rules (pyspf's testspf.py): SPF-type records
//! double as TXT when a name has no TXT, `TIMEOUT` makes the other types time out, names
//! under `error.` that are not in the zone time out, and a label over 63 octets is a DNS
//! error.
#![cfg(feature = "checks")]

use std::collections::HashMap;
use std::net::IpAddr;

use letterbox::dns::{DnsError, Rdata, Resolver, Rtype};
use letterbox::mailauth::spf::{self, Request, DEFAULT_EXPLANATION};

const SUITE: &str = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz";

const CONVERT: &str = r#"
import gzip, sys, yaml
h = lambda s: str(s).encode().hex()
for i, doc in enumerate(yaml.safe_load_all(gzip.open(sys.argv[1]))):
    for name, recs in doc["zonedata"].items():
        for r in recs:
            if r == "TIMEOUT":
                print("Z", i, h(name), "TIMEOUT", "", sep="\t"); continue
            for t, v in r.items():
                if t == "MX":
                    v = "%d %s" % (v[0], v[1])
                elif isinstance(v, list):
                    v = "\x1f".join(v)
                print("Z", i, h(name), t, h(v), sep="\t")
    for tname, t in doc["tests"].items():
        res = t["result"] if isinstance(t["result"], list) else [t["result"]]
        exp = h(t["explanation"]) if "explanation" in t else "-"
        print("T", i, tname, h(t["host"]), h(t["mailfrom"]), h(t["helo"]), ",".join(res), exp, sep="\t")
"#;

#[derive(Clone, Debug)]
enum Entry {
    Timeout,
    Rec(String, String),
}

/// One scenario's zone, answering as the suite's driver does (see the module docs).
#[derive(Default)]
struct SuiteZone {
    names: HashMap<String, Vec<Entry>>,
}

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect();
    String::from_utf8(bytes).unwrap()
}

fn type_name(t: Rtype) -> &'static str {
    match t {
        Rtype::A => "A",
        Rtype::Aaaa => "AAAA",
        Rtype::Mx => "MX",
        Rtype::Txt => "TXT",
        Rtype::Ptr => "PTR",
        Rtype::Cname => "CNAME",
        _ => "OTHER",
    }
}

impl SuiteZone {
    fn entries(&self, name: &str) -> Option<Vec<Entry>> {
        let e = self.names.get(name)?;
        let has_txt = e.iter().any(|x| matches!(x, Entry::Rec(t, _) if t == "TXT"));
        let mut out: Vec<Entry> = e.iter().filter(|x| !matches!(x, Entry::Rec(_, v) if v == "NONE")).cloned().collect();
        if !has_txt {
            out.extend(e.iter().filter_map(|x| match x {
                Entry::Rec(t, v) if t == "SPF" && v != "NONE" => Some(Entry::Rec("TXT".into(), v.clone())),
                _ => None,
            }));
        }
        Some(out)
    }

    fn answer(&self, name: &str, rtype: Rtype, depth: usize) -> Result<Vec<Rdata>, DnsError> {
        if name.split('.').any(|l| l.len() > 63) {
            return Err(DnsError::Temporary);
        }
        let name = name.split('.').filter(|l| !l.is_empty()).collect::<Vec<_>>().join(".").to_ascii_lowercase();
        let Some(entries) = self.entries(&name) else {
            return if name.starts_with("error.") { Err(DnsError::Temporary) } else { Err(DnsError::NxDomain) };
        };
        let want = type_name(rtype);
        let mut out = Vec::new();
        let mut seen_type = false;
        for e in entries {
            match e {
                Entry::Timeout if !seen_type => return Err(DnsError::Temporary),
                Entry::Timeout => {}
                Entry::Rec(t, v) if t == "CNAME" && rtype != Rtype::Cname && depth < 10 => {
                    return self.answer(&v, rtype, depth + 1);
                }
                Entry::Rec(t, v) if t == want => {
                    seen_type = true;
                    out.push(rdata(rtype, &v));
                }
                Entry::Rec(..) => {}
            }
        }
        Ok(out)
    }
}

fn rdata(t: Rtype, v: &str) -> Rdata {
    match t {
        Rtype::A => Rdata::A(v.parse().unwrap()),
        Rtype::Aaaa => Rdata::Aaaa(v.parse().unwrap()),
        Rtype::Mx => {
            let (p, h) = v.split_once(' ').unwrap();
            Rdata::Mx { preference: p.parse().unwrap(), exchange: h.trim_end_matches('.').to_ascii_lowercase() }
        }
        Rtype::Txt => Rdata::Txt(v.split('\x1f').collect::<String>().into_bytes()),
        _ => Rdata::Name(v.trim_end_matches('.').to_ascii_lowercase()),
    }
}

impl Resolver for SuiteZone {
    async fn lookup(&self, name: &str, rtype: Rtype) -> Result<Vec<Rdata>, DnsError> {
        self.answer(name, rtype, 0)
    }
}

struct Case {
    scenario: usize,
    name: String,
    host: String,
    mailfrom: String,
    helo: String,
    results: Vec<String>,
    explanation: Option<String>,
}

fn load() -> (Vec<SuiteZone>, Vec<Case>) {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", CONVERT, SUITE])
        .output()
        .expect("/usr/bin/python3 with python3-yaml and python3-spf (scripts/deps.sh)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut zones: Vec<SuiteZone> = Vec::new();
    let mut cases = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let i: usize = f[1].parse().unwrap();
        while zones.len() <= i {
            zones.push(SuiteZone::default());
        }
        match f[0] {
            "Z" => {
                let e = if f[3] == "TIMEOUT" { Entry::Timeout } else { Entry::Rec(f[3].into(), unhex(f[4])) };
                zones[i].names.entry(unhex(f[2]).to_ascii_lowercase()).or_default().push(e);
            }
            _ => cases.push(Case {
                scenario: i,
                name: f[2].into(),
                host: unhex(f[3]),
                mailfrom: unhex(f[4]),
                helo: unhex(f[5]),
                results: f[6].split(',').map(str::to_owned).collect(),
                explanation: (f[7] != "-").then(|| unhex(f[7])),
            }),
        }
    }
    (zones, cases)
}

#[test]
fn rfc7208_test_suite() {
    let (zones, cases) = load();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    let mut failed = Vec::new();
    for c in &cases {
        let ip: IpAddr = c.host.parse().unwrap();
        let req = Request { ip, sender: &c.mailfrom, helo: &c.helo, receiver: "unknown", now: 0 };
        let zone = &zones[c.scenario];
        // The suite's driver checks MAIL FROM (the HELO identity when MAIL FROM is empty).
        let v = smol::block_on(spf::check_mail_from(zone, &req));
        let got = v.result.as_str();
        let exp_ok = match (&c.explanation, &v.explanation) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have || (want == "DEFAULT" && have == DEFAULT_EXPLANATION),
            (Some(_), None) => false,
        };
        if !c.results.iter().any(|r| r == got) || !exp_ok {
            failed.push(format!("{}: got {got} {:?}, want {:?} {:?}", c.name, v.explanation, c.results, c.explanation));
        }
    }
    eprintln!("RFC 7208 suite: {} cases, {} failed", cases.len(), failed.len());
    assert!(failed.is_empty(), "{} of {} failed:\n{}", failed.len(), cases.len(), failed.join("\n"));
}
