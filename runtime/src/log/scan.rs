//! A fast check of a line's JSON that finds its top-level members as it
//! goes. It accepts a subset of what serde_json accepts: when it refuses a
//! line, serde_json reads the line instead and has the last word (and gives
//! the error message), so a line is a record exactly when serde_json says it
//! is. It gives up on an object with a name twice (or one it cannot tell
//! apart cheaply), which the strict reading then refuses.

/// The level of nesting serde_json refuses (the line's object is level
/// 1): objects and arrays may nest 127 levels deep.
const MAX_DEPTH: usize = 128;

/// A member as found: the name between its quotes (it has no escapes: the
/// check gives up on a name with escapes), and its value.
pub(crate) struct Found {
    pub key: (usize, usize),
    pub value: (usize, usize),
}

/// Why the fast check gave up (serde_json decides then).
pub(crate) struct GiveUp;

/// The names of one object so far, to give up on one met twice: a 64-bit
/// filter of their hashes, and the names themselves to tell a real repeat
/// from a shared bit (the first [`Names::KEPT`] on the stack, the rest, in
/// a wide object, in `more`).
struct Names {
    filter: u64,
    kept: [(usize, usize); Names::KEPT],
    more: Vec<(usize, usize)>,
    len: usize,
}

impl Names {
    const KEPT: usize = 32;

    fn new() -> Self {
        Names {
            filter: 0,
            kept: [(0, 0); Names::KEPT],
            more: Vec::new(),
            len: 0,
        }
    }

    /// Adds the name at `b[start..end]` (without escapes), or gives up if
    /// the object has it already.
    fn add(&mut self, b: &[u8], start: usize, end: usize) -> Scan<()> {
        let name = &b[start..end];
        // FNV-1a: names are short, and only one bit of it is used.
        let hash = name.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &c| {
            (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
        });
        let bit = 1u64 << (hash % 64);
        if self.filter & bit != 0 {
            let known = self.kept[..self.len.min(Names::KEPT)]
                .iter()
                .chain(&self.more);
            if known.clone().any(|&(s, e)| &b[s..e] == name) {
                return Err(GiveUp);
            }
        }
        self.filter |= bit;
        match self.kept.get_mut(self.len) {
            Some(slot) => *slot = (start, end),
            None => self.more.push((start, end)),
        }
        self.len += 1;
        Ok(())
    }
}

type Scan<T> = Result<T, GiveUp>;

struct Scanner<'t> {
    b: &'t [u8],
}

/// The bytes that end a run of plain characters in a string: a quote, a
/// backslash, or a control character (which JSON does not allow there).
const STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        stop[c] = true;
        c += 1;
    }
    stop[b'"' as usize] = true;
    stop[b'\\' as usize] = true;
    stop
};

