//! Shared helpers for integration tests: a temporary letterbox home with a config, and the
//! real binary built by cargo.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_letterbox");

/// The raw-socket protocol clients (IMAP, POP3, SMTP) and shared helpers every Python test
/// script starts with: one copy for all test files.
pub const RAW_CLIENT: &str = include_str!("raw_client.py");

/// The command line that runs the letterbox binary with `args`: under a cross target the
/// emulator named by `LETTERBOX_TEST_RUNNER` (set by scripts/qemu-runner) comes first, and
/// `LETTERBOX_BIN` names a board build (scripts/test-boards.sh), so the tested binary is the
/// one that ships. (A child process is started by the host kernel, which cannot run an ARM
/// binary by itself: binfmt_misc is not registered here.)
pub fn letterbox_argv(args: &[&str]) -> Vec<String> {
    let bin = std::env::var("LETTERBOX_BIN").unwrap_or_else(|_| BIN.to_owned());
    let runner = std::env::var("LETTERBOX_TEST_RUNNER").unwrap_or_default();
    let mut argv: Vec<String> = runner.split_whitespace().map(str::to_owned).collect();
    argv.push(bin);
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    argv
}

/// A command running the letterbox binary (see [`letterbox_argv`]).
pub fn letterbox() -> Command {
    let argv = letterbox_argv(&[]);
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// True when the binary runs under an emulator: RSS figures then measure qemu, not us.
pub fn under_emulator() -> bool {
    std::env::var("LETTERBOX_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty())
}

/// A temporary folder with `letterbox.toml` (domain example.org, user alice, data in data/).
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(name: &str) -> Home {
        Self::with_config(name, "")
    }

    /// `extra` is appended to the config (e.g. "[limits]\nmessage_size = 1000\n").
    pub fn with_config(name: &str, extra: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("letterbox-test-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Only loopback may be a test target: the inbound checks (which ask the DNS server of
        // /etc/resolv.conf unless `[outbound] resolver` says otherwise) stay off unless a test
        // turns them on with a `[checks]` table of its own (tests/checks.rs).
        let checks =
            if extra.contains("[checks]") { "" } else { "\n[checks]\nspf = false\ndkim = false\ndmarc = false\n" };
        let cfg = format!(
            "domain = \"example.org\"\naliases = [\"postmaster\"]\nuser = \"alice\"\ndata_dir = \"data\"\n{extra}{checks}"
        );
        std::fs::write(dir.join("letterbox.toml"), cfg).unwrap();
        Home { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("letterbox.toml")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = letterbox();
        c.args(args).arg("--config").arg(self.config());
        c
    }

    /// Runs a subcommand with `--config`, stdin from `input`.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let t = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        t.join().unwrap();
        out
    }

    pub fn deliver(&self, msg: &[u8]) -> i32 {
        self.run(&["deliver"], msg).status.code().unwrap_or(-1)
    }

    pub fn store(&self) -> letterbox::store::Store {
        letterbox::store::Store::open(&self.data()).unwrap()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deterministic xorshift64* for reproducible "random" tests (seed printed by callers).
pub struct Rng(pub u64);

impl Rng {
    pub fn from_env(default: u64) -> Rng {
        let seed = std::env::var("LETTERBOX_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
        eprintln!("seed = {seed} (set LETTERBOX_SEED to reproduce)");
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A CRLF message with a unique subject and `size` body bytes.
pub fn message(id: &str, size: usize) -> Vec<u8> {
    let mut m =
        format!("From: test@example.net\r\nTo: alice@example.org\r\nSubject: {id}\r\nMessage-ID: <{id}@test>\r\n\r\n")
            .into_bytes();
    let line = format!("{id} body line 0123456789 abcdefghijklmnopqrstuvwxyz\r\n");
    while m.len() < size {
        m.extend_from_slice(line.as_bytes());
    }
    m
}

/// Lists (uid, flags, body) of a folder through the library.
pub fn contents(store: &letterbox::store::Store, folder: &str) -> Vec<(u32, u32, Vec<u8>)> {
    let f = store.open_folder(folder).unwrap();
    f.entries().iter().map(|e| (e.uid, e.flags, f.body(e).unwrap())).collect()
}

pub fn check_clean(home: &Home) {
    let out = home.run(&["check"], b"");
    assert!(
        out.status.success(),
        "check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// The owner's password in every test server.
pub const PASSWORD: &str = "correct horse battery";

/// A running `letterbox serve` on free loopback ports, with a self-signed certificate.
pub struct Server {
    pub home: Home,
    pub child: Option<std::process::Child>,
    pub smtp: u16,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
    /// RFC 6409 submission (STARTTLS + AUTH) and RFC 8314 implicit-TLS submission.
    pub submission: u16,
    pub submissions: u16,
    /// RFC 5804 ManageSieve.
    pub managesieve: u16,
    pub log: PathBuf,
    /// Extra environment for the server process (e.g. LETTERBOX_FAULT).
    pub env: Vec<(String, String)>,
}

/// A free loopback port for a test server to listen on.
///
/// Never from the kernel's ephemeral range (`ip_local_port_range`): the kernel hands those to
/// outgoing client sockets, so a port found free by binding port 0 can be taken by some other
/// test's client connection before the server binds it (CI saw `Address already in use`).
/// Ports below the ephemeral range are only ever taken by explicit binds; a per-process
/// counter (starting at a pid-derived offset) keeps this process's servers apart, and each
/// candidate is checked with a real bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(32768);
    let (base, span) = if low > 12000 { (10000, low - 10000) } else { (low.saturating_sub(2000).max(1024), 1000) };
    let start = std::process::id().wrapping_mul(2654435761) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (base + (start + n) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}

impl Server {
    /// Starts a server; `extra` is appended to the top-level config keys (before tables),
    /// `limits` to a `[limits]` table.
    pub fn start(name: &str, extra: &str, limits: &str) -> Server {
        Self::start_env(name, extra, limits, &[])
    }

    /// Like `start`, with extra environment variables for the server process.
    pub fn start_env(name: &str, extra: &str, limits: &str, env: &[(&str, &str)]) -> Server {
        Self::start_listen(name, extra, "", limits, env)
    }

    /// Like `start_env`, with extra `[listen]` lines (`http = [...]`, issue 18).
    pub fn start_listen(name: &str, extra: &str, listen: &str, limits: &str, env: &[(&str, &str)]) -> Server {
        let (smtp, imap, imaps, pop3, pop3s) = (free_port(), free_port(), free_port(), free_port(), free_port());
        let (submission, submissions, managesieve) = (free_port(), free_port(), free_port());
        let cfg = format!(
            "{extra}\n[listen]\nsmtp = [\"127.0.0.1:{smtp}\"]\nsubmission = [\"127.0.0.1:{submission}\"]\nsubmissions = [\"127.0.0.1:{submissions}\"]\nimap = [\"127.0.0.1:{imap}\"]\nimaps = [\"127.0.0.1:{imaps}\"]\npop3 = [\"127.0.0.1:{pop3}\"]\npop3s = [\"127.0.0.1:{pop3s}\"]\nmanagesieve = [\"127.0.0.1:{managesieve}\"]\n{listen}\n[tls]\ncert = \"init/cert.pem\"\nkey = \"init/key.pem\"\n[limits]\n{limits}\n"
        );
        let home = Home::with_config(name, &cfg);
        let init = letterbox()
            .args(["init", "--dir"])
            .arg(home.dir.join("init"))
            .args(["--domain", "example.org", "--user", "alice"])
            .output()
            .unwrap();
        assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
        let pw = home.run(&["passwd"], format!("{PASSWORD}\n").as_bytes());
        assert!(pw.status.success(), "passwd: {}", String::from_utf8_lossy(&pw.stderr));
        let log = home.dir.join("server.log");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Server {
            home,
            child: None,
            smtp,
            imap,
            imaps,
            pop3,
            pop3s,
            submission,
            submissions,
            managesieve,
            log,
            env,
        };
        s.spawn();
        s
    }

    /// (Re)starts the process on the same config and data. Should a port have been taken by
    /// someone else meanwhile, the listeners move to fresh ports (the fields follow).
    pub fn spawn(&mut self) {
        for attempt in 0.. {
            match self.try_spawn() {
                Ok(()) => return,
                Err(log) if attempt < 5 && log.contains("Address already in use") => self.move_ports(),
                Err(log) => panic!("server did not start: {log}"),
            }
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let log_start = file_len(&self.log);
        let child = self
            .home
            .cmd(&["serve"])
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        for port in [self.smtp, self.pop3, self.imap] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                let exited = self.child.as_mut().map(|c| matches!(c.try_wait(), Ok(Some(_)))).unwrap_or(true);
                if exited || std::time::Instant::now() >= deadline {
                    self.kill9();
                    let log = self.log_text();
                    return Err(log.get(log_start as usize..).unwrap_or(&log).to_string());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Rewrites the `[listen]` addresses in the config to fresh free ports.
    fn move_ports(&mut self) {
        let mut cfg = std::fs::read_to_string(self.home.config()).unwrap();
        let ports = [&mut self.smtp, &mut self.imap, &mut self.imaps, &mut self.pop3, &mut self.pop3s];
        for port in ports.into_iter().chain([&mut self.submission, &mut self.submissions, &mut self.managesieve]) {
            let fresh = free_port();
            cfg = cfg.replace(&format!("\"127.0.0.1:{port}\""), &format!("\"127.0.0.1:{fresh}\""));
            *port = fresh;
        }
        std::fs::write(self.home.config(), cfg).unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A field of /proc/PID/status in KiB (e.g. "VmHWM:", "VmRSS:").
    pub fn status_kib(&self, field: &str) -> u64 {
        let st = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        st.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Open file descriptors of the server process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let mut c = c;
        c.wait().ok().and_then(|s| s.code())
    }

    /// Python 3 with this server's ports and password in the environment (LB_SMTP, LB_POP3,
    /// LB_POP3S, LB_IMAP, LB_IMAPS, LB_SUBMISSION, LB_SUBMISSIONS, LB_USER, LB_PASS); fails the test on a non-zero exit.
    /// Runs `script` after the shared raw clients and a test file's own `prelude`.
    pub fn py(&self, prelude: &str, script: &str) -> String {
        self.python(&format!("{RAW_CLIENT}\n{prelude}\n{script}"))
    }

    pub fn python(&self, script: &str) -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("LB_SMTP", self.smtp.to_string())
            .env("LB_POP3", self.pop3.to_string())
            .env("LB_POP3S", self.pop3s.to_string())
            .env("LB_IMAP", self.imap.to_string())
            .env("LB_IMAPS", self.imaps.to_string())
            .env("LB_SUBMISSION", self.submission.to_string())
            .env("LB_SUBMISSIONS", self.submissions.to_string())
            .env("LB_MANAGESIEVE", self.managesieve.to_string())
            .env("LB_USER", "alice")
            .env("LB_PASS", PASSWORD)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "python failed:\n{}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Strips the `Return-Path:` and `Received:` trace headers letterbox prepends.
pub fn strip_trace(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    loop {
        let is_trace = rest.starts_with(b"Return-Path:") || rest.starts_with(b"Received:");
        if !is_trace {
            return rest;
        }
        // Skip the field and its folded continuation lines.
        let mut i = 0;
        loop {
            match rest[i..].windows(2).position(|w| w == b"\r\n") {
                Some(p) => {
                    i += p + 2;
                    if !matches!(rest.get(i), Some(b' ' | b'\t')) {
                        break;
                    }
                }
                None => return &[],
            }
        }
        rest = &rest[i..];
    }
}

/// Runs curl (`-sS`, no stdin) with `args`; its output, asserting that it succeeded.
pub fn curl(args: &[&str]) -> Vec<u8> {
    let o = Command::new("curl").arg("-sS").args(args).stdin(Stdio::null()).output().expect("curl");
    assert!(o.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// Every file and folder under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// A scripted remote SMTP server (tests/common/fake_mx.py: 250, 451 or 550 by the
/// recipient's local part) and the file it logs accepted messages to.
pub struct FakeMx {
    child: std::process::Child,
    pub port: u16,
    pub log: PathBuf,
}

/// Prints each logged message as `from<TAB>rcpt,rcpt<TAB>data` (data escaped).
const FAKE_MX_DUMP: &str = "import json,sys\nfor l in open(sys.argv[1]):\n j=json.loads(l); print(j['mail_from']+'\\t'+','.join(j['rcpts'])+'\\t'+j['data'].encode('unicode_escape').decode())";

impl FakeMx {
    pub fn start(dir: &Path) -> FakeMx {
        let port = free_port();
        let log = dir.join(format!("fake-mx-{port}.jsonl"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/fake_mx.py");
        let child = Command::new("python3").arg(script).arg(port.to_string()).arg(&log).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        FakeMx { child, port, log }
    }

    /// Accepted messages so far: (mail_from, rcpts, data).
    pub fn received(&self) -> Vec<(String, Vec<String>, String)> {
        if !self.log.exists() {
            return Vec::new();
        }
        let out = Command::new("python3").arg("-c").arg(FAKE_MX_DUMP).arg(&self.log).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let mut f = l.splitn(3, '\t');
                let from = f.next().unwrap_or("").to_owned();
                let rcpts = f.next().unwrap_or("").split(',').filter(|x| !x.is_empty()).map(String::from).collect();
                let data = f.next().unwrap_or("").replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t");
                (from, rcpts, data)
            })
            .collect()
    }
}

impl Drop for FakeMx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[outbound]` pointing at a loopback relay (goes after `[limits]`, the last table).
pub fn relay_to(port: u16) -> String {
    format!("\n[outbound]\nrelay = \"127.0.0.1:{port}\"\nrelay_tls = \"none\"\n")
}

/// dnsmasq (Debian's dnsmasq-base) on a loopback port, killed on drop.
pub struct Dns {
    child: std::process::Child,
    pub port: u16,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// dnsmasq on loopback answering for `*.test` only what `args` say (`--txt-record=…`,
/// `--host-record=…`, `--mx-host=…`), once it answers.
pub fn dnsmasq(args: &[String]) -> Dns {
    let port = free_port();
    let child = Command::new("/usr/sbin/dnsmasq")
        .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces"])
        .args(["--listen-address=127.0.0.1", "--pid-file=", "--local=/test/"])
        .arg(format!("--port={port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq (scripts/deps.sh installs dnsmasq-base)");
    let dns = Dns { child, port };
    wait_for_dns(([127, 0, 0, 1], port).into(), "ready.test");
    dns
}

/// Waits until the server answers a throw-away query for `probe` through a fresh resolver:
/// up to 30 s, since a port not yet bound fails at once (ICMP port unreachable) and a
/// loaded CI machine can take seconds to start dnsmasq.
pub fn wait_for_dns(addr: std::net::SocketAddr, probe: &str) {
    use letterbox::dns::{DnsError, Resolver, Rtype};
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < until {
        let r = letterbox::net::dns::StubResolver::with_timeout(addr, std::time::Duration::from_millis(200));
        if smol::block_on(r.lookup(probe, Rtype::A)) != Err(DnsError::Temporary) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no DNS server on {addr}");
}

/// A 2048-bit RSA key made by openssl at `path` (mode 0600), as an owner makes one for DKIM.
pub fn make_rsa(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let o = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(path)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl genpkey: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
