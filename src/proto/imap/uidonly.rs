//! RFC 9586 UIDONLY: after `ENABLE UIDONLY` (§3.1) the session never uses message sequence
//! numbers: FETCH, STORE, SEARCH, COPY and MOVE without the UID prefix are
//! `BAD [UIDREQUIRED]` (§3.2), FETCH data comes as `* uid UIDFETCH (...)` (§3.3; flag
//! updates too, in `view`), and expunges as VANISHED (§3.4, as with QRESYNC). EXISTS stays.

use super::parser::Command;

/// Does `cmd` name messages by sequence number (RFC 9586 §3.2)?
pub fn uses_sequence_numbers(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Fetch { uid: false, .. }
            | Command::Store { uid: false, .. }
            | Command::Search { uid: false, .. }
            | Command::Copy { uid: false, .. }
    )
}
