use super::*;

/// Runs `/usr/bin/python3 -c code` (the reference implementation) and returns its stdout.
pub(crate) fn python(code: &str) -> String {
    let out = std::process::Command::new("/usr/bin/python3").args(["-c", code]).output().expect("python3 runs");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("python prints UTF-8")
}

/// (name as mail carries it, Python codec).
const CHARSETS: [(&str, &str); 30] = [
    ("ISO-8859-1", "latin_1"),
    ("ISO-8859-2", "iso8859_2"),
    ("iso-8859-3", "iso8859_3"),
    ("ISO_8859-4", "iso8859_4"),
    ("ISO-8859-5", "iso8859_5"),
    ("ISO-8859-6", "iso8859_6"),
    ("ISO-8859-7", "iso8859_7"),
    ("ISO-8859-8-I", "iso8859_8"),
    ("latin5", "iso8859_9"),
    ("ISO-8859-10", "iso8859_10"),
    ("ISO-8859-11", "iso8859_11"),
    ("ISO-8859-13", "iso8859_13"),
    ("ISO-8859-14", "iso8859_14"),
    ("ISO-8859-15", "iso8859_15"),
    ("ISO-8859-16", "iso8859_16"),
    ("windows-1250", "cp1250"),
    ("windows-1251", "cp1251"),
    ("cp1252", "cp1252"),
    ("Windows-1253", "cp1253"),
    ("windows-1254", "cp1254"),
    ("windows-1255", "cp1255"),
    ("windows-1256", "cp1256"),
    ("windows-1257", "cp1257"),
    ("windows-1258", "cp1258"),
    ("windows-874", "cp874"),
    ("KOI8-R", "koi8_r"),
    ("koi8-u", "koi8_u"),
    ("IBM866", "cp866"),
    ("macintosh", "mac_roman"),
    ("US-ASCII", "ascii"),
];

#[test]
fn every_single_byte_charset_decodes_all_256_bytes_as_python_does() {
    let codecs: Vec<String> = CHARSETS.iter().map(|(_, c)| format!("'{c}'")).collect();
    let code = format!(
        "for c in [{}]:\n    print(' '.join('%x' % ord(ch) for ch in bytes(range(256)).decode(c, errors='replace')))",
        codecs.join(",")
    );
    let reference = python(&code);
    let lines: Vec<&str> = reference.lines().collect();
    assert_eq!(lines.len(), CHARSETS.len());
    for ((name, codec), line) in CHARSETS.iter().zip(lines) {
        let cs = Charset::lookup(name).unwrap_or_else(|| panic!("{name} is supported"));
        let bytes: Vec<u8> = (0..=255).collect();
        let ours: Vec<String> = decode(cs, &bytes).chars().map(|c| format!("{:x}", u32::from(c))).collect();
        if *codec == "ascii" {
            // US-ASCII is read as UTF-8: the 7-bit half agrees, the rest is U+FFFD.
            let theirs: Vec<&str> = line.split(' ').take(128).collect();
            assert_eq!(ours.get(..128).map(|o| o.join(" ")), Some(theirs.join(" ")));
            assert!(ours.iter().skip(128).all(|c| c == "fffd"));
            continue;
        }
        assert_eq!(ours.join(" "), line, "{name} ({codec}) differs from Python");
    }
}

#[test]
fn charset_names_and_unknown_ones() {
    for name in NAMES.split(' ') {
        assert!(Charset::lookup(name).is_some(), "{name} listed but not found");
    }
    assert_eq!(Charset::lookup("utf8"), Some(Charset::Utf8));
    assert_eq!(Charset::lookup(" Latin1 "), Some(Charset::Latin1));
    for bad in ["", "x-unknown", "iso-8859-12", "iso-8859-17", "windows-1249", "gb2312", "iso8859"] {
        assert_eq!(Charset::lookup(bad), None, "{bad}");
    }
}

