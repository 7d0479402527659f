use super::*;
use crate::charset::tests::python;

fn qp_chunked(input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let (mut d, mut out, mut at) = (QpDecoder::default(), Vec::new(), 0);
    for &c in cuts.iter().chain([input.len()].iter()) {
        d.push(input.get(at..c).unwrap_or_default(), &mut out);
        at = c;
    }
    d.finish(&mut out);
    out
}

fn b64_chunked(input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let (mut d, mut out, mut at) = (Base64Decoder::default(), Vec::new(), 0);
    for &c in cuts.iter().chain([input.len()].iter()) {
        d.push(input.get(at..c).unwrap_or_default(), &mut out);
        at = c;
    }
    d.finish(&mut out);
    out
}

/// Python's bytes as a Rust byte vector (printed as hex).
fn python_bytes(expr: &str) -> Vec<u8> {
    let hex = python(&format!("import quopri, base64, sys\nsys.stdout.write(({expr}).hex())"));
    (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
}

#[test]
fn quoted_printable_split_at_every_pair_of_offsets_equals_python() {
    let input: &[u8] = b"Gr=C3=BC=C3=9Fe, caf=\r\n=C3=A9 soft=\nbreak =3D equals=0D=0A=e9=E9 end=\r\n";
    let want = python_bytes(&format!("quopri.decodestring(bytes.fromhex('{}'))", hex(input)));
    for a in 0..=input.len() {
        for b in a..=input.len() {
            assert_eq!(qp_chunked(input, &[a, b]), want, "cuts {a},{b}");
        }
    }
    // Malformed escapes stay as they are.
    assert_eq!(qp_chunked(b"=ZZ =4 = x=", &[]), b"=ZZ =4 = x=");
    assert_eq!(qp_chunked(b"a=\rb", &[2]), b"a=\rb");
}

#[test]
fn base64_split_at_every_pair_of_offsets_equals_python() {
    let data: Vec<u8> = (0..=255u8).chain(b"caf\xc3\xa9".iter().copied()).collect();
    let encoded = python_bytes(&format!("base64.encodebytes(bytes.fromhex('{}'))", hex(&data)));
    assert!(encoded.contains(&b'\n'), "76-column lines");
    for a in 0..=encoded.len() {
        for b in (a..=encoded.len()).step_by(7) {
            assert_eq!(b64_chunked(&encoded, &[a, b]), data, "cuts {a},{b}");
        }
    }
    // Lenient: junk skipped, missing padding tolerated, a lone sextet yields nothing.
    assert_eq!(Base64Decoder::decode_all(b"Y2Fm w6k"), b"caf\xc3\xa9");
    assert_eq!(Base64Decoder::decode_all(b"Y2Fmw6k=!!Zg"), b"caf\xc3\xa9f");
    assert_eq!(Base64Decoder::decode_all(b"Y"), b"");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn html_chunked(input: &str, cuts: &[usize]) -> String {
    let (mut h, mut out, mut at) = (HtmlText::default(), String::new(), 0);
    for &c in cuts.iter().chain([input.len()].iter()) {
        h.push(input.get(at..c).unwrap_or_default(), &mut out);
        at = c;
    }
    h.finish(&mut out);
    out
}

#[test]
fn html_as_text() {
    let page = "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style>\
<script type=\"x\">if (a<b && c) { alert('</scr'); }</script ></head>\
<body><p class='a>b'>Caf&eacute; &amp; cr&egrave;me</p><!-- hidden -- text --><div>&lt;tag&gt;\n\n  &#233;&#xE9;&nbsp;x\
</div>a < b &unknown; &amp <b>bold</b>er</body></html>";
    // `&amp` without `;` stays text (HTML 5 would read a few legacy names without it).
    let want = "T Café & crème <tag> éé x a < b &unknown; &amp bolder";
    assert_eq!(html_chunked(page, &[]), want);
    for (a, _) in page.char_indices() {
        assert_eq!(html_chunked(page, &[a]), want, "cut {a}");
    }
    // Unclosed tag, comment or script swallow the rest; nothing panics.
    assert_eq!(html_chunked("text <a href='x", &[]), "text ");
    assert_eq!(html_chunked("text <!-- never closed", &[]), "text ");
    assert_eq!(html_chunked("x<script>never</scrip", &[]), "x");
    assert_eq!(html_chunked("&#xFFFFFFFF; &#0; &#55296;", &[]), "\u{FFFD} \u{FFFD} \u{FFFD}");
    assert_eq!(html_chunked("&averyveryverylongname;", &[]), "&averyveryverylongname;");
}

#[test]
fn latin1_entity_names_agree_with_python() {
    let reference = python(
        "import html.entities as e\nprint(' '.join(n for cp in range(0xA0, 0x100) for n in [min((k for k, v in e.name2codepoint.items() if v == cp), key=len)]))",
    );
    assert_eq!(reference.trim(), LATIN1_ENTITIES);
}

#[test]
fn text_stream_qp_latin1_html() {
    let mut s = TextStream::new(Some("Quoted-Printable"), Some("iso-8859-1"), true);
    let body = b"<p>Caf=E9 cr=\r\n&egrave;me</p>";
    let mut got = String::new();
    for chunk in body.chunks(3) {
        got.push_str(s.push(chunk));
    }
    got.push_str(s.finish());
    assert_eq!(got, "Café crème ");
    let mut s = TextStream::new(Some("base64"), Some("koi8-r"), false);
    let mut got = s.push(b"8NLJ").to_owned();
    got.push_str(s.push(b"18XU\r\n"));
    got.push_str(s.finish());
    assert_eq!(got, "Привет");
}

#[test]
fn a_megabyte_of_base64_without_newlines_decodes_in_bounded_pieces() {
    // BAD-INPUTS 92: output per push is proportional to the push, whatever the line length.
    let line: Vec<u8> = b"QUJD".iter().copied().cycle().take(1 << 20).collect();
    let mut s = TextStream::new(Some("base64"), Some("utf-8"), false);
    let mut total = 0;
    for chunk in line.chunks(16 * 1024) {
        let n = s.push(chunk).len();
        assert!(n <= 12 * 1024);
        total += n;
    }
    total += s.finish().len();
    assert_eq!(total, (1 << 20) / 4 * 3);
}

#[test]
fn quoted_printable_drops_white_space_at_line_ends_only() {
    // RFC 2045 §6.7 rule 3: transport-added white space before a line break is deleted;
    // white space inside a line, encoded white space and a soft break stay as they mean.
    let cases: [(&[u8], &[u8]); 7] = [
        (b"a b  \r\nc\t\r\n", b"a b\r\nc\r\n"),
        // A soft break with white space after the `=` (imaptest's fetch-binary-mime-qp).
        (b"foo\t \t= \r\n=62\r\nfoo = \t\r\nbar", b"foo\t \tb\r\nfoo bar"),
        (b"x= y", b"x= y"),
        (b"a=20\r\nb =\r\nc", b"a \r\nb c"),
        (b"tail   ", b"tail"),
        (b"x \ry", b"x \ry"),
        (b"x  \ny", b"x\ny"),
    ];
    for (input, want) in cases {
        for cut in 0..=input.len() {
            assert_eq!(qp_chunked(input, &[cut]), want, "{:?} cut at {cut}", String::from_utf8_lossy(input));
        }
    }
}
