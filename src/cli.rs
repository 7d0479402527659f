//! The `letterbox` command line (argh). Subcommand names and flags are a contract (issue 2):
//! init, deliver, import, export, check, compact, list (serve and passwd follow).

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::config::{self, Config};
use crate::mbox;
use crate::store::{self, ErrorKind, Folder, NewMessage, Store};
use crate::util::{exit, Spool};

/// letterbox: a single-user mail server (SMTP, POP3, IMAP) with a crash-proof mailbox.
#[derive(FromArgs)]
pub struct Args {
    #[argh(subcommand)]
    pub cmd: Cmd,
}

#[derive(FromArgs)]
#[argh(subcommand)]
pub enum Cmd {
    Serve(ServeArgs),
    Init(InitArgs),
    Passwd(PasswdArgs),
    Deliver(DeliverArgs),
    Import(ImportArgs),
    Export(ExportArgs),
    Check(CheckArgs),
    Compact(CompactArgs),
    List(ListArgs),
}

/// Run the mail server (SMTP, POP3, IMAP) until SIGTERM.
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
pub struct ServeArgs {
    /// config file (default: ./letterbox.toml, ./letterbox-data/letterbox.toml,
    /// /etc/letterbox/letterbox.toml; created in ./letterbox-data when none exists)
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// Set the owner's password (from the terminal, or stdin when it is not one).
#[derive(FromArgs)]
#[argh(subcommand, name = "passwd")]
pub struct PasswdArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// Write a commented letterbox.toml and create the data directory.
#[derive(FromArgs)]
#[argh(subcommand, name = "init")]
pub struct InitArgs {
    /// folder for letterbox.toml (default: current folder)
    #[argh(option, default = "PathBuf::from(\".\")")]
    pub dir: PathBuf,
    /// mail domain (default: the host name, or example.org)
    #[argh(option)]
    pub domain: Option<String>,
    /// the owner's login name (default: $USER, or "owner")
    #[argh(option)]
    pub user: Option<String>,
    /// ignored by init (accepted so every subcommand takes it)
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// Deliver one message from standard input (an MDA for Postfix, fetchmail, .forward).
#[derive(FromArgs)]
#[argh(subcommand, name = "deliver")]
pub struct DeliverArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// folder to deliver to (default INBOX; created if missing)
    #[argh(option, default = "String::from(\"INBOX\")")]
    pub folder: String,
    /// envelope sender: adds a Return-Path header
    #[argh(option)]
    pub from: Option<String>,
}

/// Import an mbox file (mboxo, mboxrd, mboxcl2) or a Maildir folder.
#[derive(FromArgs)]
#[argh(subcommand, name = "import")]
pub struct ImportArgs {
    /// mbox file or Maildir folder
    #[argh(positional)]
    pub path: PathBuf,
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// target folder (default INBOX; created if missing)
    #[argh(option, default = "String::from(\"INBOX\")")]
    pub folder: String,
}

/// Export a folder as mboxrd.
#[derive(FromArgs)]
#[argh(subcommand, name = "export")]
pub struct ExportArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// folder (default INBOX)
    #[argh(option, default = "String::from(\"INBOX\")")]
    pub folder: String,
    /// output file (default: standard output)
    #[argh(option)]
    pub output: Option<PathBuf>,
}

/// Verify every record checksum and index; exit 1 when damage is found.
#[derive(FromArgs)]
#[argh(subcommand, name = "check")]
pub struct CheckArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// truncate torn tails, rebuild indexes, quarantine damaged records
    #[argh(switch)]
    pub repair: bool,
}

/// Reclaim the space of expunged messages.
#[derive(FromArgs)]
#[argh(subcommand, name = "compact")]
pub struct CompactArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// folder (default: all folders)
    #[argh(option)]
    pub folder: Option<String>,
}

