//! The documents mail clients fetch to configure themselves (issue 18), as pure functions of
//! the configuration: Thunderbird autoconfig (`config-v1.1.xml`, clientConfig 1.1), the
//! Microsoft autodiscover POX response (Outlook schema 2006a), an Apple configuration profile
//! (`.mobileconfig`, a property list with one `com.apple.mail.managed` payload) and the
//! MTA-STS policy (RFC 8461 §3.2). They list only the listeners that are on; every config
//! value is XML-escaped. The login name is `user` (what the server's AUTH checks), the
//! address `user@domain`.

use crate::config::Config;

use super::{xml_escape, Service, Services};

/// RFC 8461 §3.2 `max_age`: one week, the RFC's example and what large senders publish.
pub const MTA_STS_MAX_AGE: u32 = 604_800;

/// The RFC 8461 §3.2 policy served at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`
/// (CRLF-terminated `key: value` lines).
pub fn mta_sts_policy(c: &Config) -> String {
    format!(
        "version: STSv1\r\nmode: {}\r\nmx: {}\r\nmax_age: {MTA_STS_MAX_AGE}\r\n",
        c.web.mta_sts_mode.as_str(),
        c.host()
    )
}

/// The name clients show for the account: `[web] display_name`, else the domain.
fn display_name(c: &Config) -> &str {
    c.web.display_name.as_deref().unwrap_or(&c.domain)
}

/// Thunderbird's autoconfig document (clientConfig version 1.1), or `None` when no IMAP or
/// POP3 listener is on (the format needs an incoming server). Implicit TLS is listed first:
/// Thunderbird takes the first server it can reach.
pub fn thunderbird(c: &Config) -> Option<String> {
    let s = Services::of(c);
    if !s.has_incoming() {
        return None;
    }
    let (host, user) = (xml_escape(c.host()), xml_escape(&c.user));
    let domain = xml_escape(&c.domain);
    let name = xml_escape(display_name(c));
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");
    x += &format!("  <emailProvider id=\"{domain}\">\n    <domain>{domain}</domain>\n");
    x += &format!("    <displayName>{name}</displayName>\n    <displayShortName>{name}</displayShortName>\n");
    let incoming = [("imap", s.imaps), ("imap", s.imap), ("pop3", s.pop3s), ("pop3", s.pop3)];
    for (kind, svc) in incoming.into_iter().filter_map(|(k, s)| s.map(|s| (k, s))) {
        x += &tb_server("incomingServer", kind, &host, svc, &user);
    }
    for svc in [s.submissions, s.submission].into_iter().flatten() {
        x += &tb_server("outgoingServer", "smtp", &host, svc, &user);
    }
    x += "  </emailProvider>\n</clientConfig>\n";
    Some(x)
}

/// One `incomingServer`/`outgoingServer` element; `host` and `user` are already escaped.
fn tb_server(element: &str, kind: &str, host: &str, s: Service, user: &str) -> String {
    let socket = if s.implicit_tls { "SSL" } else { "STARTTLS" };
    format!(
        "    <{element} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      <port>{}</port>\n      <socketType>{socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>{user}</username>\n    </{element}>\n",
        s.port
    )
}

/// The autodiscover response (POX, `Autodiscover/Response/Account/Protocol`), one Protocol
/// per type, implicit TLS preferred; `None` when no IMAP or POP3 listener is on. The same
/// answer whatever address the request named: it holds nothing but the settings.
pub fn autodiscover(c: &Config) -> Option<String> {
    let s = Services::of(c);
    if !s.has_incoming() {
        return None;
    }
    let (host, user) = (xml_escape(c.host()), xml_escape(&c.user));
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x += "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n";
    x += "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n";
    x += "    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n";
    let protocols =
        [("IMAP", s.imaps.or(s.imap)), ("SMTP", s.submissions.or(s.submission)), ("POP3", s.pop3s.or(s.pop3))];
    for (kind, svc) in protocols.into_iter().filter_map(|(k, s)| s.map(|s| (k, s))) {
        x += &ad_protocol(kind, &host, svc, &user);
    }
    x += "    </Account>\n  </Response>\n</Autodiscover>\n";
    Some(x)
}

