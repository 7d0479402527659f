//! Fuzz target: the outbound SMTP client core (issue 14) fed arbitrary server bytes in
//! arbitrary chunks; the first byte picks the chunk size, its top bit AUTH credentials.
//! Must never panic, end with exactly one outcome naming every recipient, keep its reply
//! texts within REPLY_TEXT_MAX, and write a bounded amount per server byte.
#![no_main]
use letterbox::auth::Secret;
use letterbox::proto::smtp::client::{Client, Config, Credentials, Envelope, Event, Timeouts, TlsMode, REPLY_TEXT_MAX};
use libfuzzer_sys::fuzz_target;

const BODY: &[u8] = b"Subject: fuzz\r\n\r\n.dot\r\nbody\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else { return };
    let auth = (ctl & 0x80 != 0).then(|| Credentials { user: "tim".into(), password: Secret::from("pw") });
    let cfg = Config {
        helo_name: "out.example.org".into(),
        tls: if ctl & 0x40 != 0 { TlsMode::Required } else { TlsMode::Opportunistic },
        tls_active: false,
        loopback: true,
        auth,
        timeouts: Timeouts::default(),
    };
    let rcpts = vec!["a@x.example".to_owned(), "b@x.example".to_owned(), "jörg@x.example".to_owned()];
    let env = Envelope { mail_from: "s@example.org".into(), rcpts, size: BODY.len() as u64, eight_bit: ctl & 1 != 0, smtputf8: false };
    let mut c = Client::new(cfg, env, 0);
    let chunk = usize::from(ctl & 0x3f) + 1;
    let (mut written, mut done, mut now) = (0usize, None, 0u64);
    let mut pending: Vec<u8> = Vec::new();
    for piece in input.chunks(chunk) {
        pending.extend_from_slice(piece);
        loop {
            while let Some(ev) = c.poll(now) {
                match ev {
                    Event::Send(b) => written += b.len(),
                    Event::SendSecret(s) => written += s.expose().len(),
                    Event::StartTls => {
                        pending.clear();
                        c.tls_started(now);
                    }
                    Event::SendMessage => {
                        let mut out = Vec::new();
                        c.write_body(BODY, &mut out, now);
                        c.end_body(&mut out, now);
                        written += out.len();
                    }
                    Event::Done(o) => {
                        assert!(done.is_none(), "two outcomes");
                        done = Some(o);
                    }
                }
            }
            let n = c.feed(&pending, now);
            pending.drain(..n);
            if n == 0 {
                break;
            }
        }
        assert!(pending.len() <= input.len());
        now += 1000;
    }
    // Commands are short: a few hundred bytes per reply line fed, plus the body once.
    assert!(written <= 600 + BODY.len() * 2 + input.len() * 300, "wrote {written} for {} input bytes", input.len());
    if done.is_none() {
        c.closed(now);
        while let Some(ev) = c.poll(now) {
            if let Event::Done(o) = ev {
                done = Some(o);
            }
        }
    }
    let o = done.expect("an outcome after close");
    assert_eq!(o.rcpts.len(), 3);
    for r in &o.rcpts {
        assert!(r.reply.len() <= REPLY_TEXT_MAX + 200, "reply text of {} bytes", r.reply.len());
    }
});
