//! The router of the HTTP listeners (issue 18): a request maps to one of a fixed set of
//! documents, by exact path, or to 404. No part of a request names a file: the documents
//! are built from the configuration ([`super::autoconfig`]), the ACME HTTP-01 answers come
//! from the token map (RFC 8555 §8.3), the MTA-STS policy only for `Host: mta-sts.DOMAIN`
//! over HTTPS (RFC 8461 §3.3), and `/` is a help page with the settings to type by hand,
//! the profile link and the records of `letterbox dns`. Nothing lists users or mail.

use crate::config::Config;

use super::autodiscover;
use super::challenge::{valid_token, Tokens};
use super::http::{Method, Request, Response, Status};
use super::zone::{self, DkimTxt};
use super::{autoconfig, xml_escape, Service, Services};

/// Thunderbird's autoconfig URLs (on `autoconfig.DOMAIN` and the well-known one on the domain).
pub const THUNDERBIRD_PATHS: [&str; 2] = ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"];
/// Outlook's autodiscover URLs (it POSTs; both spellings are in use).
pub const AUTODISCOVER_PATHS: [&str; 2] = ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"];
/// The Apple configuration profile, linked from the help page.
pub const MOBILECONFIG_PATH: &str = "/mail.mobileconfig";
/// RFC 8461 §3.3 policy path.
pub const MTA_STS_PATH: &str = "/.well-known/mta-sts.txt";
/// RFC 8555 §8.3 HTTP-01 path prefix; the rest is the token.
pub const ACME_PREFIX: &str = "/.well-known/acme-challenge/";

const XML: &str = "application/xml; charset=utf-8";
const GET_HEAD: &str = "GET, HEAD";

/// What the router answers from.
pub struct Site<'a> {
    pub config: &'a Config,
    pub tokens: &'a Tokens,
    /// The request came over TLS (the https listener).
    pub https: bool,
    /// The DKIM records the help page lists (`letterbox dns`'s).
    pub dkim: &'a [DkimTxt],
    /// The record lines the resolver does not show yet; `None` when it was not asked or
    /// did not answer.
    pub missing: Option<&'a [String]>,
}

/// The response to `req`.
pub fn route(site: &Site, req: &Request) -> Response {
    let path = req.path.as_str();
    if AUTODISCOVER_PATHS.contains(&path) {
        return match req.method {
            Method::Post => autodiscover_answer(site.config, &req.body),
            _ => Response::error(Status::MethodNotAllowed).with("Allow", "POST".into()),
        };
    }
    let Some(found) = document(site, req, path) else {
        return Response::error(Status::NotFound);
    };
    match req.method {
        Method::Get | Method::Head => found,
        Method::Post => Response::error(Status::MethodNotAllowed).with("Allow", GET_HEAD.into()),
    }
}

/// The GET document at `path`, if there is one for this request.
fn document(site: &Site, req: &Request, path: &str) -> Option<Response> {
    let c = site.config;
    if THUNDERBIRD_PATHS.contains(&path) {
        return Some(xml(autoconfig::thunderbird(c)));
    }
    if path == MOBILECONFIG_PATH {
        let profile = autoconfig::mobileconfig(c)?;
        let r = Response::new(Status::Ok, "application/x-apple-aspen-config", profile.into_bytes());
        return Some(r.with("Content-Disposition", "attachment; filename=\"mail.mobileconfig\"".into()));
    }
    if path == MTA_STS_PATH {
        let on_policy_host = req.host.as_deref() == Some(format!("mta-sts.{}", c.domain).as_str());
        let policy = autoconfig::mta_sts_policy(c);
        return (site.https && on_policy_host).then(|| Response::new(Status::Ok, "text/plain", policy.into_bytes()));
    }
    if let Some(token) = path.strip_prefix(ACME_PREFIX) {
        let key_authorization = valid_token(token).then(|| site.tokens.get(token)).flatten()?;
        return Some(Response::new(Status::Ok, "application/octet-stream", key_authorization.into_bytes()));
    }
    (path == "/").then(|| Response::new(Status::Ok, "text/html; charset=utf-8", help_page(site).into_bytes()))
}

