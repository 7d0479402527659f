//! The RFC 4978 COMPRESS=DEFLATE codec, sans-IO: raw DEFLATE (RFC 1951, no zlib header,
//! RFC 4978 §3) in both directions, each flush ending on a byte boundary with an empty
//! stored block (the "sync flush" of §4, so the client can decode every reply at once).
//!
//! * [`Inflater`] (client to server) is `miniz_oxide`'s streaming inflater: it must accept
//!   any window the client's zlib uses (up to 32 KiB, RFC 1951 §2), so its state is the
//!   32 KiB dictionary plus tables, about 43 KiB, boxed once per session. It never writes
//!   more than the room it is given: a deflate bomb only fills the bounded input buffer of
//!   the driver, slice by slice, and each slice is parsed as commands under their limits.
//! * [`Deflater`] (server to client) is our own: LZ77 over the last [`DEFLATE_WINDOW`]
//!   bytes with hash chains ([`CHAIN_MAX`] candidates) and one step of lazy matching, each
//!   block coded with dynamic Huffman codes (RFC 1951 §3.2.7, [`super::huffman`]) or the
//!   fixed ones (§3.2.6), whichever is shorter. About 56 KiB per session (16 KiB history,
//!   8 KiB hash heads, 32 KiB chain links), plus a transient [`BLOCK_TOKENS`] × 4 bytes
//!   while a write is coded, instead of the ~320 KiB of a zlib compressor; on a first sync
//!   it sends about what zlib's level 4 does.

use super::huffman::{Code, Dynamic, DIST_SYMBOLS, LITLEN_SYMBOLS};
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// History the deflater searches for matches (RFC 1951 allows up to 32 KiB).
pub const DEFLATE_WINDOW: usize = 8 * 1024;
/// Symbols coded per block: its counts choose the block's Huffman codes, and the symbols
/// wait in a buffer of this many entries (4 bytes each) until the block is written.
pub const BLOCK_TOKENS: usize = 16 * 1024;
/// Earlier positions of the same hash tried per match (zlib's level 4 tries 16).
pub const CHAIN_MAX: usize = 16;
/// Matches this long are taken at once, without looking one byte further.
const LAZY_LEN: usize = 32;
/// Hash table slots (12 bits of the next three bytes), one position each.
const HASH_SLOTS: usize = 1 << 12;
/// RFC 1951 §3.2.5: the longest match.
const MATCH_MAX: usize = 258;
const MATCH_MIN: usize = 3;

/// RFC 1951 §3.2.5 length codes 257..285: base lengths and extra bits.
const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// RFC 1951 §3.2.5 distance codes 0..29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

/// The client's stream is not valid DEFLATE (or it ended it): the session must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateError;

/// Client-to-server decompression; see the module doc.
pub struct Inflater {
    state: Box<InflateState>,
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").field("ended", &self.ended).finish()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater { state: InflateState::new_boxed(DataFormat::Raw), ended: false }
    }
}

impl Inflater {
    /// Inflates from `input`, appending at most `room` bytes to `out`; returns how many
    /// input bytes were used (the rest waits for more room).
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, room: usize) -> Result<usize, InflateError> {
        if self.ended {
            return if input.is_empty() { Ok(0) } else { Err(InflateError) };
        }
        let start = out.len();
        out.resize(start + room, 0);
        let r = inflate(&mut self.state, input, out.get_mut(start..).unwrap_or(&mut []), MZFlush::None);
        out.truncate(start + r.bytes_written.min(room));
        match r.status {
            Ok(MZStatus::StreamEnd) => {
                // RFC 4978 §3: compression lasts as long as the connection; a final block
                // means the client stopped compressing, which the protocol has no way for.
                self.ended = true;
                Ok(r.bytes_consumed)
            }
            Ok(_) | Err(MZError::Buf) => Ok(r.bytes_consumed),
            Err(_) => Err(InflateError),
        }
    }
}

/// Server-to-client compression; see the module doc.
#[derive(Debug)]
pub struct Deflater {
    /// The last bytes sent (at most 2 × [`DEFLATE_WINDOW`]).
    hist: Vec<u8>,
    /// Per hash of three bytes: 1 + the latest position in `hist` (0: none).
    head: Box<[u16]>,
    /// Per position in `hist`: 1 + the previous position with the same hash (0: none).
    prev: Box<[u16]>,
}

impl Default for Deflater {
    fn default() -> Self {
        Deflater {
            hist: Vec::with_capacity(2 * DEFLATE_WINDOW),
            head: vec![0u16; HASH_SLOTS].into_boxed_slice(),
            prev: vec![0u16; 2 * DEFLATE_WINDOW].into_boxed_slice(),
        }
    }
}