/// One `Protocol` element. `Encryption` (SSL = implicit, TLS = STARTTLS) overrides `SSL` for
/// the clients that know it; `SSL` is on either way (the connection is encrypted).
fn ad_protocol(kind: &str, host: &str, s: Service, user: &str) -> String {
    let encryption = if s.implicit_tls { "SSL" } else { "TLS" };
    format!(
        "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{host}</Server>\n        <Port>{}</Port>\n        <LoginName>{user}</LoginName>\n        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n        <SSL>on</SSL>\n        <Encryption>{encryption}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
        s.port
    )
}

/// An Apple configuration profile (`.mobileconfig`, an XML property list) with one mail
/// account: IMAP (implicit TLS preferred), else POP3; sending by submission. `None` when no
/// incoming or no submission listener is on (the payload needs both). The UUIDs are derived
/// from the domain and user, so a re-downloaded profile replaces the installed one.
pub fn mobileconfig(c: &Config) -> Option<String> {
    let s = Services::of(c);
    let (in_kind, incoming) = [("EmailTypeIMAP", s.imaps.or(s.imap)), ("EmailTypePOP", s.pop3s.or(s.pop3))]
        .into_iter()
        .find_map(|(k, s)| s.map(|s| (k, s)))?;
    let outgoing = s.submissions.or(s.submission)?;
    let (host, user, domain) = (xml_escape(c.host()), xml_escape(&c.user), xml_escape(&c.domain));
    let address = xml_escape(&c.owner_address());
    let name = xml_escape(display_name(c));
    let reverse: Vec<&str> = c.domain.rsplit('.').collect();
    let id = xml_escape(&format!("{}.letterbox.mail", reverse.join(".")));
    let mut p = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n");
    p += "  <key>PayloadContent</key>\n  <array>\n    <dict>\n";
    p += &plist_string("EmailAccountDescription", &name);
    p += &plist_string("EmailAccountName", &name);
    p += &plist_string("EmailAccountType", in_kind);
    p += &plist_string("EmailAddress", &address);
    p += &plist_server("Incoming", &host, incoming, &user);
    p += &plist_server("Outgoing", &host, outgoing, &user);
    p += "      <key>OutgoingPasswordSameAsIncomingPassword</key>\n      <true/>\n";
    p += &plist_string("PayloadDisplayName", &name);
    p += &plist_string("PayloadIdentifier", &format!("{id}.account"));
    p += &plist_string("PayloadType", "com.apple.mail.managed");
    p += &plist_string("PayloadUUID", &uuid(&c.domain, &c.user, "account"));
    p += "      <key>PayloadVersion</key>\n      <integer>1</integer>\n    </dict>\n  </array>\n";
    p += &plist_string("PayloadDisplayName", &format!("Mail: {name}"));
    p += &plist_string("PayloadIdentifier", &id);
    p += &plist_string("PayloadOrganization", &domain);
    p += "  <key>PayloadRemovalDisallowed</key>\n  <false/>\n";
    p += &plist_string("PayloadType", "Configuration");
    p += &plist_string("PayloadUUID", &uuid(&c.domain, &c.user, "profile"));
    p += "  <key>PayloadVersion</key>\n  <integer>1</integer>\n</dict>\n</plist>\n";
    Some(p)
}

/// A `<key>`/`<string>` pair; `value` is already escaped.
fn plist_string(key: &str, value: &str) -> String {
    format!("      <key>{key}</key>\n      <string>{value}</string>\n")
}

/// The `{Incoming,Outgoing}MailServer*` keys of one server; `host`, `user` escaped.
fn plist_server(dir: &str, host: &str, s: Service, user: &str) -> String {
    let ssl = if s.implicit_tls { "<true/>" } else { "<false/>" };
    let mut x = plist_string(&format!("{dir}MailServerAuthentication"), "EmailAuthPassword");
    x += &plist_string(&format!("{dir}MailServerHostName"), host);
    x += &format!("      <key>{dir}MailServerPortNumber</key>\n      <integer>{}</integer>\n", s.port);
    x += &format!("      <key>{dir}MailServerUseSSL</key>\n      {ssl}\n");
    x + &plist_string(&format!("{dir}MailServerUsername"), user)
}

