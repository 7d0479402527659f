//! The `letterbox` command line (argh). Subcommand names and flags are a contract (issue 2):
//! init, deliver, import, export, check, compact, list (serve and passwd follow).
//! This file holds the arguments and the dispatch; each group of subcommands has its file:
//! `setup` (init, passwd), `deliver`, `transfer` (import, export), `maintain` (check,
//! compact, list), `dkim` (keys and DNS records, issue 14; with the `outbound` feature),
//! `dns` (the zone records to publish, issue 18; with the `web` feature), `doctor` (the
//! set-up checks, issue 18; `web`), `sieve` (the owner's Sieve scripts, issue 16; `sieve`).

mod deliver;
#[cfg(feature = "outbound")]
mod dkim;
#[cfg(feature = "web")]
mod dns;
#[cfg(feature = "web")]
mod doctor;
mod maintain;
#[cfg(feature = "outbound")]
mod queue;
#[cfg(feature = "outbound")]
mod sendmail;
mod setup;
#[cfg(feature = "sieve")]
mod sieve;
mod transfer;

pub use deliver::{read_message, NotMessage, MAX_HEADER};
#[cfg(feature = "outbound")]
pub use sendmail::{addresses, parse_args as parse_sendmail_args, SendmailArgs};
pub use setup::config_template;
pub use transfer::BodyReader;

use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::config::Config;
use crate::store::{self, Store};
use crate::util::exit;

use deliver::deliver;
use maintain::{check, compact, list};
use setup::{init, passwd};
use transfer::{export, import};

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
    #[cfg(feature = "outbound")]
    Queue(QueueArgs),
    #[cfg(feature = "outbound")]
    Dkim(DkimArgs),
    #[cfg(feature = "web")]
    Dns(DnsArgs),
    #[cfg(feature = "sieve")]
    Sieve(SieveArgs),
    #[cfg(feature = "web")]
    Doctor(DoctorArgs),
    #[cfg(feature = "fetch")]
    Fetch(FetchArgs),
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

/// Show or act on the outbound queue: `list`, `flush`, `delete ID`.
#[cfg(feature = "outbound")]
#[derive(FromArgs)]
#[argh(subcommand, name = "queue")]
pub struct QueueArgs {
    /// list, flush or delete
    #[argh(positional)]
    pub action: String,
    /// the id to delete (from `queue list`)
    #[argh(positional)]
    pub id: Option<u32>,
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// `letterbox sendmail ARGS` (parsed by hand: sendmail(8) flags are not argh's).
#[cfg(feature = "outbound")]
pub fn sendmail_main(args: &[String]) -> i32 {
    match sendmail::parse_args(args) {
        Ok(a) => with_store(a.config.as_deref(), |c, s| sendmail::sendmail(c, s, &a)),
        Err(e) => {
            eprintln!(
                "letterbox sendmail: {e}\nusage: letterbox sendmail [-t] [-i|-oi] [-f FROM] [--config PATH] [RCPT...]"
            );
            exit::USAGE
        }
    }
}

/// Make the DKIM key if there is none and print the DNS TXT records to publish.
#[derive(FromArgs)]
#[argh(subcommand, name = "dkim")]
pub struct DkimArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// sign the message on standard input with the keys and write it, signed, to standard
    /// output (to check the records with a verifier); prints no records
    #[argh(switch)]
    pub sign: bool,
}

/// Print the DNS records to publish (MX, SPF, DKIM, DMARC, MTA-STS, TLSRPT, SRV, CNAME,
/// A/AAAA), ready to paste into the zone; creates the DKIM key if there is none.
#[cfg(feature = "web")]
#[derive(FromArgs)]
#[argh(subcommand, name = "dns")]
pub struct DnsArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// The owner's Sieve scripts: `check FILE`, `put NAME FILE`, `list`, `activate NAME`,
/// `activate --none` (FILE `-` is standard input).
#[cfg(feature = "sieve")]
#[derive(FromArgs)]
#[argh(subcommand, name = "sieve")]
pub struct SieveArgs {
    /// check, put, list or activate
    #[argh(positional)]
    pub action: String,
    /// the script NAME and/or FILE the action takes
    #[argh(positional)]
    pub args: Vec<String>,
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// with activate: make no script active
    #[argh(switch)]
    pub none: bool,
}

/// Check the set-up: config, certificate, listeners, DNS records, port 25, open relay, disk
/// and clock; one line per check (OK, WARN, FAIL); exit status 0 unless something FAILs.
#[cfg(feature = "web")]
#[derive(FromArgs)]
#[argh(subcommand, name = "doctor")]
pub struct DoctorArgs {
    /// config file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// Runs a parsed command line; returns the process exit code.
/// Pull mail from the `[[fetch]]` accounts (all, or NAME): once with --once (for cron),
/// else until stopped.
#[cfg(feature = "fetch")]
#[derive(FromArgs)]
#[argh(subcommand, name = "fetch")]
pub struct FetchArgs {
    /// config file (default: the usual lookup)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// one pass over the accounts, then exit (0 when all succeeded, 75 otherwise)
    #[argh(switch)]
    pub once: bool,
    /// the account to run (its `name`); all when left out
    #[argh(positional)]
    pub name: Option<String>,
}

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
        #[cfg(feature = "outbound")]
        Cmd::Queue(a) => with_store(a.config.as_deref(), |c, _| queue::run(c, &a)),
        #[cfg(feature = "outbound")]
        Cmd::Dkim(a) => with_config(a.config.as_deref(), |c| dkim::dkim(c, a.sign)),
        #[cfg(feature = "web")]
        Cmd::Dns(a) => with_config(a.config.as_deref(), dns::dns),
        #[cfg(feature = "sieve")]
        Cmd::Sieve(a) => sieve::run(&a),
        #[cfg(feature = "web")]
        Cmd::Doctor(a) => doctor::doctor(a.config.as_deref()),
        #[cfg(feature = "fetch")]
        Cmd::Fetch(a) => {
            with_store(a.config.as_deref(), |c, s| crate::net::fetch::run_cli(c, s, a.name.as_deref(), a.once))
        }
    }
}

fn with_store(cfg: Option<&Path>, f: impl FnOnce(&Config, &Store) -> i32) -> i32 {
    with_config(cfg, |c| store_then(c, f))
}

fn with_config(cfg: Option<&Path>, f: impl FnOnce(&Config) -> i32) -> i32 {
    match Config::load_from(cfg) {
        Ok(c) => f(&c),
        Err(e) => {
            eprintln!("letterbox: {e}");
            exit::CONFIG
        }
    }
}

fn store_then(c: &Config, f: impl FnOnce(&Config, &Store) -> i32) -> i32 {
    match Store::open(&c.data_dir) {
        Ok(s) => f(c, &s),
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

fn report_err(what: &str, e: &store::Error) -> i32 {
    eprintln!("letterbox: {what}: {e}");
    if e.is_temporary() {
        exit::TEMPFAIL
    } else {
        1
    }
}