impl Deflater {
    /// Appends `data` compressed to `out`: blocks of at most [`BLOCK_TOKENS`] symbols, each
    /// with dynamic Huffman codes or the fixed ones, whichever is shorter, then a sync flush.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut bits = Bits { out, acc: 0, n: 0 };
        let mut tokens = Vec::new();
        for piece in data.chunks(DEFLATE_WINDOW) {
            self.slide();
            let start = self.hist.len();
            self.hist.extend_from_slice(piece);
            self.encode(start, &mut tokens);
            if tokens.len() + DEFLATE_WINDOW > BLOCK_TOKENS {
                block(&tokens, &mut bits);
                tokens.clear();
            }
        }
        if !tokens.is_empty() {
            block(&tokens, &mut bits);
        }
        sync_flush(&mut bits);
    }

    /// Keeps the last `DEFLATE_WINDOW` bytes before more are added; positions move down.
    fn slide(&mut self) {
        let drop = self.hist.len().saturating_sub(DEFLATE_WINDOW);
        if drop == 0 {
            return;
        }
        self.hist.drain(..drop);
        self.prev.copy_within(drop.min(self.prev.len()).., 0);
        let shift = u16::try_from(drop).unwrap_or(u16::MAX);
        for h in self.head.iter_mut().chain(self.prev.iter_mut()) {
            *h = h.saturating_sub(shift);
        }
    }

    /// LZ77 over `hist[start..]` with one step of lazy matching (zlib's way): a match
    /// shorter than [`LAZY_LEN`] gives way to a longer one starting at the next byte.
    fn encode(&mut self, start: usize, tokens: &mut Vec<Token>) {
        let end = self.hist.len();
        let mut i = start;
        let mut pending = None;
        while i < end {
            let (len, dist) = pending.take().unwrap_or_else(|| self.find(i, end));
            if len < MATCH_MIN {
                tokens.push(Token::literal(self.byte(i)));
                i += 1;
                continue;
            }
            let mut inserted = i + 1;
            if len < LAZY_LEN && i + 1 < end {
                let next = self.find(i + 1, end);
                if next.0 > len {
                    tokens.push(Token::literal(self.byte(i)));
                    i += 1;
                    pending = Some(next);
                    continue;
                }
                inserted = i + 2;
            }
            tokens.push(Token::matched(len, dist));
            for j in inserted..i + len {
                self.insert(j, end);
            }
            i += len;
        }
    }

    fn byte(&self, i: usize) -> u8 {
        self.hist.get(i).copied().unwrap_or(0)
    }

    fn hash(&self, i: usize) -> usize {
        let v = u32::from(self.byte(i)) << 16 | u32::from(self.byte(i + 1)) << 8 | u32::from(self.byte(i + 2));
        (v.wrapping_mul(2_654_435_761) >> 20) as usize % HASH_SLOTS
    }

    /// Records position `i`; returns the previous position with the same hash.
    fn insert(&mut self, i: usize, end: usize) -> Option<usize> {
        if i + MATCH_MIN > end {
            return None;
        }
        let slot = self.head.get_mut(self.hash(i))?;
        let prev = *slot;
        *slot = u16::try_from(i + 1).unwrap_or(0);
        if let Some(p) = self.prev.get_mut(i) {
            *p = prev;
        }
        usize::from(prev).checked_sub(1)
    }

    /// The earlier position with the same hash as position `c`.
    fn prev_of(&self, c: usize) -> Option<usize> {
        self.prev.get(c).and_then(|&p| usize::from(p).checked_sub(1))
    }

    /// The longest match at `i` among [`CHAIN_MAX`] earlier positions of its hash:
    /// (length, distance), length 0 if none.
    fn find(&mut self, i: usize, end: usize) -> (usize, usize) {
        let mut cand = self.insert(i, end);
        let max = (end - i).min(MATCH_MAX);
        let (mut best, mut dist) = (0, 0);
        for _ in 0..CHAIN_MAX {
            // Each link goes to a smaller position, so the walk ends.
            let Some(c) = cand.filter(|&c| c < i) else { break };
            if self.byte(c + best) == self.byte(i + best) {
                let len = (0..max).take_while(|&k| self.byte(c + k) == self.byte(i + k)).count();
                if len > best {
                    (best, dist) = (len, i - c);
                    if len == max {
                        break;
                    }
                }
            }
            cand = self.prev_of(c);
        }
        (best, dist)
    }
}

/// One LZ77 output in 4 bytes: a byte, or bit 31 set with a match's length (bits 16..=30)
/// and distance (bits 0..=15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token(u32);

