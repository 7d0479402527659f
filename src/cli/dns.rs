//! `letterbox dns`: prints the zone records to publish (issue 18; the lines come from
//! `web::zone`). Like `letterbox dkim`, it first creates the Ed25519 DKIM key when there is
//! none, so the record it prints is the key outbound mail will be signed with; a build
//! without `outbound` signs nothing and prints no DKIM record.

use crate::config::Config;
use crate::util::exit;
use crate::web::zone::{self, DkimTxt};

pub(super) fn dns(c: &Config) -> i32 {
    let dkim = match dkim_records(c) {
        Ok(d) => d,
        Err(code) => return code,
    };
    for line in zone::records(c, &dkim) {
        println!("{line}");
    }
    exit::OK
}

#[cfg(feature = "outbound")]
fn dkim_records(c: &Config) -> Result<Vec<DkimTxt>, i32> {
    use crate::mailauth::keys::{self, KeyError, KeySet};
    let selector = &c.dkim.selector;
    let (set, created) = KeySet::load_or_create(&c.data_dir, selector).map_err(|e| {
        eprintln!("letterbox: {e}");
        match e {
            KeyError::Io(..) => exit::CANTCREAT,
            KeyError::Permissions(..) | KeyError::Invalid(..) => exit::CONFIG,
        }
    })?;
    if created {
        let path = c.data_dir.join(keys::DIR).join(format!("{selector}.ed25519.pk8"));
        eprintln!("letterbox: created the DKIM key {}", path.display());
    }
    Ok(set.keys.iter().map(|k| DkimTxt { selector: k.selector.clone(), value: k.record() }).collect())
}

#[cfg(not(feature = "outbound"))]
fn dkim_records(_: &Config) -> Result<Vec<DkimTxt>, i32> {
    Ok(Vec::new())
}