#[test]
fn utf8_split_anywhere_equals_lossy_one_shot() {
    let sample: &[u8] = b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7 bad \xff\xc3( \xe2\x82 end \xf0\x9f\x93";
    let want = String::from_utf8_lossy(sample);
    for cut in 0..=sample.len() {
        for cut2 in cut..=sample.len() {
            let mut d = Decoder::new(Charset::Utf8);
            let mut out = String::new();
            for piece in [&sample[..cut], &sample[cut..cut2], &sample[cut2..]] {
                d.push(piece, &mut out);
            }
            d.finish(&mut out);
            assert_eq!(out, want, "cuts at {cut}, {cut2}");
        }
    }
}

#[test]
fn simple_case_folding_agrees_with_python_casefold_where_it_is_one_char() {
    // Python's casefold() is full folding: compare every code point whose full folding is
    // one character (there simple and full folding are the same, CaseFolding.txt "C").
    let reference = python(
        "import sys\nfor cp in range(0x110000):\n    if 0xD800 <= cp < 0xE000: continue\n    f = chr(cp).casefold()\n    if len(f) == 1 and f != chr(cp): print('%x %x' % (cp, ord(f)))\n    elif len(f) > 1: print('%x -' % cp)",
    );
    let mut changed = 0;
    let mut expected = std::collections::HashMap::new();
    for line in reference.lines() {
        let (cp, f) = line.split_once(' ').unwrap_or_default();
        expected.insert(u32::from_str_radix(cp, 16).unwrap_or(0), f.to_owned());
    }
    for cp in (0..0x110000u32).filter(|c| !(0xD800..0xE000).contains(c)) {
        let c = char::from_u32(cp).unwrap_or_default();
        match expected.get(&cp).map(String::as_str) {
            Some("-") => continue,
            Some(f) => {
                assert_eq!(format!("{:x}", u32::from(fold_char(c))), f, "U+{cp:04X}");
                changed += 1;
            }
            None => assert_eq!(fold_char(c), c, "U+{cp:04X} should fold to itself"),
        }
    }
    assert!(changed > 1400, "{changed} foldings checked");
    // Full-only foldings keep their simple (status S) mapping or none.
    assert_eq!(fold_char('\u{1E9E}'), 'ß');
    assert_eq!(fold_char('ß'), 'ß');
    assert_eq!(fold_char('\u{130}'), '\u{130}');
}

#[test]
fn folding_matches_across_scripts() {
    assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
    assert_eq!(fold("ПРИВЕТ Ёлка"), "привет ёлка");
    assert_eq!(fold("ԱՐԱՐԱՏ"), "արարատ");
    assert_eq!(fold("ÉCOLE Ǆ"), "école ǆ");
    assert_ne!(fold("STRASSE"), fold("straße"), "simple folding does not expand ß");
}

#[test]
fn matcher_finds_a_needle_split_at_every_point() {
    let text = "Grüße aus\r\n Москве: ΚΑΛΗΜΕΡΑ,  café!";
    for needle in
        ["москве", "καλημέρα", "GRÜSSE", "grüße aus", "AUS MOSKVE", "aus москве", "É!", "e", "", ", café", "  "]
    {
        let want = normalize(text).contains(&normalize(needle));
        for (cut, _) in text.char_indices() {
            for (cut2, _) in text.char_indices().filter(|(i, _)| *i >= cut) {
                let mut m = FoldMatcher::new(needle);
                m.push(&text[..cut]);
                m.push(&text[cut..cut2]);
                assert_eq!(m.push(&text[cut2..]), want, "{needle:?} at {cut},{cut2}");
            }
        }
    }
    assert!(normalize(text).contains(&normalize("AUS \t москве")), "white space runs are one space");
    let mut m = FoldMatcher::new("ab");
    m.push("xa");
    m.reset();
    assert!(!m.push("bx"), "reset separates parts");
}

#[test]
fn rfc2047_edge_cases() {
    let d = |v: &str| decode_rfc2047(v.as_bytes());
    // §6.2: white space between adjacent words goes; a character split across two words
    // of one charset is joined before conversion.
    assert_eq!(d("=?UTF-8?B?Y2Fmw6k=?=  \r\n =?UTF-8?Q?_au_lait?="), "café au lait");
    assert_eq!(d("=?UTF-8?B?w6k=?==?UTF-8?B?4oI=?= =?UTF-8?B?rA==?="), "é€");
    assert_eq!(d("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?="), "é");
    assert_eq!(d("=?KOI8-R?B?8NLJ18XU?="), "Привет");
    assert_eq!(d("=?windows-1252?Q?=80_5?= and =?iso-8859-2?q?=B1?="), "€ 5 and ą");
    assert_eq!(d("=?ISO-8859-1*fr?Q?d=E9j=E0?="), "déjà");
    // Text between words and around them stays, with its white space.
    assert_eq!(d("Re: =?UTF-8?Q?x?= y =?UTF-8?Q?z?="), "Re: x y z");
    // Malformed and truncated words stay as they are.
    for raw in ["=?UTF-8?Q?broken", "=?UTF-8?", "=?", "=?UTF-8?X?abc?=", "=?no such?Q?a?=", "=?UTF-8?Q?a b?=", "a=?b"] {
        assert_eq!(d(raw), raw);
    }
    // Raw 8-bit UTF-8 passes; invalid bytes become U+FFFD.
    assert_eq!(decode_rfc2047(b"caf\xc3\xa9 \xff"), "café \u{FFFD}");
    // Many `=?` cost linear work and never panic.
    let many = "=?".repeat(100_000);
    assert_eq!(d(&many), many);
}

#[test]
fn rfc2231_parameters() {
    let p = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(param_rfc2231(&p(&[("filename*", "UTF-8''caf%C3%A9.pdf")]), "filename").as_deref(), Some("café.pdf"));
    let parts = p(&[("FILENAME*1", " part"), ("filename*0*", "iso-8859-1'fr'r%E9sum%E9"), ("filename*2*", "%E9.txt")]);
    assert_eq!(param_rfc2231(&parts, "filename").as_deref(), Some("résumé parté.txt"));
    assert_eq!(
        param_rfc2231(&p(&[("name", "=?UTF-8?Q?Pr=C3=A9sentation?=.odp")]), "name").as_deref(),
        Some("Présentation.odp")
    );
    assert_eq!(param_rfc2231(&p(&[("names", "x"), ("charset", "y")]), "name"), None);
    assert_eq!(param_rfc2231(&p(&[("name*", "bad-no-quotes%41")]), "name").as_deref(), Some("bad-no-quotesA"));
}