/// A UUID (RFC 9562 §5.8 version 8, custom) from SHA-256 of the domain, user and `purpose`:
/// the same account always gets the same UUIDs.
fn uuid(domain: &str, user: &str, purpose: &str) -> String {
    let input = format!("letterbox mobileconfig\0{domain}\0{user}\0{purpose}");
    let digest = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(digest.as_ref()) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_owned();
    format!("{}-{}-{}-{}-{}", part(0..8), part(8..12), part(12..16), part(16..20), part(20..32))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn cfg(extra: &str) -> Config {
        let text = format!("domain = \"example.org\"\nuser = \"alice\"\ndata_dir = \"d\"\n{extra}");
        Config::parse(Path::new("/x/letterbox.toml"), &text).unwrap()
    }

    const ALL_ON: &str = "[listen]\nsmtp = [\"0.0.0.0:25\"]\nsubmission = [\"0.0.0.0:587\"]\nsubmissions = [\"0.0.0.0:465\"]\nimap = [\"0.0.0.0:143\"]\nimaps = [\"0.0.0.0:993\"]\npop3 = []\npop3s = [\"0.0.0.0:995\"]\n[web]\nhost = \"mail.example.org\"\n";
    const NO_MAILBOX: &str = "[listen]\nsmtp = [\"0.0.0.0:25\"]\nsubmission = [\"0.0.0.0:587\"]\nimap = []\nimaps = []\npop3 = []\npop3s = []\n";

    #[test]
    fn mta_sts_policy_lines() {
        let p = mta_sts_policy(&cfg(ALL_ON));
        assert_eq!(p, "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n");
        let p = mta_sts_policy(&cfg("[web]\nmta_sts_mode = \"enforce\"\n"));
        assert!(p.contains("mode: enforce\r\nmx: example.org\r\n"), "{p}");
    }

    #[test]
    fn thunderbird_lists_what_is_on_in_preference_order() {
        let x = thunderbird(&cfg(ALL_ON)).unwrap();
        let ports: Vec<&str> = x.split("<port>").skip(1).map(|s| s.split('<').next().unwrap_or("")).collect();
        assert_eq!(ports, ["993", "143", "995", "465", "587"]);
        assert!(x.contains("<username>alice</username>") && !x.contains("110"));
        assert_eq!(thunderbird(&cfg(NO_MAILBOX)), None);
    }

    #[test]
    fn autodiscover_one_protocol_per_type() {
        let x = autodiscover(&cfg(ALL_ON)).unwrap();
        assert_eq!(x.matches("<Protocol>").count(), 3);
        assert!(x.contains("<Type>SMTP</Type>\n        <Server>mail.example.org</Server>\n        <Port>465</Port>"));
        assert_eq!(autodiscover(&cfg(NO_MAILBOX)), None);
    }

    #[test]
    fn mobileconfig_uuids_are_stable_and_distinct() {
        let a = mobileconfig(&cfg(ALL_ON)).unwrap();
        assert_eq!(a, mobileconfig(&cfg(ALL_ON)).unwrap());
        let other = format!("domain = \"example.net\"\nuser = \"alice\"\ndata_dir = \"d\"\n{ALL_ON}");
        let b = mobileconfig(&Config::parse(Path::new("/x/l.toml"), &other).unwrap()).unwrap();
        let uuids = |p: &str| -> Vec<String> {
            p.split("<key>PayloadUUID</key>\n      <string>").skip(1).map(|s| s[..36].to_owned()).collect()
        };
        let (ua, ub) = (uuids(&a), uuids(&b));
        assert_eq!(ua.len(), 2);
        assert_ne!(ua[0], ua[1]);
        assert_ne!(ua, ub);
        assert_eq!(ua[0].as_bytes()[14], b'8');
        assert_eq!(mobileconfig(&cfg(NO_MAILBOX)), None);
    }

    /// BAD-INPUTS 91: a display name full of XML metacharacters stays text.
    #[test]
    fn display_name_metacharacters_are_escaped() {
        let c = cfg("[listen]\nimaps = [\"0.0.0.0:993\"]\nsubmissions = [\"0.0.0.0:465\"]\n[web]\ndisplay_name = \"<b>&\\\"x'</b>]]>\"\n");
        for doc in [thunderbird(&c).unwrap(), mobileconfig(&c).unwrap()] {
            assert!(!doc.contains("<b>") && !doc.contains("]]>"), "{doc}");
            assert!(doc.contains("&lt;b&gt;&amp;&quot;x&apos;&lt;/b&gt;]]&gt;"), "{doc}");
        }
    }
}
