//! The ACME order as a sans-IO state machine (RFC 8555 §7): directory (§7.1.1), nonce
//! (§7.2), account (§7.3, `onlyReturnExisting` on later runs, §7.3.1), order (§7.4),
//! authorizations (§7.5), challenge response (§7.5.1), polling (§7.5.1, §7.4 with
//! Retry-After), finalize with a CSR (§7.4), certificate download (§7.4.2). Errors are RFC
//! 7807 problem documents (§6.7); `badNonce` is retried with the nonce it carries (§6.5).
//!
//! The driver calls [`Flow::start`], then performs each [`Step`]: a request's answer goes to
//! [`Flow::received`]; after a [`Step::Publish`] or [`Step::Wait`] it calls
//! [`Flow::resume`]. No sockets, files or clocks here: waits are outputs.

use std::time::Duration;

use super::http::Response;
use super::json::{self, quote, Value};
use super::jws::{b64url, AccountKey};
use crate::config::AcmeChallenge;

/// Polls of one authorization or of the order before giving up: with the default interval
/// and Retry-After capped at `RETRY_AFTER_MAX`, at most a few minutes.
pub const POLLS_MAX: u32 = 30;
/// `badNonce` answers retried in a row (§6.5: the client should retry with the new nonce).
pub const BAD_NONCE_RETRIES: u32 = 5;
/// Interval between polls when the server sends no Retry-After.
pub const POLL_DEFAULT: Duration = Duration::from_secs(1);
/// Longest Retry-After honoured while polling: a server asking for more is waited for in the
/// renewal backoff instead.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// Longest problem text kept for the log.
pub const DETAIL_MAX: usize = 300;

