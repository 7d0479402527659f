//! Huffman coding for the COMPRESS deflater ([`super::deflate::Deflater`]): code lengths
//! limited to 15 bits (RFC 1951 §3.2.7), canonical codes from lengths (§3.2.2), the fixed
//! codes (§3.2.6) and the header of a block with dynamic codes (§3.2.7: HLIT, HDIST, HCLEN,
//! the code-length code and the run-length coded lengths, symbols 16, 17 and 18).
//!
//! Everything is sized by the alphabets: 286 literal/length symbols, 30 distances, 19
//! code-length symbols; nothing grows with the data.

/// RFC 1951 §3.2.5: literal/length symbols that may appear (286, 287 never do).
pub const LITLEN_SYMBOLS: usize = 286;
/// RFC 1951 §3.2.5: distance symbols that may appear.
pub const DIST_SYMBOLS: usize = 30;
/// Longest literal/length and distance code (RFC 1951 §3.2.7).
const MAX_BITS: u8 = 15;
/// Longest code-length code (3-bit lengths, RFC 1951 §3.2.7).
const MAX_CL_BITS: u8 = 7;
/// RFC 1951 §3.2.7: the order the code-length code lengths are sent in.
const CL_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// A prefix code: per symbol its code (MSB first) and length in bits (0: unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub codes: Vec<u16>,
    pub lens: Vec<u8>,
}