/// What a [`Token`] holds.
enum Kind {
    Literal(u8),
    Match(u16, u16),
}

impl Token {
    fn literal(b: u8) -> Token {
        Token(u32::from(b))
    }

    /// `len` is at most [`MATCH_MAX`] and `dist` at most 2 × [`DEFLATE_WINDOW`]: both fit.
    fn matched(len: usize, dist: usize) -> Token {
        Token(1 << 31 | (len as u32 & 0x7fff) << 16 | (dist as u32 & 0xffff))
    }

    fn kind(self) -> Kind {
        if self.0 >> 31 == 1 {
            Kind::Match((self.0 >> 16 & 0x7fff) as u16, self.0 as u16)
        } else {
            Kind::Literal(self.0 as u8)
        }
    }
}

/// RFC 1951 §3.2.5: the length symbol (257..=285) of a match length, its extra bits.
fn length_code(len: usize) -> (usize, u32, u32) {
    let k = LEN_BASE.iter().rposition(|&b| usize::from(b) <= len).unwrap_or(0);
    let base = LEN_BASE.get(k).copied().map_or(0, usize::from);
    (257 + k, (len - base) as u32, u32::from(LEN_EXTRA.get(k).copied().unwrap_or(0)))
}

/// RFC 1951 §3.2.5: the distance symbol (0..=29) of a distance, its extra bits.
fn distance_code(dist: usize) -> (usize, u32, u32) {
    let k = DIST_BASE.iter().rposition(|&b| usize::from(b) <= dist).unwrap_or(0);
    let base = DIST_BASE.get(k).copied().map_or(0, usize::from);
    (k, (dist - base) as u32, u32::from(DIST_EXTRA.get(k).copied().unwrap_or(0)))
}

/// Writes `tokens` and the end-of-block symbol as one non-final block (RFC 1951 §3.2.3),
/// with the dynamic codes of their counts (§3.2.7) or the fixed codes (§3.2.6).
fn block(tokens: &[Token], bits: &mut Bits) {
    let mut litlen = [0u32; LITLEN_SYMBOLS];
    let mut dist = [0u32; DIST_SYMBOLS];
    let count = |slot: Option<&mut u32>| slot.into_iter().for_each(|c| *c += 1);
    for t in tokens {
        match t.kind() {
            Kind::Literal(b) => count(litlen.get_mut(usize::from(b))),
            Kind::Match(l, d) => {
                count(litlen.get_mut(length_code(usize::from(l)).0));
                count(dist.get_mut(distance_code(usize::from(d)).0));
            }
        }
    }
    count(litlen.get_mut(256));
    let dynamic = Dynamic::new(&litlen, &dist);
    let (fixed_l, fixed_d) = (Code::fixed_litlen(), Code::fixed_dist());
    let dynamic_bits = dynamic.header_bits() + dynamic.litlen.cost(&litlen) + dynamic.dist.cost(&dist);
    if dynamic_bits < fixed_l.cost(&litlen) + fixed_d.cost(&dist) {
        bits.put(0b100, 3); // BFINAL 0, BTYPE 10 (dynamic codes)
        for &(value, n, huffman) in dynamic.header() {
            if huffman {
                bits.code(value, n);
            } else {
                bits.put(value, n);
            }
        }
        symbols(tokens, &dynamic.litlen, &dynamic.dist, bits);
    } else {
        bits.put(0b010, 3); // BFINAL 0, BTYPE 01 (fixed codes)
        symbols(tokens, &fixed_l, &fixed_d, bits);
    }
}

/// The block's symbols and its end-of-block in the given codes.
fn symbols(tokens: &[Token], litlen: &Code, dist: &Code, bits: &mut Bits) {
    let sym = |code: &Code, s: usize, bits: &mut Bits| {
        let (c, n) = code.get(s);
        bits.code(c, n);
    };
    for t in tokens {
        match t.kind() {
            Kind::Literal(b) => sym(litlen, usize::from(b), bits),
            Kind::Match(l, d) => {
                let (s, extra, n) = length_code(usize::from(l));
                sym(litlen, s, bits);
                bits.put(extra, n);
                let (s, extra, n) = distance_code(usize::from(d));
                sym(dist, s, bits);
                bits.put(extra, n);
            }
        }
    }
    sym(litlen, 256, bits);
}

/// RFC 1951 §3.1.1 bit packing: data elements from the least significant bit, Huffman
/// codes from their most significant bit.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code of `len` (1..=15) bits, most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        if len > 0 {
            self.put(code.reverse_bits() >> (32 - len), len);
        }
    }

    fn align(&mut self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        (self.acc, self.n) = (0, 0);
    }
}