/// One HTTP request to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// "GET" or "POST".
    pub method: &'static str,
    pub url: String,
    /// The signed JWS body of a POST.
    pub body: Option<String>,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Send(Request),
    /// Make the challenge answerable (HTTP-01 token or TLS-ALPN-01 certificate for `name`),
    /// then call `resume`.
    Publish {
        kind: AcmeChallenge,
        name: String,
        token: String,
        key_authorization: String,
    },
    /// Sleep, then call `resume`.
    Wait(Duration),
    /// The PEM chain (leaf first) for the CSR's key; the account URL to remember.
    Issued {
        chain_pem: String,
        account: String,
    },
    /// Given up; `retry_after` when the server said when to come back.
    Failed {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// What the flow needs to know.
#[derive(Debug, Clone)]
pub struct Params {
    pub directory: String,
    pub contact: Option<String>,
    pub names: Vec<String>,
    pub challenge: AcmeChallenge,
    /// DER of the certificate signing request (RFC 2986) for the new key.
    pub csr_der: Vec<u8>,
    /// An account was created on an earlier run: look it up with `onlyReturnExisting`.
    pub account_known: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Directory,
    Account { only_existing: bool },
    NewOrder,
    Authz(usize),
    Respond(usize),
    PollAuthz(usize),
    OrderReady,
    Finalize,
    PollOrder,
    Download,
    Done,
}

/// The resource URLs of the directory (§7.1.1).
#[derive(Debug, Clone, Default)]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

/// One order in progress.
pub struct Flow {
    key: AccountKey,
    p: Params,
    phase: Phase,
    dir: Directory,
    nonce: Option<String>,
    fetching_nonce: bool,
    kid: Option<String>,
    order_url: String,
    authzs: Vec<String>,
    finalize_url: String,
    cert_url: String,
    challenge_url: String,
    bad_nonces: u32,
    polls: u32,
}

impl Flow {
    pub fn new(key: AccountKey, p: Params) -> Flow {
        Flow {
            key,
            p,
            phase: Phase::Directory,
            dir: Directory::default(),
            nonce: None,
            fetching_nonce: false,
            kid: None,
            order_url: String::new(),
            authzs: Vec::new(),
            finalize_url: String::new(),
            cert_url: String::new(),
            challenge_url: String::new(),
            bad_nonces: 0,
            polls: 0,
        }
    }

    /// The first step: fetch the directory.
    pub fn start(&mut self) -> Step {
        self.phase = Phase::Directory;
        self.next_request()
    }

    /// After a `Publish` or a `Wait`.
    pub fn resume(&mut self) -> Step {
        self.next_request()
    }

    /// The answer to the last `Send`, or the transport error.
    pub fn received(&mut self, r: Result<Response, String>) -> Step {
        let r = match r {
            Ok(r) => r,
            Err(e) => return fail(format!("ACME server: {e}"), None),
        };
        if let Some(n) = r.header("replay-nonce").filter(|n| valid_nonce(n)) {
            self.nonce = Some(n.to_owned());
        }
        if self.fetching_nonce {
            self.fetching_nonce = false;
            return match self.nonce {
                Some(_) => self.next_request(),
                None => fail("newNonce answered without a Replay-Nonce".into(), None),
            };
        }
        if r.status >= 400 {
            return self.problem(&r);
        }
        self.bad_nonces = 0;
        self.advance(&r)
    }

    /// An error answer: retry a bad nonce or a missing account, else give up.
    fn problem(&mut self, r: &Response) -> Step {
        let doc = json::parse(&r.body).unwrap_or(Value::Null);
        let kind = doc.str_of("type").unwrap_or("").to_owned();
        if kind == "urn:ietf:params:acme:error:badNonce" && self.bad_nonces < BAD_NONCE_RETRIES {
            self.bad_nonces += 1;
            return self.next_request();
        }
        if kind == "urn:ietf:params:acme:error:accountDoesNotExist"
            && self.phase == (Phase::Account { only_existing: true })
        {
            self.phase = Phase::Account { only_existing: false };
            return self.next_request();
        }
        let reason = match doc.str_of("detail") {
            Some(detail) => clean(&format!("HTTP {} {kind}: {detail}", r.status)),
            None => format!("HTTP {} without a problem document", r.status),
        };
        fail(reason, retry_after(r))
    }

    /// A success answer, by phase.
    fn advance(&mut self, r: &Response) -> Step {
        match self.phase {
            Phase::Download => return self.downloaded(r),
            Phase::Respond(i) => {
                self.phase = Phase::PollAuthz(i);
                return Step::Wait(POLL_DEFAULT);
            }
            _ => {}
        }
        let doc = match json::parse(&r.body) {
            Ok(d) => d,
            Err(e) => return fail(format!("ACME answer is not JSON: {e}"), None),
        };
        match self.phase {
            Phase::Directory => self.directory(&doc),
            Phase::Account { .. } => self.account(r),
            Phase::NewOrder => self.order_created(r, &doc),
            Phase::Authz(i) => self.authorization(i, &doc),
            Phase::PollAuthz(i) => self.authz_polled(i, r, &doc),
            Phase::OrderReady | Phase::Finalize | Phase::PollOrder => self.order_polled(r, &doc),
            Phase::Respond(_) | Phase::Download | Phase::Done => fail("unexpected answer".into(), None),
        }
    }

    fn directory(&mut self, doc: &Value) -> Step {
        let url = |k| doc.str_of(k).filter(|u| u.starts_with("https://")).map(str::to_owned);
        let (Some(new_nonce), Some(new_account), Some(new_order)) =
            (url("newNonce"), url("newAccount"), url("newOrder"))
        else {
            return fail("the directory lacks newNonce, newAccount or newOrder".into(), None);
        };
        self.dir = Directory { new_nonce, new_account, new_order };
        self.phase = Phase::Account { only_existing: self.p.account_known };
        self.next_request()
    }

    fn account(&mut self, r: &Response) -> Step {
        let Some(kid) = r.header("location").filter(|u| u.starts_with("https://")) else {
            return fail("newAccount answered without a Location".into(), None);
        };
        self.kid = Some(kid.to_owned());
        self.phase = Phase::NewOrder;
        self.next_request()
    }

    fn order_created(&mut self, r: &Response, doc: &Value) -> Step {
        let Some(url) = r.header("location").filter(|u| u.starts_with("https://")) else {
            return fail("newOrder answered without a Location".into(), None);
        };
        self.order_url = url.to_owned();
        self.authzs =
            doc.get("authorizations").map(Value::as_array).unwrap_or_default().iter().filter_map(https).collect();
        self.finalize_url = doc.str_of("finalize").filter(|u| u.starts_with("https://")).unwrap_or_default().to_owned();
        if self.authzs.is_empty() || self.authzs.len() > self.p.names.len() || self.finalize_url.is_empty() {
            return fail("the order lacks authorizations or a finalize URL".into(), None);
        }
        self.phase = Phase::Authz(0);
        self.next_request()
    }

    /// One authorization fetched: valid already, or publish our challenge's answer.
    fn authorization(&mut self, i: usize, doc: &Value) -> Step {
        match doc.str_of("status") {
            Some("valid") => return self.next_authz(i),
            Some("pending") => {}
            s => return fail(format!("authorization is {}", clean(s.unwrap_or("missing"))), None),
        }
        let want = self.p.challenge.as_str();
        let ch = doc
            .get("challenges")
            .map(Value::as_array)
            .unwrap_or_default()
            .iter()
            .find(|c| c.str_of("type") == Some(want));
        let (Some(url), Some(token)) =
            (ch.and_then(|c| c.get("url")).and_then(https), ch.and_then(|c| c.str_of("token")))
        else {
            return fail(format!("the server offers no {want} challenge"), None);
        };
        let name = doc.get("identifier").and_then(|i| i.str_of("value")).unwrap_or("").to_owned();
        if !crate::web::challenge::valid_token(token) || !self.p.names.contains(&name) {
            return fail("the authorization names a bad token or a name not asked for".into(), None);
        }
        self.challenge_url = url;
        self.phase = Phase::Respond(i);
        let key_authorization = self.key.key_authorization(token);
        Step::Publish { kind: self.p.challenge, name, token: token.to_owned(), key_authorization }
    }

    fn next_authz(&mut self, i: usize) -> Step {
        self.polls = 0;
        self.phase = if i + 1 < self.authzs.len() { Phase::Authz(i + 1) } else { Phase::OrderReady };
        self.next_request()
    }

    fn authz_polled(&mut self, i: usize, r: &Response, doc: &Value) -> Step {
        match doc.str_of("status") {
            Some("valid") => self.next_authz(i),
            Some("pending") => self.poll_again(r),
            _ => {
                let err =
                    doc.get("challenges").map(Value::as_array).unwrap_or_default().iter().find_map(|c| c.get("error"));
                let detail = err.and_then(|e| e.str_of("detail")).unwrap_or("");
                fail(clean(&format!("challenge failed: {detail}")), None)
            }
        }
    }

    fn order_polled(&mut self, r: &Response, doc: &Value) -> Step {
        match (self.phase, doc.str_of("status")) {
            (_, Some("valid")) => match doc.get("certificate").and_then(https) {
                Some(u) => {
                    self.cert_url = u;
                    self.phase = Phase::Download;
                    self.next_request()
                }
                None => fail("a valid order without a certificate URL".into(), None),
            },
            (Phase::OrderReady, Some("ready")) => {
                self.phase = Phase::Finalize;
                self.next_request()
            }
            (Phase::OrderReady, Some("pending")) | (_, Some("processing")) => {
                if self.phase == Phase::Finalize {
                    self.phase = Phase::PollOrder;
                }
                self.poll_again(r)
            }
            (_, s) => fail(format!("order is {}", clean(s.unwrap_or("missing"))), None),
        }
    }

    fn poll_again(&mut self, r: &Response) -> Step {
        self.polls += 1;
        if self.polls > POLLS_MAX {
            return fail(format!("still not done after {POLLS_MAX} polls"), None);
        }
        Step::Wait(retry_after(r).unwrap_or(POLL_DEFAULT).min(RETRY_AFTER_MAX))
    }

    fn downloaded(&mut self, r: &Response) -> Step {
        let pem = String::from_utf8_lossy(&r.body).into_owned();
        if !pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
            return fail("the certificate download is not a PEM chain".into(), None);
        }
        self.phase = Phase::Done;
        Step::Issued { chain_pem: pem, account: self.kid.clone().unwrap_or_default() }
    }

    /// The request of the current phase, after a newNonce if no nonce is at hand.
    fn next_request(&mut self) -> Step {
        let get = |url: &str| Step::Send(Request { method: "GET", url: url.to_owned(), body: None });
        if self.phase == Phase::Directory {
            return get(&self.p.directory);
        }
        let Some(nonce) = self.nonce.take() else {
            self.fetching_nonce = true;
            return get(&self.dir.new_nonce);
        };
        let (url, payload) = match self.request_of_phase() {
            Some(x) => x,
            None => return fail("nothing to send".into(), None),
        };
        let kid = if matches!(self.phase, Phase::Account { .. }) { None } else { self.kid.as_deref() };
        match self.key.sign(&url, &nonce, kid, payload.as_deref()) {
            Some(body) => Step::Send(Request { method: "POST", url, body: Some(body) }),
            None => fail("signing failed".into(), None),
        }
    }

    /// URL and payload (`None`: POST-as-GET) of the current phase's request.
    fn request_of_phase(&self) -> Option<(String, Option<String>)> {
        Some(match self.phase {
            Phase::Account { only_existing } => {
                (self.dir.new_account.clone(), Some(self.account_payload(only_existing)))
            }
            Phase::NewOrder => {
                let ids: Vec<String> =
                    self.p.names.iter().map(|n| format!(r#"{{"type":"dns","value":{}}}"#, quote(n))).collect();
                (self.dir.new_order.clone(), Some(format!(r#"{{"identifiers":[{}]}}"#, ids.join(","))))
            }
            Phase::Authz(i) | Phase::PollAuthz(i) => (self.authzs.get(i)?.clone(), None),
            Phase::Respond(_) => (self.challenge_url.clone(), Some("{}".to_owned())),
            Phase::OrderReady | Phase::PollOrder => (self.order_url.clone(), None),
            Phase::Finalize => (self.finalize_url.clone(), Some(format!(r#"{{"csr":"{}"}}"#, b64url(&self.p.csr_der)))),
            Phase::Download => (self.cert_url.clone(), None),
            Phase::Directory | Phase::Done => return None,
        })
    }

    fn account_payload(&self, only_existing: bool) -> String {
        if only_existing {
            return r#"{"onlyReturnExisting":true}"#.to_owned();
        }
        match &self.p.contact {
            Some(c) => format!(r#"{{"termsOfServiceAgreed":true,"contact":[{}]}}"#, quote(c)),
            None => r#"{"termsOfServiceAgreed":true}"#.to_owned(),
        }
    }
}

fn fail(reason: String, retry_after: Option<Duration>) -> Step {
    Step::Failed { reason, retry_after }
}

/// An https URL value.
fn https(v: &Value) -> Option<String> {
    v.as_str().filter(|u| u.starts_with("https://") && u.len() <= 2048).map(str::to_owned)
}

/// RFC 8555 §6.5.1: a nonce is base64url.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.len() <= 256 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 9110 §10.2.3 Retry-After in seconds (an HTTP-date is not used by ACME servers we know).
fn retry_after(r: &Response) -> Option<Duration> {
    r.header("retry-after").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs)
}

/// Server text for the log: printable, bounded.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(DETAIL_MAX).collect()
}

#[cfg(test)]
mod tests;