impl Code {
    /// The canonical code for these lengths (RFC 1951 §3.2.2).
    pub fn from_lens(lens: &[u8]) -> Code {
        let mut count = [0u16; 16];
        for &l in lens {
            if let Some(c) = count.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        count[0] = 0;
        let mut next = [0u16; 16];
        let mut code = 0u16;
        for bits in 1..16 {
            code = (code + count[bits - 1]) << 1;
            next[bits] = code;
        }
        let codes = lens
            .iter()
            .map(|&l| match next.get_mut(usize::from(l)) {
                Some(n) if l > 0 => {
                    let c = *n;
                    *n = n.wrapping_add(1);
                    c
                }
                _ => 0,
            })
            .collect();
        Code { codes, lens: lens.to_vec() }
    }

    /// RFC 1951 §3.2.6: the fixed literal/length code.
    pub fn fixed_litlen() -> Code {
        let lens: Vec<u8> = (0..288u16)
            .map(|s| match s {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            })
            .collect();
        Code::from_lens(&lens)
    }

    /// RFC 1951 §3.2.6: the fixed distance code (5 bits each).
    pub fn fixed_dist() -> Code {
        Code::from_lens(&[5u8; 32])
    }

    /// (code, length) of `sym`; (0, 0) for a symbol outside the alphabet.
    pub fn get(&self, sym: usize) -> (u32, u32) {
        let code = self.codes.get(sym).copied().unwrap_or(0);
        let len = self.lens.get(sym).copied().unwrap_or(0);
        (u32::from(code), u32::from(len))
    }

    /// Bits the symbols counted in `freq` take with this code.
    pub fn cost(&self, freq: &[u32]) -> u64 {
        freq.iter().zip(&self.lens).map(|(&f, &l)| u64::from(f) * u64::from(l)).sum()
    }
}

/// Huffman code lengths for `freq`, none over `limit` bits. Every symbol with a count gets
/// a length; with fewer than two such symbols, enough are added (count 1, lowest symbols
/// first) for a complete code, which every inflater accepts. Over the limit, the counts
/// are halved (keeping them non-zero) and the tree built again: that ends, because equal
/// counts give a balanced tree of at most 9 levels for 286 symbols.
pub fn lengths(freq: &[u32], limit: u8) -> Vec<u8> {
    let mut f: Vec<u64> = freq.iter().map(|&x| u64::from(x)).collect();
    let used = f.iter().filter(|&&x| x > 0).count();
    for slot in f.iter_mut().filter(|x| **x == 0).take(2usize.saturating_sub(used)) {
        *slot = 1;
    }
    loop {
        let lens = tree_depths(&f);
        if lens.iter().all(|&l| l <= limit) {
            return lens;
        }
        f.iter_mut().filter(|x| **x > 0).for_each(|x| *x = x.div_ceil(2));
    }
}

/// Leaf depths of a Huffman tree over the non-zero counts (two-queue construction).
fn tree_depths(f: &[u64]) -> Vec<u8> {
    let mut leaves: Vec<(u64, usize)> = f.iter().enumerate().filter(|(_, &w)| w > 0).map(|(s, &w)| (w, s)).collect();
    leaves.sort_unstable();
    let n = leaves.len();
    // Node i < n is leaf i; internal nodes follow in the order they are made.
    let mut weight: Vec<u64> = leaves.iter().map(|l| l.0).collect();
    let mut parent = vec![usize::MAX; n.saturating_mul(2)];
    let (mut next_leaf, mut next_inner) = (0, n);
    let take = |weight: &Vec<u64>, next_leaf: &mut usize, next_inner: &mut usize| {
        let leaf = (*next_leaf < n).then(|| weight.get(*next_leaf).copied().unwrap_or(u64::MAX));
        let inner = (*next_inner < weight.len()).then(|| weight.get(*next_inner).copied().unwrap_or(u64::MAX));
        match (leaf, inner) {
            (Some(a), Some(b)) if a <= b => bump(next_leaf),
            (Some(_), None) => bump(next_leaf),
            _ => bump(next_inner),
        }
    };
    for _ in 1..n {
        let a = take(&weight, &mut next_leaf, &mut next_inner);
        let b = take(&weight, &mut next_leaf, &mut next_inner);
        let node = weight.len();
        let w = weight.get(a).copied().unwrap_or(0) + weight.get(b).copied().unwrap_or(0);
        weight.push(w);
        for child in [a, b] {
            if let Some(p) = parent.get_mut(child) {
                *p = node;
            }
        }
    }
    // Depths top-down: internal nodes were made after their children, so walking them
    // from the root (the last one) downwards sees every parent before its children.
    let mut depth = vec![0u8; weight.len()];
    for i in (0..weight.len().saturating_sub(1)).rev() {
        let p = parent.get(i).copied().unwrap_or(usize::MAX);
        let d = depth.get(p).map_or(0, |d| d.saturating_add(1));
        if let Some(slot) = depth.get_mut(i) {
            *slot = d;
        }
    }
    let mut lens = vec![0u8; f.len()];
    for (i, &(_, sym)) in leaves.iter().enumerate() {
        if let Some(slot) = lens.get_mut(sym) {
            *slot = depth.get(i).copied().unwrap_or(0).max(1);
        }
    }
    lens
}

/// Returns `*i` and moves it on.
fn bump(i: &mut usize) -> usize {
    let v = *i;
    *i += 1;
    v
}

/// A dynamic block's codes and its header, ready to write.
#[derive(Debug)]
pub struct Dynamic {
    pub litlen: Code,
    pub dist: Code,
    /// (value, bit count) pairs of the header after BFINAL/BTYPE, in order; the code
    /// lengths' Huffman codes are already in (value, count) form for `Bits::code`.
    header: Vec<(u32, u32, bool)>,
}

impl Dynamic {
    /// Codes for these symbol counts (`litlen` must count the end-of-block symbol).
    pub fn new(litlen_freq: &[u32], dist_freq: &[u32]) -> Dynamic {
        let litlen = Code::from_lens(&lengths(litlen_freq, MAX_BITS));
        let dist = Code::from_lens(&lengths(dist_freq, MAX_BITS));
        let hlit = last_used(&litlen.lens).max(257);
        let hdist = last_used(&dist.lens).max(1);
        let all: Vec<u8> = litlen.lens.iter().take(hlit).chain(dist.lens.iter().take(hdist)).copied().collect();
        let runs = run_lengths(&all);
        let mut cl_freq = [0u32; 19];
        for &(sym, _, _) in &runs {
            if let Some(c) = cl_freq.get_mut(usize::from(sym)) {
                *c += 1;
            }
        }
        let cl = Code::from_lens(&lengths(&cl_freq, MAX_CL_BITS));
        let hclen =
            CL_ORDER.iter().rposition(|&s| cl.lens.get(s).is_some_and(|&l| l > 0)).map_or(4, |p| (p + 1).max(4));
        let mut header =
            vec![((hlit - 257) as u32, 5, false), ((hdist - 1) as u32, 5, false), ((hclen - 4) as u32, 4, false)];
        for &s in CL_ORDER.iter().take(hclen) {
            header.push((u32::from(cl.lens.get(s).copied().unwrap_or(0)), 3, false));
        }
        for (sym, extra, extra_bits) in runs {
            let (code, len) = cl.get(usize::from(sym));
            header.push((code, len, true));
            if extra_bits > 0 {
                header.push((u32::from(extra), u32::from(extra_bits), false));
            }
        }
        Dynamic { litlen, dist, header }
    }

