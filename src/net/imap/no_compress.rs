//! Without the `compress` feature: no session ever compresses (the core does not offer
//! RFC 4978 COMPRESS), so this type has no values.

use crate::net::conn::Conn;

pub(super) enum Compression {}

impl Compression {
    pub(super) async fn write(&mut self, _conn: &mut Conn, _data: &[u8]) -> Result<(), String> {
        match *self {}
    }

    pub(super) fn raw(&mut self) -> &mut Vec<u8> {
        match *self {}
    }

    pub(super) fn inflate_into(&mut self, _pending: &mut Vec<u8>) -> Result<bool, String> {
        match *self {}
    }
}
