//! The outbound queue's transport (`net::outbound::Transport`) over the SMTP client
//! (`net::smtp_client`): MX hops get opportunistic STARTTLS (RFC 7435: verified when the
//! certificate allows, logged either way), the relay gets `relay_tls` with a verified
//! certificate and AUTH with `relay_user`/`relay_password_file` (RFC 4954); every message
//! from the owner's domain is DKIM-signed first (RFC 6376 relaxed/relaxed, RSA then Ed25519:
//! `mailauth::dkim_sign`), in a streamed pass over the queued copy, so no message is held in
//! RAM. Without DKIM keys (`letterbox dkim` makes them) mail goes out unsigned, logged once.

use std::io::Read;

use smol::io::AsyncRead;

use super::outbound::Transport;
use super::smtp_client::{self, Roots, Target, TlsPolicy, CONNECT_TIMEOUT};
use crate::auth::Secret;
use crate::config::outbound::RelayTls;
use crate::config::Config;
use crate::mailauth::dkim_sign::Signer;
use crate::mailauth::keys::{Key, KeySet};
use crate::outbound::route::Hop;
use crate::outbound::{QueuedEnvelope, RcptOutcome};
use crate::proto::smtp::client::{Credentials, Envelope, Status, Timeouts};

/// Bytes read from the queued copy at a time while signing.
const SIGN_CHUNK: usize = 64 * 1024;

/// See the module docs.
pub struct ClientTransport {
    helo: String,
    domain: String,
    relay_tls: RelayTls,
    /// `relay_user` and the password read at start (the file stays 0600).
    auth: Option<(String, String)>,
    roots: Roots,
    keys: Vec<Key>,
}

impl ClientTransport {
    /// The transport for `cfg`: CA roots from `[outbound] ca_file` or the system bundle (an
    /// unreadable bundle leaves none: then only opportunistic MX delivery can succeed, as
    /// unverified), DKIM keys from the data directory.
    pub fn new(cfg: &Config, password: Option<String>) -> ClientTransport {
        let ca = cfg.outbound.ca_file.clone().unwrap_or_else(|| smtp_client::SYSTEM_CA_FILE.into());
        let roots = Roots::load(&ca).unwrap_or_else(|e| {
            eprintln!("letterbox: outbound: no CA roots ({e}): certificates cannot be verified");
            Roots::empty()
        });
        let keys = match KeySet::load(&cfg.data_dir, &cfg.dkim.selector) {
            Ok(k) if k.keys.is_empty() => {
                eprintln!("letterbox: outbound: no DKIM key (run letterbox dkim): mail goes out unsigned");
                Vec::new()
            }
            Ok(k) => k.keys,
            Err(e) => {
                eprintln!("letterbox: outbound: DKIM keys unusable ({e}): mail goes out unsigned");
                Vec::new()
            }
        };
        ClientTransport {
            helo: cfg.domain.clone(),
            domain: cfg.domain.clone(),
            relay_tls: cfg.outbound.relay_tls,
            auth: cfg.outbound.relay_user.clone().zip(password),
            roots,
            keys,
        }
    }

    fn target(&self, hop: &Hop) -> Target {
        let tls = match (hop.relay, self.relay_tls) {
            (false, _) => TlsPolicy::Opportunistic,
            (true, RelayTls::StartTls) => TlsPolicy::Required,
            (true, RelayTls::Implicit) => TlsPolicy::Implicit,
            (true, RelayTls::None) => TlsPolicy::None,
        };
        let auth = self
            .auth
            .as_ref()
            .filter(|_| hop.relay)
            .map(|(user, pass)| Credentials { user: user.clone(), password: Secret::from(pass.as_str()) });
        Target {
            addr: hop.addr,
            server_name: hop.host.clone(),
            tls,
            relay: hop.relay,
            helo_name: self.helo.clone(),
            auth,
            timeouts: Timeouts::default(),
            connect_timeout: CONNECT_TIMEOUT,
        }
    }

    /// The DKIM-Signature fields for the message, read once from `message`.
    fn sign(&self, message: &mut dyn Read) -> Vec<u8> {
        if self.keys.is_empty() {
            return Vec::new();
        }
        let now = crate::util::unix_now().max(0) as u64;
        let mut s = Signer::new(&self.keys, &self.domain, now);
        let mut buf = vec![0u8; SIGN_CHUNK];
        loop {
            match message.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => s.update(buf.get(..n).unwrap_or_default()),
                Err(_) => return Vec::new(),
            }
        }
        match s.finish() {
            Ok(fields) => fields.concat().into_bytes(),
            Err(e) => {
                eprintln!("letterbox: outbound: not signed: {e:?}");
                Vec::new()
            }
        }
    }
}

impl Transport for ClientTransport {
    fn prefix(&self, message: &mut dyn Read) -> Vec<u8> {
        self.sign(message)
    }

    async fn deliver(
        &self,
        hop: &Hop,
        env: &QueuedEnvelope,
        rcpts: &[String],
        size: u64,
        message: &mut (dyn AsyncRead + Unpin),
    ) -> Vec<RcptOutcome> {
        let envelope = Envelope {
            mail_from: env.mail_from.clone(),
            rcpts: rcpts.to_vec(),
            size,
            eight_bit: env.body_8bit,
            smtputf8: env.smtputf8,
        };
        let mut body = message;
        let report = smtp_client::deliver(self.target(hop), &self.roots, envelope, &mut body).await;
        let tls = &report.tls;
        super::log("smtp-out", &hop.addr, &format!("{}: TLS {tls:?}", hop.host));
        let by_rcpt = |r: &String| report.outcome.rcpts.iter().find(|x| &x.rcpt == r);
        rcpts
            .iter()
            .map(|r| match by_rcpt(r) {
                Some(x) if x.status == Status::Delivered => RcptOutcome::Delivered,
                Some(x) if x.status == Status::Permanent => RcptOutcome::Permanent(x.reply.clone()),
                Some(x) => RcptOutcome::Temporary(x.reply.clone()),
                None => RcptOutcome::Temporary("451 4.4.0 no result for this recipient".into()),
            })
            .collect()
    }
}
