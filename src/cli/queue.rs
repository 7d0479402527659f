//! `letterbox queue list | flush | delete ID`: the outbound queue for humans (issue 14).
//! `list` shows id, age, pending recipients, next attempt and last error (the latter two
//! from the daemon's soft state `queue/state`, when it has written one); `flush` asks the
//! running daemon to retry everything now (a flag file it looks for every second);
//! `delete` expunges a record (its recipients get nothing, and no bounce).

use crate::config::Config;
use crate::outbound::queue::{self, Item};
use crate::util::exit;

use super::QueueArgs;

/// "3d4h", "12m", "40s": an age for humans.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

pub(super) fn run(c: &Config, a: &QueueArgs) -> i32 {
    match (a.action.as_str(), a.id) {
        ("list", None) => list(c),
        ("flush", None) => flush(c),
        ("delete", Some(id)) => delete(c, id),
        _ => {
            eprintln!("letterbox queue: usage: queue list | queue flush | queue delete ID");
            exit::USAGE
        }
    }
}

fn list(c: &Config) -> i32 {
    let f = match queue::open(&c.data_dir).and_then(|q| q.open_folder(queue::FOLDER)) {
        Ok(f) => f,
        Err(e) => return super::report_err("queue", &e),
    };
    let items = queue::items(&f);
    let state = queue::read_state(&c.data_dir);
    let now = crate::util::unix_now();
    println!("{:<8} {:<8} {:<20} {:<10} RECIPIENTS / LAST ERROR", "ID", "AGE", "NEXT ATTEMPT", "SIZE");
    for it in &items {
        line(it, state.get(&it.uid), now);
    }
    println!("{} message(s) queued", items.len());
    exit::OK
}

fn line(it: &Item, st: Option<&(u32, i64, String)>, now: i64) {
    let next = match st {
        Some((_, t, _)) if *t > now => format!("in {}", human_age(t - now)),
        Some(_) => "now".to_owned(),
        None => "when the server runs".to_owned(),
    };
    let pending: Vec<&str> = it.pending().iter().filter_map(|&i| it.env.rcpts.get(i).map(String::as_str)).collect();
    println!("{:<8} {:<8} {:<20} {:<10} {}", it.uid, human_age(now - it.queued), next, it.size, pending.join(", "));
    let from = if it.env.mail_from.is_empty() { "<>" } else { &it.env.mail_from };
    println!("{:>48} from {from}", "");
    if let Some((attempts, _, err)) = st.filter(|s| !s.2.is_empty()) {
        println!("{:>48} after {attempts} attempt(s): {err}", "");
    }
}

fn flush(c: &Config) -> i32 {
    let p = queue::file(&c.data_dir, queue::FLUSH_FILE);
    match queue::open(&c.data_dir)
        .map_err(|e| e.to_string())
        .and_then(|_| std::fs::write(&p, b"").map_err(|e| e.to_string()))
    {
        Ok(()) => {
            println!("flush requested: the running server retries every queued message within a second");
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox queue: {}: {e}", p.display());
            exit::TEMPFAIL
        }
    }
}

fn delete(c: &Config, id: u32) -> i32 {
    let r = queue::open(&c.data_dir).and_then(|q| q.open_folder(queue::FOLDER)).and_then(|mut f| f.expunge(&[id]));
    match r {
        Ok(gone) if gone.is_empty() => {
            eprintln!("letterbox queue: no queued message {id}");
            1
        }
        Ok(_) => {
            println!("deleted {id}");
            exit::OK
        }
        Err(e) => super::report_err("queue", &e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages() {
        assert_eq!(super::human_age(42), "42s");
        assert_eq!(super::human_age(7 * 60 + 30), "7m");
        assert_eq!(super::human_age(4 * 3600 + 60), "4h1m");
        assert_eq!(super::human_age(5 * 86_400 + 7200), "5d2h");
    }
}
