//! The safetensors header: a JSON object that maps each tensor's name to its `dtype`, `shape` and
//! `data_offsets` (a byte range of the data after the header), plus optional `__metadata__`
//! strings.
//!
//! Parsed here by hand, not through serde: a first load in the browser runs this code before V8 has
//! optimised it, and serde's generic deserialiser (which, for the safetensors crate's
//! `#[serde(flatten)]`, first buffers the whole header as untyped values) took 3–5 ms of the
//! 50 ms a first load may take. It accepts exactly the headers the safetensors crate accepts (of up
//! to [`MAX_TENSORS`] tensors), as
//! `crate/tests/header.rs` checks on the checkpoints in `../shared` and thousands of corruptions of
//! them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use safetensors::tensor::Dtype;

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte range `[start, end)` in the data after the header.
    pub offsets: (usize, usize),
}

/// A parsed and validated header.
#[derive(Debug)]
pub struct Header {
    /// In the order of their data.
    pub tensors: Vec<TensorEntry>,
    pub metadata: HashMap<String, String>,
    /// Bytes of data the tensors cover, which must be all the bytes after the header.
    pub data_len: usize,
}

/// Why a header is not a valid safetensors header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, HeaderError>;

/// Most tensors a file may hold. A MobileNet has a few hundred; the cap keeps a hostile header of
/// millions of empty tensors from costing seconds before it is refused.
pub const MAX_TENSORS: usize = 10_000;

/// serde_json's nesting limit, which keeps unknown deeply nested values from exhausting the stack.
const MAX_DEPTH: usize = 128;

/// Every dtype the safetensors format names, as it spells them.
const DTYPES: [(&str, Dtype); 22] = [
    ("BOOL", Dtype::BOOL),
    ("F4", Dtype::F4),
    ("F6_E2M3", Dtype::F6_E2M3),
    ("F6_E3M2", Dtype::F6_E3M2),
    ("U8", Dtype::U8),
    ("I8", Dtype::I8),
    ("F8_E5M2", Dtype::F8_E5M2),
    ("F8_E4M3", Dtype::F8_E4M3),
    ("F8_E8M0", Dtype::F8_E8M0),
    ("F8_E4M3FNUZ", Dtype::F8_E4M3FNUZ),
    ("F8_E5M2FNUZ", Dtype::F8_E5M2FNUZ),
    ("I16", Dtype::I16),
    ("U16", Dtype::U16),
    ("F16", Dtype::F16),
    ("BF16", Dtype::BF16),
    ("I32", Dtype::I32),
    ("U32", Dtype::U32),
    ("F32", Dtype::F32),
    ("C64", Dtype::C64),
    ("F64", Dtype::F64),
    ("I64", Dtype::I64),
    ("U64", Dtype::U64),
];

/// Parses `text`, the JSON between the length prefix and the data, and checks that the tensors'
/// byte ranges follow one another from 0 without gaps or overlaps, each as long as its shape and
/// dtype make it.
pub fn parse(text: &str) -> Result<Header> {
    let mut json = Json { text, pos: 0 };
    let mut tensors: Vec<TensorEntry> = Vec::new();
    let mut metadata = HashMap::new();
    let mut metadata_seen = false;
    json.object(|json, key| {
        if key == "__metadata__" {
            if std::mem::replace(&mut metadata_seen, true) {
                return json.error("`__metadata__` appears twice");
            }
            if !json.literal("null") {
                json.object(|json, key| {
                    let value = json.string()?;
                    metadata.insert(key.into_owned(), value.into_owned());
                    Ok(())
                })?;
            }
        } else {
            if tensors.len() == MAX_TENSORS {
                return json.error(&format!("more than {MAX_TENSORS} tensors"));
            }
            tensors.push(json.tensor(key.into_owned())?);
        }
        Ok(())
    })?;
    json.skip_whitespace();
    if json.pos != text.len() {
        return json.error("trailing characters after the header object");
    }
    let data_len = validate(&mut tensors)?;
    Ok(Header {
        tensors,
        metadata,
        data_len,
    })
}

/// Sorts `tensors` by byte range and checks that the ranges tile `[0, end)` with each range as
/// long as its tensor; returns `end`.
fn validate(tensors: &mut [TensorEntry]) -> Result<usize> {
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|p| p[0] == p[1]) {
        return Err(HeaderError(format!("tensor `{}` appears twice", pair[0])));
    }
    tensors.sort_by_key(|t| t.offsets);
    let mut end = 0usize;
    for tensor in tensors.iter() {
        let (start, stop) = tensor.offsets;
        let name = &tensor.name;
        if start != end || stop < start {
            return Err(HeaderError(format!(
                "tensor `{name}`'s data_offsets [{start}, {stop}] do not start where the previous \
                 tensor ends ({end})"
            )));
        }
        end = stop;
        let bits = tensor
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(tensor.dtype.bitsize()))
            .ok_or_else(|| HeaderError(format!("tensor `{name}`'s size overflows")))?;
        if bits % 8 != 0 || stop - start != bits / 8 {
            return Err(HeaderError(format!(
                "tensor `{name}` has {} bytes, but its shape {:?} of {:?} takes {} bits",
                stop - start,
                tensor.shape,
                tensor.dtype,
                bits
            )));
        }
    }
    Ok(end)
}

