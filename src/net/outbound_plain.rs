//! A minimal plaintext SMTP transport (RFC 5321 §3.3, §4.1.1; RFC 1869 EHLO, HELO
//! fallback) for the outbound queue until the full client (branch `smtpclient`: TLS,
//! AUTH, PIPELINING, SIZE) replaces it behind `net::outbound::Transport`. It serves
//! loopback relays and tests; it refuses to authenticate (no TLS here to protect a password).

use std::net::TcpStream;
use std::time::Duration;

use smol::future::FutureExt;
use smol::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use smol::Async;

use super::outbound::Transport;
use crate::outbound::route::Hop;
use crate::outbound::{QueuedEnvelope, RcptOutcome};

/// RFC 5321 §4.5.3.2: 5 minutes for most replies (the initial 220 and the DATA end: 5 and
/// 10; one bound here keeps it short).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(300);
/// Connect timeout (Postfix `smtp_connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest reply line kept (RFC 5321 §4.5.3.1.5: 512 octets).
pub const MAX_REPLY_LINE: usize = 512;
/// Lines of one multi-line reply.
pub const MAX_REPLY_LINES: usize = 64;

/// Plaintext SMTP, no AUTH.
pub struct PlainSmtp {
    pub helo: String,
    /// `relay_user` is set: this transport cannot log in, so everything is temporary.
    pub needs_auth: bool,
}

type Conn = BufReader<Async<TcpStream>>;

/// A reply: code and text (the last line's, with the code).
async fn reply(c: &mut Conn) -> Result<(u16, String), String> {
    let mut text = String::new();
    for _ in 0..MAX_REPLY_LINES {
        let mut line = Vec::new();
        let mut limited = (&mut *c).take(MAX_REPLY_LINE as u64 * 4);
        let n = limited.read_until(b'\n', &mut line).or(async {
            async_io::Timer::after(REPLY_TIMEOUT).await;
            Err(std::io::ErrorKind::TimedOut.into())
        });
        if n.await.map_err(|e| format!("451 4.4.2 {e}"))? == 0 {
            return Err("451 4.4.2 connection closed by the server".into());
        }
        let l = String::from_utf8_lossy(&line).trim_end().chars().take(MAX_REPLY_LINE).collect::<String>();
        let code = l.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or("451 4.5.0 garbled reply")?;
        text = l.clone();
        if l.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text));
        }
    }
    Err(format!("451 4.5.0 reply too long: {text}"))
}

async fn cmd(c: &mut Conn, line: &str) -> Result<(u16, String), String> {
    c.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.map_err(|e| format!("451 4.4.2 {e}"))?;
    reply(c).await
}

/// The failure of a whole transaction, per recipient: 5xx permanent, else temporary.
fn all(n: usize, code: u16, text: &str) -> Vec<RcptOutcome> {
    let o = if (500..600).contains(&code) {
        RcptOutcome::Permanent(text.to_owned())
    } else {
        RcptOutcome::Temporary(text.to_owned())
    };
    vec![o; n]
}

/// Writes the body dot-stuffed (RFC 5321 §4.5.2), then `.`.
async fn send_body(c: &mut Conn, message: &mut (dyn AsyncRead + Unpin)) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(buf.len() + 64);
    let mut bol = true;
    loop {
        let n = message.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.clear();
        for &b in buf.get(..n).unwrap_or(&[]) {
            if bol && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            bol = b == b'\n';
        }
        c.get_mut().write_all(&out).await?;
    }
    let end: &[u8] = if bol { b".\r\n" } else { b"\r\n.\r\n" };
    c.get_mut().write_all(end).await
}

impl PlainSmtp {
    async fn session(
        &self,
        hop: &Hop,
        env: &QueuedEnvelope,
        rcpts: &[String],
        msg: &mut (dyn AsyncRead + Unpin),
    ) -> Result<Vec<RcptOutcome>, (u16, String)> {
        let t = |e: String| (451u16, e);
        let s = Async::<TcpStream>::connect(hop.addr).or(async {
            async_io::Timer::after(CONNECT_TIMEOUT).await;
            Err(std::io::ErrorKind::TimedOut.into())
        });
        let mut c = BufReader::new(s.await.map_err(|e| (451, format!("451 4.4.1 connecting to {}: {e}", hop.addr)))?);
        let expect =
            |r: (u16, String), ok: u16| if r.0 == ok || (ok == 250 && r.0 / 100 == 2) { Ok(r) } else { Err(r) };
        expect(reply(&mut c).await.map_err(t)?, 220)?;
        let ehlo = cmd(&mut c, &format!("EHLO {}", self.helo)).await.map_err(t)?;
        if ehlo.0 != 250 {
            expect(cmd(&mut c, &format!("HELO {}", self.helo)).await.map_err(t)?, 250)?;
        }
        expect(cmd(&mut c, &format!("MAIL FROM:<{}>", env.mail_from)).await.map_err(t)?, 250)?;
        let mut outs = Vec::with_capacity(rcpts.len());
        for r in rcpts {
            let (code, text) = cmd(&mut c, &format!("RCPT TO:<{r}>")).await.map_err(t)?;
            outs.push(match code / 100 {
                2 => None,
                5 => Some(RcptOutcome::Permanent(text)),
                _ => Some(RcptOutcome::Temporary(text)),
            });
        }
        if outs.iter().all(Option::is_some) {
            let _ = cmd(&mut c, "QUIT").await;
            return Ok(outs.into_iter().flatten().collect());
        }
        expect(cmd(&mut c, "DATA").await.map_err(t)?, 354)?;
        send_body(&mut c, msg).await.map_err(|e| (451, format!("451 4.4.2 {e}")))?;
        let (code, text) = reply(&mut c).await.map_err(t)?;
        // QUIT without waiting for its 221: the outcome is recorded sooner, which narrows
        // the RFC 5321 §6.1 duplicate window (a crash after the 250, before the record).
        let _ = c.get_mut().write_all(b"QUIT\r\n").await;
        let end = all(1, code, &text).pop().filter(|_| code / 100 != 2);
        Ok(outs.into_iter().map(|o| o.or_else(|| end.clone()).unwrap_or(RcptOutcome::Delivered)).collect())
    }
}

impl Transport for PlainSmtp {
    async fn deliver(
        &self,
        hop: &Hop,
        env: &QueuedEnvelope,
        rcpts: &[String],
        message: &mut (dyn AsyncRead + Unpin),
    ) -> Vec<RcptOutcome> {
        if self.needs_auth {
            return all(rcpts.len(), 451, "451 4.7.0 relay AUTH needs the full SMTP client (not built in)");
        }
        match self.session(hop, env, rcpts, message).await {
            Ok(o) => o,
            Err((code, text)) => all(rcpts.len(), code, &text),
        }
    }
}
