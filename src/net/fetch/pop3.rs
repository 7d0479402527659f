//! One POP3 pull session (RFC 1939) over [`Conn`], driven by `crate::fetch::pop3`: greeting,
//! CAPA (RFC 2449), STLS when configured (RFC 2595 §4, required, verified), AUTH PLAIN
//! (RFC 5034) when offered else USER/PASS, UIDL and LIST, then each message whose UIDL is
//! new: RETR streamed (unstuffed) into the spool and stored by [`store_pulled`]; with
//! `keep = false`, DELE after the local commit, QUIT at the end (RFC 1939 §6: deletions
//! happen only at QUIT, so a crash before it deletes nothing). The state keeps only the
//! UIDLs still listed by the server (bounded by the maildrop).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::stream::Conn;
use super::{log, store_pulled, Failure, Incoming, Run, Sink, READ_TIMEOUT};
use crate::config::fetch::FetchTls;
use crate::fetch::pop3::{uidl_listing, Client, Command, Event};
use crate::fetch::state::Done;

/// Over-size UIDLs remembered (for one log line each) per process.
pub const SKIPPED_MAX: usize = 1000;
/// Listing lines kept (UIDL and LIST each): a maildrop larger than this is pulled in part.
pub const LISTING_MAX: usize = 20_000;

struct Session<'a> {
    conn: Conn,
    core: Client,
    sink: &'a Sink,
}

/// A reply: `+OK`, its text, and the listing lines of a multi-line one.
struct Reply {
    ok: bool,
    text: String,
    lines: Vec<Vec<u8>>,
    /// Listing lines beyond [`LISTING_MAX`] were dropped.
    truncated: bool,
}

pub async fn session(sink: &Sink, run: &mut Run) -> Result<(), Failure> {
    let addr = run.addr()?;
    let name = run.acct.server.0.clone();
    let conn = Conn::connect(addr, &name, run.acct.tls == FetchTls::Implicit, &run.roots).await?;
    let mut s = Session { conn, core: Client::new(), sink };
    let r = s.pull(run).await;
    if r.is_ok() {
        // RFC 1939 §6: the DELEs take effect only now, after every local commit.
        let q = s.command(&Command::Quit, None).await;
        if let Err(e) = q {
            s.conn.close().await;
            return Err(e);
        }
    }
    s.conn.close().await;
    r
}