/// List folders with message, unseen, byte and reclaimable counts.
#[derive(FromArgs)]
#[argh(subcommand, name = "list")]
pub struct ListArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(args: Args) -> i32 {
    match args.cmd {
        Cmd::Serve(a) => crate::net::serve(a.config.as_deref()),
        Cmd::Init(a) => init(&a),
        Cmd::Passwd(a) => passwd(a.config.as_deref()),
        Cmd::Deliver(a) => with_store(a.config.as_deref(), |c, s| deliver(c, s, &a)),
        Cmd::Import(a) => with_store(a.config.as_deref(), |c, s| import(c, s, &a)),
        Cmd::Export(a) => with_store(a.config.as_deref(), |_, s| export(s, &a)),
        Cmd::Check(a) => with_store(a.config.as_deref(), |_, s| check(s, a.repair)),
        Cmd::Compact(a) => with_store(a.config.as_deref(), |_, s| compact(s, a.folder.as_deref())),
        Cmd::List(a) => with_store(a.config.as_deref(), |_, s| list(s)),
    }
}

fn with_store(cfg: Option<&Path>, f: impl FnOnce(&Config, &Store) -> i32) -> i32 {
    let c = match Config::load_from(cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("letterbox: {e}");
            return exit::CONFIG;
        }
    };
    match Store::open(&c.data_dir) {
        Ok(s) => f(&c, &s),
        Err(e) => {
            eprintln!("letterbox: {}: {e}", c.data_dir.display());
            if e.is_temporary() {
                exit::TEMPFAIL
            } else {
                exit::CANTCREAT
            }
        }
    }
}

/// The commented config `init` writes (every key present, optional ones commented).
pub fn config_template(domain: &str, user: &str, data_dir: &str, password_hash: &str) -> String {
    let q = config::toml::quote;
    let l = config::Limits::default();
    format!(
        "# letterbox configuration. Paths are relative to this file's folder.\n\
         domain = {}        # mail for <user>@<domain> and <alias>@<domain> is the owner's\n\
         aliases = [\"postmaster\"]  # extra local parts delivered to the owner\n\
         user = {}          # the owner's login name (POP3/IMAP)\n\
         data_dir = {}      # folders live here, created mode 0700\n\
         password_hash = {} # set with: letterbox passwd\n\
         # allow_plaintext_auth = false  # allow passwords without TLS off loopback (don't)\n\
         # run_as = \"letterbox\"      # drop root to this user after binding ports\n\
         \n\
         [listen]                       # addresses per protocol; [] disables one\n\
         smtp  = [\"0.0.0.0:25\"]\n\
         imap  = [\"0.0.0.0:143\"]\n\
         imaps = [\"0.0.0.0:993\"]\n\
         pop3  = [\"0.0.0.0:110\"]\n\
         pop3s = [\"0.0.0.0:995\"]\n\
         \n\
         [tls]\n\
         cert = \"cert.pem\"              # PEM chain (self-signed by init; replace with a real one)\n\
         key  = \"key.pem\"\n\
         \n\
         [limits]                       # defaults shown; boards override for their RAM\n\
         # message_size = {}\n\
         # spool_memory = {}\n\
         # free_space_reserve = {}\n\
         # connections = {}\n\
         # connections_per_ip = {}\n\
         # recipients = {}\n\
         # smtp_command_timeout = {}\n\
         # smtp_session_timeout = {}\n\
         # imap_idle_timeout = {}\n\
         # pop3_timeout = {}\n\
         # auth_failures_lockout = {}\n\
         # compact_threshold = {}\n",
        q(domain),
        q(user),
        q(data_dir),
        q(password_hash),
        l.message_size,
        l.spool_memory,
        l.free_space_reserve,
        l.connections,
        l.connections_per_ip,
        l.recipients,
        l.smtp_command_timeout,
        l.smtp_session_timeout,
        l.imap_idle_timeout,
        l.pop3_timeout,
        l.auth_failures_lockout,
        l.compact_threshold,
    )
}