/// Finds the members of the object on `text`, calling `found` for each.
pub(crate) fn members(text: &str, mut found: impl FnMut(Found)) -> Scan<()> {
    let b = text.as_bytes();
    let s = Scanner { b };
    let mut i = s.ws(0);
    s.expect(i, b'{')?;
    i = s.ws(i + 1);
    if s.at(i) == Some(b'}') {
        i += 1;
    } else {
        let mut names = Names::new();
        loop {
            s.expect(i, b'"')?;
            let (end, escaped) = s.string(i)?;
            let key = (i + 1, end - 1);
            if escaped {
                return Err(GiveUp);
            }
            names.add(b, key.0, key.1)?;
            i = s.ws(end);
            s.expect(i, b':')?;
            i = s.ws(i + 1);
            let start = i;
            i = s.value(i, 1)?;
            found(Found {
                key,
                value: (start, i),
            });
            i = s.ws(i);
            match s.at(i) {
                Some(b',') => i = s.ws(i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(GiveUp),
            }
        }
    }
    if s.ws(i) == b.len() {
        Ok(())
    } else {
        Err(GiveUp)
    }
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn expect(&self, i: usize, c: u8) -> Scan<()> {
        if self.at(i) == Some(c) {
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    fn ws(&self, mut i: usize) -> usize {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.at(i) {
            i += 1;
        }
        i
    }

    /// The first byte at or after `k` that ends a run of plain string
    /// characters: eight bytes at a time, then one by one.
    fn plain(&self, mut k: usize) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // Flags the bytes of `v` that are zero (the lowest flag is exact).
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        while let Some(word) = self.b.get(k..k + 8) {
            let Ok(word) = <[u8; 8]>::try_from(word) else {
                break;
            };
            let x = u64::from_le_bytes(word);
            let controls = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
            let hits =
                zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) | controls;
            if hits != 0 {
                return k + (hits.trailing_zeros() / 8) as usize;
            }
            k += 8;
        }
        while let Some(&c) = self.b.get(k) {
            if STOP[c as usize] {
                break;
            }
            k += 1;
        }
        k
    }

    /// The string opening at `i`: the index after its closing quote, and
    /// whether it holds escapes.
    fn string(&self, i: usize) -> Scan<(usize, bool)> {
        let mut k = i + 1;
        let mut escaped = false;
        loop {
            k = self.plain(k);
            match self.at(k) {
                Some(b'"') => return Ok((k + 1, escaped)),
                Some(b'\\') => {}
                // A control character, or the end of the line.
                _ => return Err(GiveUp),
            }
            escaped = true;
            match self.at(k + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => k += 2,
                Some(b'u') => {
                    let hex = self.b.get(k + 2..k + 6).ok_or(GiveUp)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(GiveUp);
                    }
                    // Surrogates: serde_json's rules for them differ
                    // between names and values; let it decide.
                    if matches!(hex[0], b'd' | b'D')
                        && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                    {
                        return Err(GiveUp);
                    }
                    k += 6;
                }
                _ => return Err(GiveUp),
            }
        }
    }

    /// The value starting at `i`: the index after it.
    fn value(&self, i: usize, depth: usize) -> Scan<usize> {
        match self.at(i).ok_or(GiveUp)? {
            b'"' => self.string(i).map(|(end, _)| end),
            b'{' => self.object(i, depth + 1),
            b'[' => self.array(i, depth + 1),
            b't' => self.literal(i, b"true"),
            b'f' => self.literal(i, b"false"),
            b'n' => self.literal(i, b"null"),
            b'-' | b'0'..=b'9' => self.number(i),
            _ => Err(GiveUp),
        }
    }

    fn literal(&self, i: usize, word: &[u8]) -> Scan<usize> {
        if self.b[i..].starts_with(word) {
            Ok(i + word.len())
        } else {
            Err(GiveUp)
        }
    }

    fn digits(&self, mut i: usize) -> usize {
        while let Some(b'0'..=b'9') = self.at(i) {
            i += 1;
        }
        i
    }

    fn number(&self, mut i: usize) -> Scan<usize> {
        let start = i;
        if self.at(i) == Some(b'-') {
            i += 1;
        }
        match self.at(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = self.digits(i + 1),
            _ => return Err(GiveUp),
        }
        if self.at(i) == Some(b'.') {
            let end = self.digits(i + 1);
            if end == i + 1 {
                return Err(GiveUp);
            }
            i = end;
        }
        if let Some(b'e' | b'E') = self.at(i) {
            i += 1;
            if let Some(b'+' | b'-') = self.at(i) {
                i += 1;
            }
            let end = self.digits(i);
            if end == i {
                return Err(GiveUp);
            }
            i = end;
            self.in_range(start, i)?;
        } else if i - start > 300 {
            self.in_range(start, i)?;
        }
        Ok(i)
    }

    /// Gives up on a number that may be too large for an `f64` (serde_json
    /// refuses those), leaving the last word to serde_json. Only numbers
    /// with an exponent or hundreds of digits can be.
    fn in_range(&self, start: usize, end: usize) -> Scan<()> {
        let text = std::str::from_utf8(&self.b[start..end]).map_err(|_| GiveUp)?;
        match text.parse::<f64>() {
            Ok(n) if n.abs() < 1e300 => Ok(()),
            _ => Err(GiveUp),
        }
    }

    fn object(&self, i: usize, depth: usize) -> Scan<usize> {
        if depth >= MAX_DEPTH {
            return Err(GiveUp);
        }
        let mut i = self.ws(i + 1);
        if self.at(i) == Some(b'}') {
            return Ok(i + 1);
        }
        let mut names = Names::new();
        loop {
            self.expect(i, b'"')?;
            let (end, escaped) = self.string(i)?;
            if escaped {
                return Err(GiveUp);
            }
            names.add(self.b, i + 1, end - 1)?;
            i = self.ws(end);
            self.expect(i, b':')?;
            i = self.value(self.ws(i + 1), depth)?;
            i = self.ws(i);
            match self.at(i) {
                Some(b',') => i = self.ws(i + 1),
                Some(b'}') => return Ok(i + 1),
                _ => return Err(GiveUp),
            }
        }
    }

    fn array(&self, i: usize, depth: usize) -> Scan<usize> {
        if depth >= MAX_DEPTH {
            return Err(GiveUp);
        }
        let mut i = self.ws(i + 1);
        if self.at(i) == Some(b']') {
            return Ok(i + 1);
        }
        loop {
            i = self.value(i, depth)?;
            i = self.ws(i);
            match self.at(i) {
                Some(b',') => i = self.ws(i + 1),
                Some(b']') => return Ok(i + 1),
                _ => return Err(GiveUp),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn accepts(text: &str) -> bool {
        members(text, |_| {}).is_ok()
    }

    fn serde_accepts(text: &str) -> bool {
        crate::log::parse::parse_members_serde(text, &mut Vec::new()).is_ok()
    }

    /// A JSON object, then one character inserted or removed somewhere.
    fn mutated() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just(serde_json::json!(null)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "\\PC{0,8}".prop_map(serde_json::Value::from),
            Just(serde_json::json!([1, {"x": [true, "é\"\\\u{1}"]}])),
        ];
        (
            prop::collection::btree_map("[a-z\\\\\"]{0,4}", value, 0..5),
            any::<prop::sample::Index>(),
            prop::option::of(prop::sample::select(
                b"{}[]\":,0123456789-+.eE \\tnul".to_vec(),
            )),
        )
            .prop_map(|(map, at, insert)| {
                let mut text = serde_json::to_string(&map).unwrap().into_bytes();
                let at = at.index(text.len() + 1);
                match insert {
                    Some(c) => text.insert(at, c),
                    None if at < text.len() => {
                        text.remove(at);
                    }
                    None => {}
                }
                String::from_utf8_lossy(&text).into_owned()
            })
    }

    /// A wide object is read fast, whatever its width, and a name repeated
    /// anywhere in it is left to serde_json (which refuses it).
    #[test]
    fn a_wide_object_is_read_fast_and_a_late_repeat_is_found() {
        let names: Vec<String> = (0..100).map(|i| format!("\"field{i}\":{i}")).collect();
        let wide = format!("{{{}}}", names.join(","));
        let mut found = 0;
        assert!(members(&wide, |_| found += 1).is_ok());
        assert_eq!(found, 100);
        let repeated = format!("{{{},\"field3\":0}}", names.join(","));
        assert!(members(&repeated, |_| ()).is_err());
        let nested = format!("{{\"a\":{{{},\"field97\":0}}}}", names.join(","));
        assert!(members(&nested, |_| ()).is_err());
    }

    #[test]
    fn what_it_accepts_and_refuses() {
        for good in [
            "{}",
            " { } ",
            r#"{"a":1,"b":[true,false,null,{"c":-0.5e+3}],"d":"x\"\\\/\b\f\n\r\t\u00e9"}"#,
            "{\"a\" :\t1 }",
            "{\"long\":\"0123456789abcdef\\\"0123456789abcdef\\u00e9\",\"k\":\"\x7f\"}",
        ] {
            assert!(accepts(good), "{good}");
        }
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"\t\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{} x",
            "{\"a\":[1,]}",
            "{'a':1}",
            "{\"long\":\"0123456789abcdef\u{1f}0123456789abcdef\"}",
            "{\"long\":\"0123456789abcdef0123456789abcdef",
            "{\"n\":1e400}",
            "{\"n\":-1.5E+309}",
        ] {
            assert!(!accepts(bad), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde_json() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(120), "]".repeat(120));
        assert!(accepts(&deep));
        assert!(serde_accepts(&deep));
        // Deeper than serde_json reads values: not a record, since a step
        // could not read the member. The scan gives up, serde_json refuses.
        let deeper = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(!accepts(&deeper));
        assert!(!serde_accepts(&deeper));
        // The line's object and 126 arrays in it: 127 levels, the most
        // serde_json reads. One more is refused by both.
        let nested = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(accepts(&nested(126)) && serde_accepts(&nested(126)));
        assert!(!accepts(&nested(127)) && !serde_accepts(&nested(127)));
    }

    proptest! {
        /// Whatever the fast check accepts, serde_json accepts too, with the
        /// same members.
        #[test]
        fn it_never_accepts_what_serde_json_refuses(
            text in prop_oneof![r#"[{}\[\]":,0-9a-z\\ .eE+\-\t]{0,40}"#, mutated()],
        ) {
            if accepts(&text) {
                prop_assert!(serde_accepts(&text), "{}", text);
            }
        }

        #[test]
        fn it_finds_the_members_serde_json_finds(
            map in prop::collection::btree_map("\\PC{0,6}", "\\PC{0,10}", 0..6),
        ) {
            let text = serde_json::to_string(&map).unwrap();
            let mut found = Vec::new();
            // A name with escapes is left to serde_json.
            let escaped = map.keys().any(|k| serde_json::to_string(k).unwrap().len() != k.len() + 2);
            prop_assert!(escaped || members(&text, |f| found.push(f)).is_ok(), "{}", text);
            let record = crate::log::LogRecord::parse(text.clone()).unwrap();
            let names: Vec<&str> = record.keys().collect();
            prop_assert_eq!(names, map.keys().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