/// 200 with the document, or 404 when the listeners leave nothing to describe.
fn xml(doc: Option<String>) -> Response {
    match doc {
        Some(d) => Response::new(Status::Ok, XML, d.into_bytes()),
        None => Response::error(Status::NotFound),
    }
}

/// The autodiscover answer: the request must name an address (400 otherwise); the answer is
/// the same for every address (it says nothing about who has a mailbox here).
fn autodiscover_answer(c: &Config, body: &[u8]) -> Response {
    match autodiscover::email_address(body) {
        Ok(_) => xml(autoconfig::autodiscover(c)),
        Err(e) => Response::text(Status::BadRequest, &format!("{e}\n")),
    }
}

/// The help page: settings by hand, the profile, the DNS records.
pub fn help_page(site: &Site) -> String {
    let c = site.config;
    let domain = xml_escape(&c.domain);
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Mail for {domain}</title>\n<style>body{{font-family:sans-serif;max-width:50em;margin:1em auto;padding:0 1em;color:#222;background:#fff}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}pre{{background:#eef;padding:.5em;overflow-x:auto}}</style>\n</head><body>\n<h1>Mail for {domain}</h1>\n"
    );
    h += &settings_table(c);
    h += &profile_links(c);
    h += &missing_records(site.missing);
    h += "<h2>DNS records</h2>\n<p>Publish these in the zone of the domain (the output of <code>letterbox dns</code>); <code>letterbox doctor</code> on the server checks them all.</p>\n<pre>";
    for line in zone::records(c, site.dkim) {
        h += &xml_escape(&line);
        h.push('\n');
    }
    h += "</pre>\n</body></html>\n";
    h
}

/// What the resolver does not show yet (MX, SPF, DKIM, DMARC, MTA-STS, TLSRPT, A/AAAA).
fn missing_records(missing: Option<&[String]>) -> String {
    match missing {
        None => "<p>The DNS records could not be checked just now.</p>\n".to_owned(),
        Some([]) => "<p>Every MX, TXT and address record below is published.</p>\n".to_owned(),
        Some(lines) => {
            let mut m = String::from("<h2>DNS records still missing</h2>\n<pre id=\"missing\">");
            for l in lines {
                m += &xml_escape(l);
                m.push('\n');
            }
            m + "</pre>\n"
        }
    }
}

/// The settings a person types into a mail app.
fn settings_table(c: &Config) -> String {
    let s = Services::of(c);
    let host = xml_escape(c.host());
    let mut t = format!(
        "<h2>Settings to type by hand</h2>\n<p>Address: <b>{}</b>. User name: <b>{}</b>; the password is the one set with <code>letterbox passwd</code>.</p>\n<table>\n<tr><th>Use</th><th>Server</th><th>Port</th><th>Security</th></tr>\n",
        xml_escape(&c.owner_address()),
        xml_escape(&c.user)
    );
    let rows = [
        ("Incoming (IMAP)", s.imaps.or(s.imap)),
        ("Incoming (POP3)", s.pop3s.or(s.pop3)),
        ("Outgoing (SMTP)", s.submissions.or(s.submission)),
    ];
    for (name, svc) in rows.into_iter().filter_map(|(n, s)| s.map(|s| (n, s))) {
        t += &format!("<tr><td>{name}</td><td>{host}</td><td>{}</td><td>{}</td></tr>\n", svc.port, security(svc));
    }
    t + "</table>\n"
}

fn security(s: Service) -> &'static str {
    if s.implicit_tls {
        "SSL/TLS"
    } else {
        "STARTTLS"
    }
}

