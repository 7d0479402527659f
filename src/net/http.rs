//! HTTP session driver (issue 18): reads one request into a buffer bounded by the parser's
//! limits (`web::http::HEAD_MAX` + `BODY_MAX`), all of it within `limits.http_timeout`
//! (a slowloris gets 408 and the close), answers from `web::site` and closes
//! (RFC 9112 §9.6 `Connection: close`; one request per connection is all autoconfig needs).
//! For the help page it asks the resolver which records of `letterbox dns` are still
//! missing, within a few seconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smol::future::FutureExt;

use super::conn::{write_timeout, Conn, Read, READ_BUF};
use super::dns::StubResolver;
use super::{log, Server};
use crate::dns::{DnsError, Resolver};
use crate::web::http::{self, Method, Request, Response, Status, BODY_MAX, HEAD_MAX};
use crate::web::site::{self, Site};
use crate::web::zone::{self, DkimTxt};

/// Bytes a request may occupy: the header section, the body and one read past them.
const REQUEST_MAX: usize = HEAD_MAX + BODY_MAX + READ_BUF;

/// One DNS attempt of the help page's record check (the resolver is local or the router's).
const DNS_ATTEMPT_TIME: Duration = Duration::from_millis(500);
/// The whole record check: past it the page says the records could not be checked.
const DNS_CHECK_TIME: Duration = Duration::from_secs(3);

/// How long a refused client gets to read the error and close its side.
const REFUSAL_DRAIN: Duration = Duration::from_secs(2);
/// What a refused client may still send after our answer and have dropped (a 1 MB request
/// line, a 160 KB header section): closing on unread input sends RST, and a client that
/// is still writing may then lose the answer it was sent (RFC 9112 §9.6).
const REFUSAL_DRAIN_BYTES: usize = 2 << 20;

/// Runs one HTTP exchange; returns the disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr, https: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(srv.config().limits.http_timeout);
    let (response, head_only, what) = match read_request(srv, conn, deadline).await {
        Ok(req) => {
            let what = format!("{:?} {}", req.method, req.path);
            (answer(srv, &req, https).await, req.method == Method::Head, what)
        }
        Err(Some(status)) => (refusal(status), false, format!("refused: {status}")),
        Err(None) => return "client closed".into(),
    };
    log(if https { "https" } else { "http" }, &peer, &format!("{what} -> {}", response.status.code()));
    let date = http::imf_fixdate(crate::util::unix_now().max(0) as u64);
    if let Err(e) = conn.write_all(&response.encode(&date, head_only), write_timeout()).await {
        return format!("write error: {e}");
    }
    if response.status != Status::Ok {
        // The client may still be sending (an oversized request): let it read the answer.
        conn.close_draining_up_to(REFUSAL_DRAIN, REFUSAL_DRAIN_BYTES).await;
    }
    "done".into()
}

/// Reads until the parser has a request or a verdict; `Err(None)` when the client went away.
async fn read_request(srv: &Server, conn: &mut Conn, deadline: Instant) -> Result<Request, Option<Status>> {
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if let Some(req) = http::parse(&pending)? {
            return Ok(req);
        }
        if pending.len() >= REQUEST_MAX {
            return Err(Some(Status::ContentTooLarge)); // the parser bounds it first
        }
        match srv.read_or_stop(conn, &mut buf, Some(deadline)).await {
            Ok(Read::Data(n)) => pending.extend_from_slice(buf.get(..n).unwrap_or(&[])),
            Ok(Read::TimedOut) if srv.stopping() => return Err(Some(Status::ServiceUnavailable)),
            Ok(Read::TimedOut) if pending.is_empty() => return Err(None),
            Ok(Read::TimedOut) => return Err(Some(Status::RequestTimeout)),
            Ok(Read::Eof) | Err(_) => return Err(None),
        }
    }
}

/// The error response for a request the parser refused (405 names what is allowed).
fn refusal(status: Status) -> Response {
    let r = Response::error(status);
    if status == Status::MethodNotAllowed {
        return r.with("Allow", "GET, HEAD, POST".into());
    }
    r
}

/// Routes `req`; the help page also lists the DKIM records, read off the executor.
async fn answer(srv: &Server, req: &Request, https: bool) -> Response {
    let cfg = srv.config();
    let help = req.path == "/";
    let dkim = if help { dkim_records(cfg.clone()).await } else { Vec::new() };
    let missing = if help { missing_records(&cfg, &dkim).await } else { None };
    let site =
        Site { config: &cfg, tokens: crate::web::challenge::shared(), https, dkim: &dkim, missing: missing.as_deref() };
    site::route(&site, req)
}

/// The record lines of `letterbox dns` the resolver does not show (the help page's "still
/// missing"); `None` when it does not answer within [`DNS_CHECK_TIME`].
async fn missing_records(cfg: &crate::config::Config, dkim: &[DkimTxt]) -> Option<Vec<String>> {
    let r = StubResolver::with_timeout(cfg.outbound.dns_server(), DNS_ATTEMPT_TIME);
    let check = async {
        let mut missing = Vec::new();
        for line in zone::records(cfg, dkim) {
            let Some((name, rtype)) = zone::question(&line) else { continue };
            match r.lookup(name, rtype).await {
                Ok(answers) if zone::is_published(&line, &answers) => {}
                Ok(_) | Err(DnsError::NxDomain) => missing.push(line),
                Err(_) => return None,
            }
        }
        Some(missing)
    };
    check
        .or(async {
            async_io::Timer::after(DNS_CHECK_TIME).await;
            None
        })
        .await
}

/// The public DKIM records of the data directory (none when there are no keys yet).
#[cfg(feature = "outbound")]
async fn dkim_records(cfg: std::sync::Arc<crate::config::Config>) -> Vec<DkimTxt> {
    use crate::mailauth::keys::KeySet;
    smol::unblock(move || {
        let set = KeySet::load(&cfg.data_dir, &cfg.dkim.selector).ok();
        let keys = set.map(|s| s.keys).unwrap_or_default();
        keys.iter().map(|k| DkimTxt { selector: k.selector.clone(), value: k.record() }).collect()
    })
    .await
}

#[cfg(not(feature = "outbound"))]
async fn dkim_records(_: std::sync::Arc<crate::config::Config>) -> Vec<DkimTxt> {
    Vec::new()
}
