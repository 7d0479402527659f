//! RFC 4978 COMPRESS command (§3): `compress = "COMPRESS" SP algorithm`, authenticated
//! states only, `DEFLATE` the one algorithm. After the tagged OK the driver compresses
//! both directions ([`Event::StartCompress`]; the codec is `deflate`); a second COMPRESS
//! is `NO [COMPRESSIONACTIVE]` (§3). Offered only when the driver can do it
//! (`ImapPolicy::compress`).

use super::api::Event;
use super::parser::{Command, P, R};
use super::session::Session;
use super::types::Tag;

/// RFC 4978 §3 `"COMPRESS" SP algorithm`, after the command name.
pub fn command(p: &mut P) -> R<Command> {
    p.sp()?;
    let algorithm = String::from_utf8_lossy(p.atom()?).to_ascii_uppercase();
    Ok(Command::Compress(algorithm))
}

impl Session {
    pub(super) fn compress(&mut self, tag: Tag, algorithm: &str) {
        if !self.policy.compress || algorithm != "DEFLATE" {
            return self.tagged(&tag, "BAD Unsupported compression algorithm");
        }
        if self.compressing {
            return self.tagged(&tag, "NO [COMPRESSIONACTIVE] DEFLATE active already");
        }
        self.tagged(&tag, "OK DEFLATE active");
        // §3: compression starts right after this CRLF; the client waits for it, so any
        // byte already buffered was sent before and cannot be read either way.
        self.framer.clear();
        self.compressing = true;
        self.out.push_back(Event::StartCompress);
    }
}