/// Links to the documents that exist for this configuration.
fn profile_links(c: &Config) -> String {
    let mut l = String::from("<h2>Automatic set-up</h2>\n<ul>\n");
    if autoconfig::mobileconfig(c).is_some() {
        l += &format!("<li>iPhone, iPad, Mac: open <a href=\"{MOBILECONFIG_PATH}\">the configuration profile</a> and install it (Settings, Profile Downloaded).</li>\n");
    }
    if autoconfig::thunderbird(c).is_some() {
        l += &format!("<li>Thunderbird and K-9/Thunderbird for Android find <a href=\"{}\">their settings</a> by themselves; Outlook uses autodiscover.</li>\n", THUNDERBIRD_PATHS[0]);
    }
    l + "</ul>\n"
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::web::http::parse;

    fn cfg() -> Config {
        let text = "domain = \"example.org\"\nuser = \"alice\"\naliases = [\"secret-alias\"]\ndata_dir = \"d\"\n[listen]\nimaps = [\"0.0.0.0:993\"]\nsubmissions = [\"0.0.0.0:465\"]\n";
        Config::parse(Path::new("/x/letterbox.toml"), text).unwrap()
    }

    fn get(site: &Site, raw: &str) -> Response {
        route(site, &parse(raw.as_bytes()).unwrap().unwrap())
    }

    #[test]
    fn documents_by_exact_path() {
        let (c, t) = (cfg(), Tokens::default());
        let site = Site { config: &c, tokens: &t, https: false, dkim: &[], missing: None };
        for p in THUNDERBIRD_PATHS {
            let r = get(
                &site,
                &format!("GET {p}?emailaddress=alice%40example.org HTTP/1.1\r\nHost: autoconfig.example.org\r\n\r\n"),
            );
            assert_eq!((r.status, r.content_type), (Status::Ok, XML));
        }
        let r = get(&site, "GET /mail.mobileconfig HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.content_type, "application/x-apple-aspen-config");
        let r = get(&site, "POST /mail.mobileconfig HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.status, Status::MethodNotAllowed);
        let r = get(&site, "GET /Autodiscover/Autodiscover.xml HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((r.status, r.headers.clone()), (Status::MethodNotAllowed, vec![("Allow", "POST".to_owned())]));
        let body = "<a><EMailAddress>x@y.org</EMailAddress></a>";
        let r = get(
            &site,
            &format!(
                "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(r.status, Status::Ok);
        assert!(String::from_utf8(r.body).unwrap().contains("<Port>993</Port>"));
        let r = get(&site, "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n<a>");
        assert_eq!(r.status, Status::BadRequest);
    }

    #[test]
    fn mta_sts_only_on_its_host_over_https() {
        let (c, t) = (cfg(), Tokens::default());
        let plain = Site { config: &c, tokens: &t, https: false, dkim: &[], missing: None };
        let tls = Site { https: true, ..plain };
        let on_host = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: MTA-STS.example.org:443\r\n\r\n";
        assert_eq!(get(&tls, on_host).status, Status::Ok);
        assert_eq!(get(&plain, on_host).status, Status::NotFound);
        let elsewhere = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: example.org\r\n\r\n";
        assert_eq!(get(&tls, elsewhere).status, Status::NotFound);
    }

    /// BAD-INPUTS 109: no request path reaches a file; dot segments, encodings and unknown
    /// tokens are 404, and the help page lists no alias.
    #[test]
    fn paths_never_reach_files() {
        let (c, t) = (cfg(), Tokens::default());
        assert!(t.insert("tok_1", "tok_1.thumb"));
        let site = Site { config: &c, tokens: &t, https: false, dkim: &[], missing: None };
        let r = get(&site, "GET /.well-known/acme-challenge/tok_1 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((r.status, r.body), (Status::Ok, b"tok_1.thumb".to_vec()));
        for p in [
            "/../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/.well-known/acme-challenge/../../letterbox.toml",
            "/.well-known/acme-challenge/tok_1/",
            "/.well-known/acme-challenge/",
            "/.well-known/acme-challenge/%74ok_1",
            "/mail/../mail/config-v1.1.xml",
            "/letterbox.toml",
            "/mail%00.mobileconfig",
            "//",
        ] {
            let r = get(&site, &format!("GET {p} HTTP/1.1\r\nHost: h\r\n\r\n"));
            assert_eq!(r.status, Status::NotFound, "{p}");
        }
        let page = String::from_utf8(get(&site, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").body).unwrap();
        assert!(page.contains("alice@example.org") && page.contains("IN MX 10 example.org."), "{page}");
        assert!(!page.contains("secret-alias"));
    }
}
