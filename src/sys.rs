//! The only place for libc calls: directory fsync (DESIGN.md §2.4, BAD-INPUTS 54), free
//! space (statvfs, BAD-INPUTS 50), user lookup and privilege drop (setgid/setuid).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::path::Path;

/// fsyncs a directory so a created, linked or renamed entry survives a power cut.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)?.sync_all()
}

/// Bytes available to unprivileged users on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("NUL in path"))?;
    // SAFETY: `c` is a valid NUL-terminated string; `st` is a plain C struct that statvfs
    // fills completely on success, and is only read when it returned 0.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
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
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no user {name:?}"),
        ));
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
            return Err(io::Error::other(
                "privileges could be regained after setuid",
            ));
        }
    }
    Ok(())
}
