//! RFC 4978 COMPRESS=DEFLATE in the connection layer: after the tagged OK every byte the
//! session writes goes through [`Deflater`] (each write of at most [`Z_CHUNK`] bytes is
//! sync-flushed) and every byte read goes through [`Inflater`] before the core sees
//! it, over plain TCP or TLS alike (the compression sits inside TLS, §6).
//!
//! Memory per compressing session: the inflater (~43 KiB), the deflater (~56 KiB, plus its
//! transient symbol buffer while a write is coded), the
//! compressed input not yet inflated (at most `PENDING_MAX`) and one compressed output
//! chunk (about [`Z_CHUNK`]); a deflate bomb inflates only as far as the session's input
//! buffer has room (BAD-INPUTS 104).

use crate::net::conn::Conn;
use crate::net::PENDING_MAX;
use crate::proto::imap::deflate::{literal_block, Deflater, Inflater};

/// Plain bytes compressed per write: each is one DEFLATE block ending in a sync flush.
pub const Z_CHUNK: usize = 16 * 1024;

/// Both directions of one compressed session.
pub(super) struct Compression {
    def: Deflater,
    inf: Inflater,
    /// Compressed bytes read and not yet inflated.
    raw: Vec<u8>,
    /// One compressed chunk on its way out.
    zout: Vec<u8>,
}

impl Compression {
    /// The session's compression and its stop-time `bye`, compressed as a self-contained
    /// block (it needs no history, so it is valid whenever it is sent).
    pub(super) fn new(bye: &[u8]) -> (Box<Compression>, Vec<u8>) {
        let z = Compression { def: Deflater::default(), inf: Inflater::default(), raw: Vec::new(), zout: Vec::new() };
        (Box::new(z), literal_block(bye))
    }

    /// Compresses and writes `data`; the error is the disconnect reason for the log.
    pub(super) async fn write(&mut self, conn: &mut Conn, data: &[u8]) -> Result<(), String> {
        for piece in data.chunks(Z_CHUNK) {
            self.zout.clear();
            self.def.compress(piece, &mut self.zout);
            conn.flush(&mut self.zout).await?;
        }
        Ok(())
    }

    /// Where the next bytes read from the socket go.
    pub(super) fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.raw
    }

    /// Inflates buffered input into `pending` while it has room; true on progress.
    pub(super) fn inflate_into(&mut self, pending: &mut Vec<u8>) -> Result<bool, String> {
        let room = PENDING_MAX.saturating_sub(pending.len());
        if self.raw.is_empty() || room == 0 {
            return Ok(false);
        }
        let before = pending.len();
        let used = self.inf.inflate(&self.raw, pending, room).map_err(|_| "compressed input corrupt".to_owned())?;
        self.raw.drain(..used.min(self.raw.len()));
        Ok(used > 0 || pending.len() > before)
    }
}
