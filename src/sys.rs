//! The only place for libc calls: directory fsync (DESIGN.md §2.4, BAD-INPUTS 54), free
//! space (statvfs, BAD-INPUTS 50), user lookup and privilege drop (setgid/setuid).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::path::Path;

/// fsyncs a directory so a created, linked or renamed entry survives a power cut.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    crate::store::fault::stall_point();
    let d = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    File::open(d)?.sync_all()
}

/// Bytes available to unprivileged users on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("NUL in path"))?;
    // SAFETY: `c` is a valid NUL-terminated string; `st` is a plain C struct that statvfs
    // fills completely on success, and is only read when it returned 0.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Bytes and inodes available to unprivileged users on the file system holding `path`
/// (`letterbox doctor`).
pub fn fs_free(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("NUL in path"))?;
    // SAFETY: as in `free_space`: a valid C string and a zeroed struct read only on success.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(((st.f_bavail as u64).saturating_mul(st.f_frsize as u64), st.f_favail as u64))
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// uid, gid and home of a user name, from the password database.
pub fn lookup_user(name: &str) -> io::Result<(u32, u32)> {
    let c = CString::new(name).map_err(|_| io::Error::other("NUL in user name"))?;
    // SAFETY: getpwnam returns NULL or a pointer to static storage valid until the next call;
    // we copy the two integers out at once and call it only from the single startup thread.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no user {name:?}")));
    }
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok((uid, gid))
}

/// Drops root to `uid`/`gid` for good: supplementary groups, gid, then uid (order matters:
/// after setuid the process could no longer change its groups).
pub fn drop_privileges(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscalls with integer arguments; each result is checked.
    unsafe {
        if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setuid(0) == 0 {
            return Err(io::Error::other("privileges could be regained after setuid"));
        }
    }
    Ok(())
}

use std::sync::atomic::{AtomicBool, Ordering};

static HUP: AtomicBool = AtomicBool::new(false);
static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Async-signal-safe: only atomic stores.
    if sig == libc::SIGHUP {
        HUP.store(true, Ordering::SeqCst);
    } else {
        TERM.store(true, Ordering::SeqCst);
    }
}

/// Routes SIGHUP (reload) and SIGTERM/SIGINT (stop) to flags the server polls.
pub fn install_signal_flags() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only performs atomic stores, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGHUP, handler);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

/// True once after each SIGHUP.
pub fn take_hup() -> bool {
    HUP.swap(false, Ordering::SeqCst)
}

/// True after SIGTERM or SIGINT.
pub fn term_requested() -> bool {
    TERM.load(Ordering::SeqCst)
}

/// Reads one line from the terminal with echo off (for `passwd`).
pub fn read_password_tty(prompt: &str) -> io::Result<String> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is a plain C struct filled by tcgetattr before use; fd stays open.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let saved = t;
    t.c_lflag &= !libc::ECHO;
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    let mut w = &tty;
    let _ = write!(w, "{prompt}");
    let _ = w.flush();
    let mut line = String::new();
    let r = std::io::BufReader::new(&tty).read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    let _ = writeln!(w);
    r?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// chown for the data directory handed to `run_as`.
pub fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Caps the kernel send buffer of a socket: a client that stops reading then holds at
/// most this much kernel memory, and the write timeout starts counting sooner (BAD-INPUTS
/// 36/59). Setting it also turns off autotuning, which on Linux grows it to 4 MiB.
pub fn set_send_buffer(sock: &impl std::os::fd::AsRawFd, bytes: i32) -> io::Result<()> {
    set_buffer(sock, libc::SO_SNDBUF, bytes)
}

/// Caps the kernel receive buffer of a socket: a client that floods a session the server
/// has stopped reading (a held reply, BAD-INPUTS 60) then pins at most this much kernel
/// memory, not autotuning's up to 6 MiB.
pub fn set_recv_buffer(sock: &impl std::os::fd::AsRawFd, bytes: i32) -> io::Result<()> {
    set_buffer(sock, libc::SO_RCVBUF, bytes)
}

fn set_buffer(sock: &impl std::os::fd::AsRawFd, which: libc::c_int, bytes: i32) -> io::Result<()> {
    let v: libc::c_int = bytes;
    // SAFETY: a valid fd and a pointer to a c_int that lives for the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            which,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The local time zone's offset from UTC at `unix` seconds, in minutes east (TZ or
/// /etc/localtime, as the C library reads them); 0 when unknown.
#[allow(deprecated)] // libc::time_t on musl: 64-bit from musl 1.2 on; the cast is right either way.
pub fn local_offset_minutes(unix: i64) -> i32 {
    let t: libc::time_t = unix as libc::time_t;
    // SAFETY: `tm` is plain data filled by localtime_r; both pointers are valid for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        (tm.tm_gmtoff / 60) as i32
    } else {
        0
    }
}
