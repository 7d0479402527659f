//! `letterbox sieve check FILE | put NAME FILE | list | activate NAME | activate --none`:
//! the owner's Sieve scripts at the shell (issue 16), the same store ManageSieve edits
//! (`store::scripts`). Scripts are compiled before they are stored; a compile error prints
//! `FILE: line N: message` and exits 65 (EX_DATAERR). FILE `-` is standard input.

use std::io::Read;

use crate::config::Config;
use crate::store::scripts::{Scripts, SCRIPT_BYTES_MAX};
use crate::util::exit;

use super::SieveArgs;

const USAGE: &str =
    "usage: letterbox sieve [--config F] check FILE | put NAME FILE | list | activate NAME | activate --none";

/// `sieve check` needs no config; the others act on the config's data directory.
pub(super) fn run(a: &SieveArgs) -> i32 {
    let args: Vec<&str> = a.args.iter().map(String::as_str).collect();
    match (a.action.as_str(), args.as_slice(), a.none) {
        ("check", [file], false) => check(file),
        ("put", [name, file], false) => super::with_config(a.config.as_deref(), |c| put(c, name, file)),
        ("list", [], false) => super::with_config(a.config.as_deref(), list),
        ("activate", [name], false) => super::with_config(a.config.as_deref(), |c| activate(c, Some(name))),
        ("activate", [], true) => super::with_config(a.config.as_deref(), |c| activate(c, None)),
        _ => {
            eprintln!("letterbox sieve: {USAGE}");
            exit::USAGE
        }
    }
}

/// Reads FILE (or stdin for `-`), at most one byte over the script limit.
fn read(file: &str) -> Result<Vec<u8>, i32> {
    let mut buf = Vec::new();
    let limit = SCRIPT_BYTES_MAX as u64 + 1;
    let r = if file == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    match r {
        Ok(_) => Ok(buf),
        Err(e) => {
            eprintln!("letterbox sieve: {file}: {e}");
            Err(exit::USAGE)
        }
    }
}

/// Compiles `script`; prints the error with its line and returns exit 65 on failure.
fn compile(file: &str, script: &[u8]) -> Result<(), i32> {
    crate::sieve::check_upload(script, &crate::sieve::Limits::default()).map(|_| ()).map_err(|e| {
        eprintln!("letterbox sieve: {file}: {e}");
        exit::DATAERR
    })
}

fn check(file: &str) -> i32 {
    match read(file).and_then(|s| compile(file, &s)) {
        Ok(()) => {
            println!("{file}: ok");
            exit::OK
        }
        Err(code) => code,
    }
}

fn put(c: &Config, name: &str, file: &str) -> i32 {
    let script = match read(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(code) = compile(file, &script) {
        return code;
    }
    match scripts(c).and_then(|s| s.put(name, &script)) {
        Ok(()) => {
            println!("stored {name:?} ({} bytes)", script.len());
            exit::OK
        }
        Err(e) => failed(name, &e),
    }
}

/// One script per line, `* ` before the active one.
fn list(c: &Config) -> i32 {
    match scripts(c).and_then(|s| s.list()) {
        Ok(names) => {
            for (name, active) in names {
                println!("{} {name}", if active { "*" } else { " " });
            }
            exit::OK
        }
        Err(e) => failed("list", &e),
    }
}

fn activate(c: &Config, name: Option<&str>) -> i32 {
    match scripts(c).and_then(|s| s.activate(name)) {
        Ok(()) => {
            match name {
                Some(n) => println!("active: {n:?}"),
                None => println!("no script active"),
            }
            exit::OK
        }
        Err(e) => failed(name.unwrap_or("--none"), &e),
    }
}

fn scripts(c: &Config) -> std::io::Result<Scripts> {
    Scripts::open(&c.data_dir)
}

/// Exit codes: a missing script or bad name 65, a quota 73, anything else 75 (retry).
fn failed(what: &str, e: &std::io::Error) -> i32 {
    eprintln!("letterbox sieve: {what}: {e}");
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput => exit::DATAERR,
        std::io::ErrorKind::QuotaExceeded => exit::CANTCREAT,
        _ => exit::TEMPFAIL,
    }
}