impl Session<'_> {
    async fn pull(&mut self, run: &mut Run) -> Result<(), Failure> {
        self.reply(None).await?;
        let mut caps = self.capa().await?;
        if run.acct.tls == FetchTls::StartTls {
            if !caps.iter().any(|c| c == "STLS") {
                return Err(Failure::Other("the server does not offer STLS (tls = \"starttls\")".into()));
            }
            let r = self.command(&Command::Stls, None).await?;
            if !r.ok {
                return Err(Failure::Other(format!("STLS refused: {}", r.text)));
            }
            self.conn.start_tls(&run.acct.server.0, &run.roots).await?;
            self.core.tls_started();
            caps = self.capa().await?;
        }
        self.login(run, &caps).await?;
        let uidl = self.command(&Command::Uidl, None).await?;
        let uidls = uidl_listing(&uidl.lines).map_err(|e| Failure::Other(format!("UIDL: {e}")))?;
        let list = self.command(&Command::List, None).await?;
        let sizes: HashMap<u32, u64> = list.lines.iter().filter_map(|l| crate::fetch::pop3::parse_list(l)).collect();
        let present: BTreeSet<String> = uidls.iter().map(|(_, u)| u.clone()).collect();
        for (n, uid) in &uidls {
            if run.state.uidls.contains(uid) {
                if !run.acct.keep {
                    self.dele(*n).await?;
                }
                continue;
            }
            let size = sizes.get(n).copied().ok_or_else(|| format!("LIST has no size for message {n}"))?;
            self.pull_one(run, *n, uid, size).await?;
        }
        // Forget UIDLs the server no longer has (bounded state), when it listed them all.
        if !uidl.truncated && run.state.uidls.iter().any(|u| !present.contains(u)) {
            run.state.uidls.retain(|u| present.contains(u));
            run.files.save(&run.state).map_err(|e| Failure::Other(format!("state: {e}")))?;
        }
        Ok(())
    }

    async fn capa(&mut self) -> Result<Vec<String>, Failure> {
        let r = self.command(&Command::Capa, None).await?;
        Ok(r.lines.iter().map(|l| String::from_utf8_lossy(l).to_ascii_uppercase()).collect())
    }

    /// AUTH PLAIN when CAPA lists `SASL … PLAIN`, else USER/PASS.
    async fn login(&mut self, run: &Run, caps: &[String]) -> Result<(), Failure> {
        let (user, password) = (run.acct.user.as_str(), &run.secret);
        let plain = caps.iter().any(|c| c.starts_with("SASL ") && c.split(' ').any(|m| m == "PLAIN"));
        let r = if plain {
            self.command(&Command::AuthPlain { user, password }, None).await?
        } else {
            let r = self.command(&Command::User(user), None).await?;
            if !r.ok {
                return Err(Failure::Auth(r.text));
            }
            self.command(&Command::Pass(password), None).await?
        };
        if r.ok {
            Ok(())
        } else {
            Err(Failure::Auth(r.text))
        }
    }

    async fn pull_one(&mut self, run: &mut Run, n: u32, uidl: &str, size: u64) -> Result<(), Failure> {
        let limit = self.sink.cfg.limits.message_size;
        if size > limit {
            // Logged once per process: POP3 keeps no state for it (it must stay remote).
            if run.skipped.len() < SKIPPED_MAX && run.skipped.insert(uidl.to_owned()) {
                let msg = format!(
                    "message {n} ({uidl}): {size} bytes, over message_size {limit}: skipped, left on the server"
                );
                log(&run.acct.name, &msg);
            }
            return Ok(());
        }
        let token = crate::fetch::pop3_token(&run.acct.name, uidl);
        let mut msg = Incoming::new(self.sink, &run.acct, "POP3", &token).map_err(|e| format!("spool: {e}"))?;
        let r = self.command(&Command::Retr(n), Some((&mut msg, limit))).await?;
        if !r.ok {
            return Err(Failure::Other(format!("RETR {n}: {}", r.text)));
        }
        let uid = store_pulled(self.sink, run, msg, &token, Done::Pop3(uidl.to_owned())).await?;
        log(&run.acct.name, &format!("message {n} ({uidl}) stored as {uid} size={size}"));
        if !run.acct.keep {
            self.dele(n).await?;
        }
        Ok(())
    }

    async fn dele(&mut self, n: u32) -> Result<(), Failure> {
        let r = self.command(&Command::Dele(n), None).await?;
        if r.ok {
            Ok(())
        } else {
            Err(Failure::Other(format!("DELE {n}: {}", r.text)))
        }
    }

    async fn command(&mut self, cmd: &Command<'_>, body: Option<(&mut Incoming, u64)>) -> Result<Reply, Failure> {
        let bytes = self.core.command(cmd).map_err(|e| e.to_string())?;
        self.conn.write(&bytes).await?;
        self.reply(body).await
    }

    /// Reads one reply (with its listing or message); the message goes to `body`, at most
    /// its limit (more is a protocol error: the server sent more than LIST said).
    async fn reply(&mut self, mut body: Option<(&mut Incoming, u64)>) -> Result<Reply, Failure> {
        let mut r = Reply { ok: false, text: String::new(), lines: Vec::new(), truncated: false };
        loop {
            let (n, ev) = self.core.feed(self.conn.input()).map_err(|e| e.to_string())?;
            let got = ev.is_some();
            let mut end = false;
            match ev {
                Some(Event::Body(b)) => match body.as_mut() {
                    Some((m, limit)) if m.received + b.len() as u64 <= *limit => m.push(b)?,
                    Some(_) => return Err(Failure::Other("RETR: the message is larger than message_size".into())),
                    None => return Err(Failure::Other("a message nobody asked for".into())),
                },
                Some(Event::Greeting) => end = true,
                Some(Event::Reply { ok, text }) => {
                    (r.ok, r.text) = (ok, text);
                    end = !ok || !self.core.busy();
                }
                Some(Event::Line(l)) if r.lines.len() < LISTING_MAX => r.lines.push(l),
                Some(Event::Line(_)) => r.truncated = true,
                Some(Event::End) => end = true,
                _ => {}
            }
            self.conn.consume(n);
            if end {
                return Ok(r);
            }
            if n == 0 && !got {
                self.conn.fill(Instant::now() + READ_TIMEOUT).await?;
            }
        }
    }
}