fn init(a: &InitArgs) -> i32 {
    let path = a.dir.join(config::FILE_NAME);
    if path.exists() {
        eprintln!("letterbox: {} exists; not overwriting it", path.display());
        return exit::CANTCREAT;
    }
    let domain = a.domain.clone().unwrap_or_else(default_domain);
    let user = a
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| config::valid_local_part(u))
        .unwrap_or_else(|| "owner".into());
    let password = match crate::net::embedded::random_password() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("letterbox: {e}");
            return exit::SOFTWARE;
        }
    };
    let hash = crate::auth::hash_password(&crate::auth::Secret::from(password.as_str()));
    let text = config_template(&domain, &user, "data", &hash);
    // Validate what we are about to write, so init never leaves a config that fails to load.
    if let Err(e) = Config::parse(&path, &text) {
        eprintln!("letterbox: {e}");
        return exit::USAGE;
    }
    let names = [domain.clone(), format!("mail.{domain}"), "localhost".to_owned()];
    let r = store::create_private_dir(&a.dir)
        .and_then(|()| write_new(&path, text.as_bytes()))
        .and_then(|()| store::create_private_dir(&a.dir.join("data")))
        .and_then(|()| crate::net::tls::write_self_signed(&names, &a.dir.join("cert.pem"), &a.dir.join("key.pem")));
    match r {
        Ok(()) => {
            println!("wrote {}; data directory {}", path.display(), a.dir.join("data").display());
            println!("owner login: {user}  password: {password}  (shown once; change it with letterbox passwd)");
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: {}: {e}", path.display());
            exit::CANTCREAT
        }
    }
}