/// An empty stored block (RFC 1951 §3.2.4): ends the output on a byte boundary.
fn sync_flush(bits: &mut Bits) {
    bits.put(0, 3);
    bits.align();
    bits.out.extend_from_slice(&[0, 0, 0xff, 0xff]);
}

/// `data` as a self-contained block (literals only, so it needs no history) and a sync
/// flush: valid after any flush of a [`Deflater`], for a last line such as a BYE.
pub fn literal_block(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 8);
    let mut bits = Bits { out: &mut out, acc: 0, n: 0 };
    bits.put(0b010, 3);
    let tokens: Vec<Token> = data.iter().map(|&b| Token::literal(b)).collect();
    symbols(&tokens, &Code::fixed_litlen(), &Code::fixed_dist(), &mut bits);
    sync_flush(&mut bits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(chunks: &[&[u8]]) {
        let mut d = Deflater::default();
        let mut inf = Inflater::default();
        for c in chunks {
            let mut z = Vec::new();
            d.compress(c, &mut z);
            assert!(z.ends_with(&[0, 0, 0xff, 0xff]));
            let mut out = Vec::new();
            let used = inf.inflate(&z, &mut out, c.len() + 64);
            assert_eq!(used, Ok(z.len()));
            assert_eq!(out, *c);
        }
    }

    #[test]
    fn deflate_roundtrips_through_miniz() {
        let text = b"* 1 FETCH (FLAGS (\\Seen) UID 1)\r\n* 2 FETCH (FLAGS (\\Seen) UID 2)\r\n".repeat(300);
        let mut x = 9u32;
        let noise: Vec<u8> = (0..40_000).map(|_| crate::proto::imap::tests::xorshift(&mut x) as u8).collect();
        let lens: Vec<u8> = (0..=255u8).chain(std::iter::repeat_n(b'a', 600)).collect();
        roundtrip(&[b"", b"a", b"abcabcabcabcabc", &text, &noise, &text, &lens, &[0u8; 70_000]]);
        let mut z = Vec::new();
        Deflater::default().compress(&text, &mut z);
        assert!(z.len() * 10 < text.len(), "{} -> {}", text.len(), z.len());
        assert_eq!(z[0] >> 1 & 3, 2, "repetitive text gets dynamic codes (BTYPE 10)");
        let mut tiny = Vec::new();
        Deflater::default().compress(b"a OK\r\n", &mut tiny);
        assert_eq!(tiny[0] >> 1 & 3, 1, "a short line keeps the fixed codes (BTYPE 01)");
        let mut out = Vec::new();
        assert!(Inflater::default().inflate(&literal_block(b"* BYE\r\n"), &mut out, 100).is_ok());
        assert_eq!(out, b"* BYE\r\n");
    }

    #[test]
    fn bad_input_104_garbage_and_bombs_stay_bounded() {
        // A stored block whose LEN and NLEN disagree is invalid.
        let mut out = Vec::new();
        assert_eq!(Inflater::default().inflate(&[0x00, 0x05, 0x00, 0x00, 0x00], &mut out, 100), Err(InflateError));
        // 1 MiB of zeros compresses to about 1 KiB; each call yields at most its room.
        let mut z = Vec::new();
        let zeros = vec![0u8; 1 << 20];
        z.extend(miniz_oxide::deflate::compress_to_vec(&zeros, 9));
        let mut inf = Inflater::default();
        let (mut pos, mut total) = (0, 0);
        while total < zeros.len() {
            let mut out = Vec::new();
            let used = inf.inflate(z.get(pos..).unwrap_or(&[]), &mut out, 8192);
            assert!(out.len() <= 8192);
            pos += used.unwrap_or(usize::MAX / 2);
            total += out.len();
            assert!(used.is_ok_and(|u| u > 0) || !out.is_empty(), "no progress at {total}");
        }
        assert_eq!(total, zeros.len());
    }

    #[test]
    fn bad_input_104_random_streams_end_without_overrun() {
        let mut x = 77u32;
        for round in 0..2000 {
            let len = (crate::proto::imap::tests::xorshift(&mut x) % 300) as usize;
            let data: Vec<u8> = (0..len).map(|_| crate::proto::imap::tests::xorshift(&mut x) as u8).collect();
            let mut inf = Inflater::default();
            let mut pos = 0;
            for _ in 0..10_000 {
                let mut out = Vec::new();
                let Ok(used) = inf.inflate(data.get(pos..).unwrap_or(&[]), &mut out, 64) else { break };
                assert!(out.len() <= 64, "round {round}");
                pos += used;
                if used == 0 && out.is_empty() {
                    break;
                }
            }
        }
    }
}