    /// Header bits (for choosing between fixed and dynamic codes).
    pub fn header_bits(&self) -> u64 {
        self.header.iter().map(|&(_, n, _)| u64::from(n)).sum()
    }

    /// The header items: (value, bits, is a Huffman code written MSB first).
    pub fn header(&self) -> &[(u32, u32, bool)] {
        &self.header
    }
}

/// One past the last non-zero length.
fn last_used(lens: &[u8]) -> usize {
    lens.iter().rposition(|&l| l > 0).map_or(0, |p| p + 1)
}

/// RFC 1951 §3.2.7 run-length coding of code lengths: (symbol, extra value, extra bits);
/// 16 repeats the previous length 3-6 times, 17 and 18 give 3-10 and 11-138 zeros.
fn run_lengths(lens: &[u8]) -> Vec<(u8, u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&l) = lens.get(i) {
        let run = lens.get(i..).unwrap_or_default().iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 3 {
            let n = run.min(138);
            out.push(if n >= 11 { (18, (n - 11) as u8, 7) } else { (17, (n - 3) as u8, 3) });
            i += n;
        } else if l > 0 && run >= 4 {
            out.push((l, 0, 0));
            let n = (run - 1).min(6);
            out.push((16, (n - 3) as u8, 2));
            i += 1 + n;
        } else {
            out.push((l, 0, 0));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraft(lens: &[u8]) -> f64 {
        lens.iter().filter(|&&l| l > 0).map(|&l| 0.5f64.powi(i32::from(l))).sum()
    }

    #[test]
    fn canonical_codes_match_rfc1951_example() {
        // RFC 1951 §3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) give these codes.
        let c = Code::from_lens(&[3, 3, 3, 3, 3, 2, 4, 4]);
        assert_eq!(c.codes, vec![0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111]);
    }

    #[test]
    fn lengths_are_complete_and_limited() {
        // Fibonacci counts make the deepest possible tree: it must be cut to the limit.
        let mut fib = vec![1u32, 1];
        while fib.len() < 30 {
            let n = fib[fib.len() - 1] + fib[fib.len() - 2];
            fib.push(n);
        }
        for limit in [7u8, 15] {
            let l = lengths(&fib, limit);
            assert!(l.iter().all(|&x| (1..=limit).contains(&x)), "{l:?}");
            assert!((kraft(&l) - 1.0).abs() < 1e-9, "{l:?}");
        }
        // One used symbol or none: a second (and first) one is added, one bit each.
        assert_eq!(lengths(&[0, 0, 5, 0], 15), vec![1, 0, 1, 0]);
        assert_eq!(lengths(&[0, 0, 0], 15), vec![1, 1, 0]);
        // Skewed counts: the frequent symbol gets the short code.
        let l = lengths(&[100, 1, 1, 1], 15);
        assert_eq!(l[0], 1);
        assert!((kraft(&l) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn run_lengths_cover_every_length() {
        let lens: Vec<u8> = [vec![8u8; 10], vec![0; 150], vec![5; 3], vec![0; 4], vec![7]].concat();
        let mut back = Vec::new();
        for (sym, extra, _) in run_lengths(&lens) {
            match sym {
                16 => {
                    let p = *back.last().unwrap();
                    back.extend(std::iter::repeat_n(p, 3 + usize::from(extra)));
                }
                17 => back.extend(std::iter::repeat_n(0, 3 + usize::from(extra))),
                18 => back.extend(std::iter::repeat_n(0, 11 + usize::from(extra))),
                l => back.push(l),
            }
        }
        assert_eq!(back, lens);
    }
}