fn passwd(cfg: Option<&Path>) -> i32 {
    let Some(path) = Config::locate(cfg) else {
        eprintln!("letterbox: no config found (pass --config PATH)");
        return exit::CONFIG;
    };
    if let Err(e) = Config::load(&path) {
        eprintln!("letterbox: {e}");
        return exit::CONFIG;
    }
    let pw = if io::stdin().is_terminal() {
        let a = crate::sys::read_password_tty("New password: ");
        let b = crate::sys::read_password_tty("Again: ");
        match (a, b) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => {
                eprintln!("letterbox: the passwords differ; nothing changed");
                return 1;
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("letterbox: reading the password: {e}");
                return 1;
            }
        }
    } else {
        let mut line = String::new();
        if io::stdin().read_line(&mut line).is_err() {
            eprintln!("letterbox: cannot read the password from stdin");
            return 1;
        }
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if pw.len() < 8 || pw.len() > 1024 {
        eprintln!("letterbox: the password must have 8 to 1024 characters; nothing changed");
        return 1;
    }
    let hash = crate::auth::hash_password(&crate::auth::Secret::from(pw.as_str()));
    let r = std::fs::read_to_string(&path).and_then(|text| {
        let new = config::set_top_level_key(&text, "password_hash", &config::toml::quote(&hash));
        let tmp = path.with_extension("toml.new");
        crate::net::tls::write_private(&tmp, new.as_bytes())?;
        std::fs::rename(&tmp, &path)?;
        crate::sys::fsync_dir(path.parent().unwrap_or(Path::new(".")))
    });
    match r {
        Ok(()) => {
            println!("password changed in {} (send SIGHUP to a running server to apply it)", path.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: {}: {e}", path.display());
            1
        }
    }
}

fn default_domain() -> String {
    std::fs::read_to_string("/etc/mailname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_ascii_lowercase())
        .ok()
        .filter(|s| s.contains('.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        .unwrap_or_else(|| "example.org".into())
}

fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Longest header section `deliver` accepts before it must see the blank line.
pub const MAX_HEADER: usize = 256 * 1024;

/// Why stdin is not a message (sysexits 65).
#[derive(Debug, PartialEq, Eq)]
pub enum NotMessage {
    Empty,
    Nul,
    NoHeader,
    HeaderTooLong,
    /// Larger than the configured limit (sysexits 73).
    TooBig,
}

/// Streams stdin into a spool as CRLF, checking it looks like an RFC 5322 message.
pub fn read_message(
    input: &mut impl Read,
    spool: &mut Spool,
    mime: &mut crate::mime::MimeParser,
    limit: u64,
    return_path: Option<&str>,
) -> io::Result<Result<(), NotMessage>> {
    if let Some(rp) = return_path {
        let h = format!("Return-Path: <{rp}>\r\n");
        mime.push(h.as_bytes());
        spool.write(h.as_bytes())?;
    }
    let mut checker = HeaderCheck::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(buf.len() * 2);
    let mut prev_cr = false;
    let mut first_line = true;
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or(&[]);
        if memchr::memchr(0, chunk).is_some() {
            return Ok(Err(NotMessage::Nul));
        }
        out.clear();
        for &b in chunk {
            if b == b'\n' && !prev_cr {
                out.push(b'\r');
            }
            out.push(b);
            prev_cr = b == b'\r';
        }
        let mut data = &out[..];
        if first_line {
            // An mbox From_ line given by some MDAs is an envelope line, not a header.
            if data.starts_with(b"From ") {
                match memchr::memchr(b'\n', data) {
                    Some(i) => data = data.get(i + 1..).unwrap_or(&[]),
                    None => continue,
                }
            }
            first_line = false;
        }
        if let Err(e) = checker.feed(data) {
            return Ok(Err(e));
        }
        total += data.len() as u64;
        if total <= limit {
            mime.push(data);
            spool.write(data)?;
        }
    }
    if total == 0 {
        return Ok(Err(NotMessage::Empty));
    }
    if total > limit {
        return Ok(Err(NotMessage::TooBig));
    }
    Ok(checker.finish())
}

/// Checks the header section: RFC 5322 §2.2 field lines until the blank line.
#[derive(Default)]
struct HeaderCheck {
    done: bool,
    seen: usize,
    line: Vec<u8>,
    lines: usize,
}

impl HeaderCheck {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), NotMessage> {
        while !self.done && !data.is_empty() {
            let (piece, rest, eol) = match memchr::memchr(b'\n', data) {
                Some(i) => (data.get(..=i).unwrap_or(&[]), data.get(i + 1..).unwrap_or(&[]), true),
                None => (data, &[][..], false),
            };
            data = rest;
            self.seen += piece.len();
            if self.seen > MAX_HEADER {
                return Err(NotMessage::HeaderTooLong);
            }
            self.line.extend_from_slice(piece.get(..piece.len().min(1000)).unwrap_or(&[]));
            if eol {
                self.end_line()?;
            }
        }
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), NotMessage> {
        let l = std::mem::take(&mut self.line);
        if l == b"\r\n" {
            self.done = true;
            return if self.lines == 0 { Err(NotMessage::NoHeader) } else { Ok(()) };
        }
        let cont = matches!(l.first(), Some(b' ' | b'\t'));
        let field = l
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|c| c > 0 && l.get(..c).is_some_and(|n| n.iter().all(|&b| (33..=126).contains(&b))));
        if (cont && self.lines == 0) || (!cont && !field) {
            return Err(NotMessage::NoHeader);
        }
        self.lines += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(), NotMessage> {
        if !self.done && !self.line.is_empty() {
            self.line.extend_from_slice(b"\r\n");
            self.end_line()?;
        }
        if self.lines == 0 {
            return Err(NotMessage::NoHeader);
        }
        Ok(())
    }
}

fn valid_return_path(s: &str) -> bool {
    s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

fn deliver(c: &Config, s: &Store, a: &DeliverArgs) -> i32 {
    if let Some(f) = a.from.as_deref().filter(|f| !valid_return_path(f)) {
        eprintln!("letterbox: invalid --from address {f:?}");
        return exit::USAGE;
    }
    let mut spool = Spool::new(&s.tmp_dir(), c.limits.spool_memory);
    let mut mime = crate::mime::MimeParser::new();
    match read_message(&mut io::stdin().lock(), &mut spool, &mut mime, c.limits.message_size, a.from.as_deref()) {
        Err(e) => {
            eprintln!("letterbox: reading the message: {e}");
            return exit::TEMPFAIL;
        }
        Ok(Err(NotMessage::TooBig)) => {
            eprintln!("letterbox: message larger than the limit of {} bytes", c.limits.message_size);
            return exit::CANTCREAT;
        }
        Ok(Err(why)) => {
            eprintln!("letterbox: not a message: {why:?}");
            return exit::DATAERR;
        }
        Ok(Ok(())) => {}
    }
    if spool.len() > c.limits.message_size {
        eprintln!("letterbox: message larger than the limit of {} bytes", c.limits.message_size);
        return exit::CANTCREAT;
    }
    let msg = NewMessage {
        body: spool,
        date: crate::util::unix_now(),
        flags: 0,
        keywords: Vec::new(),
        meta: Vec::new(),
        attrs: 0,
    };
    match open_or_create(s, &a.folder, true).and_then(|mut f| f.append(&mut [msg])) {
        Ok(uids) => {
            eprintln!("letterbox: delivered to {} as UID {}", a.folder, uids.first().copied().unwrap_or(0));
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: delivery failed: {e}");
            if e.is_temporary() {
                exit::TEMPFAIL
            } else if e.kind == ErrorKind::TooBig {
                exit::CANTCREAT
            } else {
                exit::SOFTWARE
            }
        }
    }
}

fn open_or_create(s: &Store, name: &str, light: bool) -> store::Result<Folder> {
    s.ensure(name)?;
    if light {
        s.open_folder_light(name)
    } else {
        s.open_folder(name)
    }
}

/// Messages and bytes per import batch (one sync each).
const IMPORT_BATCH: usize = 256;
const IMPORT_BATCH_BYTES: u64 = 8 << 20;

fn import(c: &Config, s: &Store, a: &ImportArgs) -> i32 {
    let mut folder = match open_or_create(s, &a.folder, true) {
        Ok(f) => f,
        Err(e) => return report_err("import", &e),
    };
    let mut prog = Progress::new();
    let r = if a.path.is_dir() {
        import_maildir(c, s, &a.path, &mut folder, &mut prog)
    } else {
        import_mbox(c, s, &a.path, &mut folder, &mut prog)
    };
    prog.done();
    match r {
        Ok(n) => {
            // Imported light (no table in RAM): one full open writes the index, so the
            // server's first SELECT loads it instead of replaying every record (issue 9).
            drop(folder);
            if n > 0 {
                let _ = s.open_folder(&a.folder);
            }
            eprintln!("letterbox: imported {n} messages into {}", a.folder);
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: import failed after {} messages: {e}", prog.messages);
            exit::TEMPFAIL
        }
    }
}

fn flush(folder: &mut Folder, batch: &mut Vec<NewMessage>, bytes: &mut u64) -> io::Result<()> {
    if !batch.is_empty() {
        folder.append(batch).map_err(|e| io::Error::other(e.to_string()))?;
        batch.clear();
        *bytes = 0;
    }
    Ok(())
}

/// The MIME structure of a spooled message, for the record's meta (IMAP never re-parses).
fn mime_meta(body: &mut Spool) -> Vec<u8> {
    let mut p = crate::mime::MimeParser::new();
    let mut buf = vec![0u8; 64 * 1024];
    if let Ok(mut r) = body.reader() {
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            p.push(buf.get(..n).unwrap_or(&[]));
        }
    }
    postcard::to_stdvec(&p.finish()).ok().filter(|b| b.len() <= usize::from(u16::MAX)).unwrap_or_default()
}

fn import_mbox(c: &Config, s: &Store, path: &Path, folder: &mut Folder, prog: &mut Progress) -> io::Result<u64> {
    let mut r = mbox::MboxReader::open(path, &s.tmp_dir(), c.limits.spool_memory)?;
    let (mut batch, mut bytes, mut n) = (Vec::new(), 0u64, 0u64);
    while let Some(m) = r.next_message()? {
        bytes += m.body.len();
        batch.push(NewMessage {
            body: m.body,
            date: m.date,
            flags: m.flags,
            keywords: Vec::new(),
            meta: Vec::new(),
            attrs: m.attrs,
        });
        n += 1;
        prog.update(n, r.bytes_read);
        if batch.len() >= IMPORT_BATCH || bytes >= IMPORT_BATCH_BYTES {
            flush(folder, &mut batch, &mut bytes)?;
        }
    }
    flush(folder, &mut batch, &mut bytes)?;
    Ok(n)
}

fn import_maildir(c: &Config, s: &Store, dir: &Path, folder: &mut Folder, prog: &mut Progress) -> io::Result<u64> {
    let files = mbox::maildir_files(dir)?;
    let (mut batch, mut bytes, mut n, mut total) = (Vec::new(), 0u64, 0u64, 0u64);
    for (path, mtime, flags) in files {
        let (mut body, attrs) = mbox::read_message_file(&path, &s.tmp_dir(), c.limits.spool_memory)?;
        bytes += body.len();
        total += body.len();
        let meta = mime_meta(&mut body);
        batch.push(NewMessage { body, date: mtime, flags, keywords: Vec::new(), meta, attrs });
        n += 1;
        prog.update(n, total);
        if batch.len() >= IMPORT_BATCH || bytes >= IMPORT_BATCH_BYTES {
            flush(folder, &mut batch, &mut bytes)?;
        }
    }
    flush(folder, &mut batch, &mut bytes)?;
    Ok(n)
}

/// Progress on stderr when it is a terminal.
struct Progress {
    tty: bool,
    start: std::time::Instant,
    last: std::time::Instant,
    messages: u64,
}

impl Progress {
    fn new() -> Progress {
        let now = std::time::Instant::now();
        Progress { tty: io::stderr().is_terminal(), start: now, last: now, messages: 0 }
    }

    fn update(&mut self, messages: u64, bytes: u64) {
        self.messages = messages;
        if self.tty && self.last.elapsed().as_millis() >= 250 {
            self.last = std::time::Instant::now();
            let secs = self.start.elapsed().as_secs_f64().max(0.001);
            eprint!("\r{messages} messages, {:.1} MB, {:.0} msg/s   ", bytes as f64 / 1e6, messages as f64 / secs);
        }
    }

    fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

fn report_err(what: &str, e: &store::Error) -> i32 {
    eprintln!("letterbox: {what}: {e}");
    if e.is_temporary() {
        exit::TEMPFAIL
    } else {
        1
    }
}

fn export(s: &Store, a: &ExportArgs) -> i32 {
    let folder = match s.open_folder(&a.folder) {
        Ok(f) => f,
        Err(e) => return report_err("export", &e),
    };
    let r = match &a.output {
        Some(p) => std::fs::File::create(p).and_then(|f| {
            export_to(&folder, io::BufWriter::new(f))
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .and_then(|f| f.sync_all())
        }),
        None => export_to(&folder, io::BufWriter::new(io::stdout().lock())).map(|_| ()),
    };
    match r {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("letterbox: export: {e}");
            1
        }
    }
}

fn export_to<W: Write>(folder: &Folder, out: W) -> io::Result<W> {
    let mut w = mbox::MboxWriter::new(out);
    for e in folder.entries() {
        let sender = return_path(folder, e).unwrap_or_else(|| "MAILER-DAEMON".into());
        let crlf = folder.attrs(e).map_err(|e| io::Error::other(e.to_string()))? & store::format::ATTR_EXPORT_CRLF != 0;
        let mut reader = BodyReader { folder, entry: *e, pos: 0 };
        w.message(&sender, i64::from(e.date), crlf, &mut reader)?;
    }
    w.finish()
}

/// The address of a leading `Return-Path:` header, for the From_ line.
fn return_path(folder: &Folder, e: &store::Entry) -> Option<String> {
    let mut head = [0u8; 300];
    let n = folder.read_body(e, 0, &mut head).ok()?;
    let h = head.get(..n)?;
    let rest = h.strip_prefix(b"Return-Path:")?;
    let end = memchr::memchr(b'\n', rest)?;
    let v = String::from_utf8_lossy(rest.get(..end)?).trim().trim_start_matches('<').trim_end_matches('>').to_string();
    Some(if v.is_empty() { "MAILER-DAEMON".into() } else { v }).filter(|v| valid_return_path(v))
}

/// `Read` over a stored body.
pub struct BodyReader<'a> {
    pub folder: &'a Folder,
    pub entry: store::Entry,
    pub pos: u64,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.folder.read_body(&self.entry, self.pos, buf).map_err(|e| io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn check(s: &Store, repair: bool) -> i32 {
    let names = match s.list() {
        Ok(n) => n,
        Err(e) => return report_err("check", &e),
    };
    let mut damaged = false;
    for name in names {
        match check_folder(s, &name, repair) {
            Ok(ok) => damaged |= !ok,
            Err(e) => {
                println!("{name}: error: {e}");
                damaged = true;
            }
        }
    }
    i32::from(damaged)
}

/// One summary line per folder; Ok(false) when damage was found (and not repaired).
fn check_folder(s: &Store, name: &str, repair: bool) -> store::Result<bool> {
    let path = s.folder_path(name)?;
    let v = Folder::verify(&path)?;
    let len = std::fs::metadata(&path)?.len();
    let torn = v.bad.first().is_some_and(|&(at, _)| tail_is_torn(&path, at, len));
    let mid_damage = !v.bad.is_empty() && !torn;
    let index_state = index_status(&path, &v);
    if repair && (!v.bad.is_empty() || index_state != "ok") {
        let _ = std::fs::remove_file(store::index::path_for(&path));
        let mut f = Folder::open(&path)?; // truncates torn tails, quarantines garbage tails
        if !f.state().damaged.is_empty() {
            quarantine_spans(&path, &f.state().damaged.clone())?;
            f.compact()?;
        }
        f.save_index();
        println!("{name}: repaired: {} messages", f.entries().len());
        return Ok(true);
    }
    let tail = if torn {
        format!(", uncommitted torn tail of {} bytes (cut on next write)", len - v.bad.first().map_or(len, |b| b.0))
    } else {
        String::new()
    };
    if mid_damage {
        println!(
            "{name}: DAMAGED at offset {} ({} records ok, {} messages); run check --repair",
            v.bad.first().map_or(0, |b| b.0),
            v.records,
            v.messages
        );
    } else {
        println!("{name}: ok: {} messages, {} records, index {index_state}{tail}", v.messages, v.records);
    }
    Ok(!mid_damage && index_state != "corrupt")
}

/// A bad region that is only an incomplete last record (what a crash leaves).
fn tail_is_torn(path: &Path, at: u64, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut hb = [0u8; store::format::HEADER_LEN];
    if len - at < hb.len() as u64 {
        return true;
    }
    if f.read_exact_at(&mut hb, at).is_err() {
        return false;
    }
    store::format::decode_header(&hb).is_ok_and(|h| at + h.total() > len)
}

/// "ok", "missing", "stale" (valid for a prefix: replayed on open) or "corrupt".
fn index_status(path: &Path, v: &store::folder::Verification) -> &'static str {
    let ip = store::index::path_for(path);
    if !ip.exists() {
        return "missing";
    }
    let Ok(file) = std::fs::File::open(path) else {
        return "corrupt";
    };
    let Ok(meta) = file.metadata() else {
        return "corrupt";
    };
    use std::os::unix::fs::MetadataExt;
    match store::index::load(&ip, &file, meta.ino(), true) {
        None => "stale",
        Some(st) => {
            if st.end == v.state.end && st.entries != v.state.entries {
                "corrupt"
            } else if st.end == v.state.end {
                "ok"
            } else {
                "stale"
            }
        }
    }
}

fn quarantine_spans(path: &Path, spans: &[(u64, u64)]) -> store::Result<()> {
    use std::os::unix::fs::FileExt;
    let src = std::fs::File::open(path)?;
    let q = store::folder::quarantine_path(path);
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(&q)?;
    for &(a, b) in spans {
        let mut buf = vec![0u8; (b - a).min(64 << 20) as usize];
        src.read_exact_at(&mut buf, a)?;
        out.write_all(&buf)?;
    }
    out.sync_all()?;
    println!("quarantined {} damaged spans into {}", spans.len(), q.display());
    Ok(())
}

fn compact(s: &Store, only: Option<&str>) -> i32 {
    let names = match only {
        Some(n) => vec![n.to_owned()],
        None => match s.list() {
            Ok(n) => n,
            Err(e) => return report_err("compact", &e),
        },
    };
    for name in names {
        match s.open_folder(&name).and_then(|mut f| f.compact()) {
            Ok((before, after)) => println!("{name}: {before} -> {after} bytes"),
            Err(e) => return report_err(&format!("compact {name}"), &e),
        }
    }
    exit::OK
}

fn list(s: &Store) -> i32 {
    let names = match s.list() {
        Ok(n) => n,
        Err(e) => return report_err("list", &e),
    };
    println!("{:<24} {:>9} {:>9} {:>12} {:>12}", "folder", "messages", "unseen", "bytes", "reclaimable");
    for name in names {
        match s.open_folder(&name) {
            Ok(f) => {
                let unseen = f.entries().iter().filter(|e| e.flags & mbox::SEEN == 0).count();
                let st = f.state();
                println!("{:<24} {:>9} {:>9} {:>12} {:>12}", name, f.entries().len(), unseen, st.end, st.reclaimable());
            }
            Err(e) => println!("{name:<24} error: {e}"),
        }
    }
    exit::OK
}