/// A cursor over JSON text; every method skips the whitespace before its token.
struct Json<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Json<'a> {
    fn error<T>(&self, what: &str) -> Result<T> {
        Err(HeaderError(format!(
            "at byte {} of the header: {what}",
            self.pos
        )))
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += found as usize;
        found
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<()> {
        if self.eat(byte) {
            Ok(())
        } else {
            self.error(&format!("expected {what}"))
        }
    }

    fn literal(&mut self, word: &str) -> bool {
        self.skip_whitespace();
        let found = self.bytes()[self.pos..].starts_with(word.as_bytes());
        if found {
            self.pos += word.len();
        }
        found
    }

    /// An object, calling `entry` with each key when the cursor is at its value.
    fn object(
        &mut self,
        mut entry: impl FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    ) -> Result<()> {
        self.expect(b'{', "an object")?;
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "`:`")?;
            entry(self, key)?;
            if self.eat(b'}') {
                return Ok(());
            }
            self.expect(b',', "`,` or `}`")?;
        }
    }

    /// An array, calling `item` when the cursor is at each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.expect(b'[', "an array")?;
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            item(self)?;
            if self.eat(b']') {
                return Ok(());
            }
            self.expect(b',', "`,` or `]`")?;
        }
    }

    /// A string, borrowed from the text unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.expect(b'"', "a string")?;
        let mut owned: Option<String> = None;
        let mut run = self.pos;
        loop {
            match self.bytes().get(self.pos) {
                None => return self.error("unterminated string"),
                Some(b'"') => {
                    let tail = &self.text[run..self.pos];
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                Some(b'\\') => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    let escaped = self.escape()?;
                    owned.as_mut().expect("just set").push(escaped);
                    run = self.pos;
                }
                Some(0..=0x1f) => return self.error("control character in a string"),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// The character an escape stands for, the cursor just after its backslash.
    fn escape(&mut self) -> Result<char> {
        let Some(&byte) = self.bytes().get(self.pos) else {
            return self.error("unterminated escape");
        };
        self.pos += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        if !self.bytes()[self.pos..].starts_with(b"\\u") {
                            return self.error("lone leading surrogate in an escape");
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return self.error("invalid trailing surrogate in an escape");
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return self.error("lone trailing surrogate in an escape"),
                    _ => unit,
                };
                char::from_u32(code).expect("not a surrogate")
            }
            _ => return self.error("invalid escape"),
        })
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes().get(self.pos..self.pos + 4);
        let value = digits
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| u32::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok());
        match value {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => self.error("invalid \\u escape"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes().get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A non-negative integer that fits a `usize`; as serde_json reads one for a `usize` field,
    /// no sign, fraction or exponent.
    fn size(&mut self) -> Result<usize> {
        self.skip_whitespace();
        let start = self.pos;
        let count = self.digits();
        let digits = &self.bytes()[start..self.pos];
        if count == 0 {
            return self.error("expected a non-negative integer");
        }
        if count > 1 && digits[0] == b'0' {
            return self.error("leading zero in a number");
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes().get(self.pos) {
            return self.error("expected an integer");
        }
        digits
            .iter()
            .try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .and_then(|n| usize::try_from(n).ok())
            .map_or_else(|| self.error("integer too large"), Ok)
    }

    /// Any JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<()> {
        self.eat(b'-');
        let start = self.pos;
        let count = self.digits();
        if count == 0 || (count > 1 && self.bytes()[start] == b'0') {
            return self.error("invalid number");
        }
        if self.bytes().get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.error("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.bytes().get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes().get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.error("invalid number");
            }
        }
        Ok(())
    }

    /// Any value, checked and skipped: fields the format may add are ignored, as serde ignores them.
    fn skip_value(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return self.error("values nested too deeply");
        }
        match self.peek() {
            Some(b'{') => self.object(|json, _| json.skip_value(depth + 1)),
            Some(b'[') => self.array(|json| json.skip_value(depth + 1)),
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ if self.literal("true") || self.literal("false") || self.literal("null") => Ok(()),
            _ => self.error("expected a value"),
        }
    }

    /// A tensor's entry: `{"dtype": .., "shape": [..], "data_offsets": [start, end]}`.
    fn tensor(&mut self, name: String) -> Result<TensorEntry> {
        let (mut dtype, mut shape, mut offsets) = (None, None, None);
        self.object(|json, key| {
            let duplicate = match &*key {
                "dtype" => dtype.replace(json.dtype()?).is_some(),
                "shape" => {
                    let mut dims = Vec::new();
                    json.array(|json| json.size().map(|d| dims.push(d)))?;
                    shape.replace(dims).is_some()
                }
                "data_offsets" => {
                    let mut pair = Vec::with_capacity(2);
                    json.array(|json| json.size().map(|n| pair.push(n)))?;
                    let [start, end] = pair[..] else {
                        return json.error("data_offsets must hold two integers");
                    };
                    offsets.replace((start, end)).is_some()
                }
                _ => json.skip_value(1).map(|()| false)?,
            };
            if duplicate {
                return json.error(&format!("duplicate field `{key}`"));
            }
            Ok(())
        })?;
        let missing = |field| HeaderError(format!("tensor `{name}` has no `{field}`"));
        Ok(TensorEntry {
            dtype: dtype.ok_or_else(|| missing("dtype"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
            offsets: offsets.ok_or_else(|| missing("data_offsets"))?,
            name,
        })
    }

    fn dtype(&mut self) -> Result<Dtype> {
        let name = self.string()?;
        match DTYPES.iter().find(|(n, _)| *n == name) {
            Some(&(_, dtype)) => Ok(dtype),
            None => self.error(&format!("unknown dtype `{name}`")),
        }
    }
}
