//! One JSON object written straight into a byte buffer, for the access log: keys are the
//! caller's constants, strings are escaped as RFC 8259 requires (the bytes that need no escape,
//! nearly all, are copied in runs), integers go through `itoa`, and no `fmt` machinery runs.
//! serde_json's serializer makes a call per field and a table lookup per byte; at a line per
//! request that was a fifth of a proxied request's instructions (`make callgrind`).

/// Hex digits, for `\u00XX` escapes and trace ids.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// An object being written; [`JsonLine::end`] closes it and ends the line.
pub struct JsonLine<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonLine<'a> {
    /// Opens an object at the end of `out`.
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// `"key":` (with the comma before it but for the first); `key` needs no escaping.
    #[inline(always)]
    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string field.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.joined(key, &[value], b'/')
    }

    /// A string field made of `parts` joined by `separator` (an ASCII byte that needs no escape).
    pub fn joined(&mut self, key: &str, parts: &[&str], separator: u8) -> &mut Self {
        self.key(key);
        self.out.push(b'"');
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                self.out.push(separator);
            }
            escape_into(self.out, part);
        }
        self.out.push(b'"');
        self
    }

    /// A string field whose text `write` puts in place, bytes that need no escaping.
    pub fn plain(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.key(key);
        self.out.push(b'"');
        write(self.out);
        self.out.push(b'"');
        self
    }

    /// An integer field.
    pub fn integer(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// A number of milliseconds given in microseconds, written with three decimals (`12.345`).
    pub fn millis(&mut self, key: &str, micros: u64) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
        self.out.push(b'.');
        push_digits(self.out, micros % 1000, 3);
        self
    }

    /// Closes the object and the line.
    pub fn end(self) {
        self.out.extend_from_slice(b"}\n");
    }
}

/// `value`'s last `width` decimal digits, zero-padded.
pub fn push_digits(out: &mut Vec<u8>, value: u64, width: u32) {
    for place in (0..width).rev() {
        out.push(b'0' + (value / 10u64.pow(place) % 10) as u8);
    }
}

/// `value` as 32 lowercase hex digits.
pub fn push_hex128(out: &mut Vec<u8>, value: u128) {
    for shift in (0..32).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize]);
    }
}

/// `text` as the inside of a JSON string: `"`, `\` and control characters escaped, the rest
/// (UTF-8 included) copied as it is.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let needs_escape = |byte: u8| byte < 0x20 || byte == b'"' || byte == b'\\';
    // Nearly every field needs no escape: a scan without early exit (which the compiler
    // vectorizes) says so, and the text is copied whole.
    if !bytes.iter().fold(false, |found, &byte| found | needs_escape(byte)) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut copied = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        out.extend_from_slice(&bytes[copied..index]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        copied = index + 1;
    }
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(write: impl FnOnce(&mut JsonLine<'_>)) -> String {
        let mut out = Vec::new();
        let mut line = JsonLine::begin(&mut out);
        write(&mut line);
        line.end();
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn every_string_reads_back_as_it_was() {
        let hostile =
            ["", "plain", "a \"quoted\" \\ path", "tab\tnew\nline\r", "\u{0}\u{1f}\u{7f}", "中文/ü/😀", "\u{2028}"];
        for text in hostile {
            let written = line(|line| {
                line.string("s", text).joined("j", &[text, text], b'/');
            });
            let parsed: serde_json::Value = serde_json::from_str(written.trim_end()).expect(&written);
            assert_eq!(parsed["s"], text, "{written}");
            assert_eq!(parsed["j"], format!("{text}/{text}"), "{written}");
            assert!(written.ends_with("}\n") && written.matches('\n').count() == 1, "one line: {written:?}");
        }
    }

    #[test]
    fn numbers_are_json_numbers() {
        let written = line(|line| {
            line.integer("n", 0).integer("max", u64::MAX).millis("ms", 12_345).millis("small", 7).millis("zero", 0);
        });
        assert_eq!(written, "{\"n\":0,\"max\":18446744073709551615,\"ms\":12.345,\"small\":0.007,\"zero\":0.000}\n");
        let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(parsed["ms"].as_f64(), Some(12.345));
    }

    #[test]
    fn plain_text_and_hex() {
        let written = line(|line| {
            line.plain("id", |out| push_hex128(out, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736))
                .plain("d", |out| push_digits(out, 42, 3));
        });
        assert_eq!(written, "{\"id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"d\":\"042\"}\n");
    }
}
