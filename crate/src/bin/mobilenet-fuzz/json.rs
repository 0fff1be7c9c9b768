//! JSON-aware edits of a safetensors header or a config text: numbers and strings replaced,
//! tokens inserted, key-value pairs duplicated, removed or swapped, label lists made long, and
//! many tensors added.

use crate::mutate::{json_range, op, Layout};
use crate::rng::Rng;

#[rustfmt::skip]
const NUMBERS: [&str; 22] = [
    "0", "-1", "1", "2", "-0", "0.5", "1e38", "-1e38", "1e-45", "1e308", "1e999", "-1e999",
    "NaN", "Infinity", "4294967295", "4294967296", "9007199254740993", "18446744073709551615",
    "18446744073709551616", "99999999999999999999999", "2147483648", "1.0000001",
];

#[rustfmt::skip]
const STRINGS: [&str; 24] = [
    "", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F32", "x", "__metadata__", "head.examples",
    "head.classes", "head.weight", "mobilenet_v2", "mobilenetv4_conv_small", "mobilenext", "tf",
    "bicubic", "true", "knn", "linear", "[1e38,1e38,1e38]", "[1e-45,1e-45,1e-45]", "\\u0000",
];

#[rustfmt::skip]
const TOKENS: [&str; 16] = [
    ",", "\"", "\\\"", "{", "}", "[", "]", ":", "null", "true", "-", "0", "1e999", "\\u0000",
    ",\"x\":\"y\"", "\u{e9}",
];

/// A JSON-aware edit of the header (safetensors: the length prefix follows, mostly).
pub fn json_edit(rng: &mut Rng, data: &mut Vec<u8>, layout: Layout, kind: u32) -> bool {
    let Some((start, end)) = json_range(data, layout) else {
        return false;
    };
    let mut text = data[start..end].to_vec();
    let changed = match kind {
        op::JSON_NUMBER => {
            let spans = number_spans(&text);
            replace_span(rng, &mut text, spans, NUMBERS.as_slice())
        }
        op::JSON_STRING => {
            let spans = string_spans(&text);
            replace_span(rng, &mut text, spans, STRINGS.as_slice())
        }
        op::JSON_TOKEN => {
            let at = rng.below(text.len() + 1);
            let token = rng.pick(&TOKENS).as_bytes();
            text.splice(at..at, token.iter().copied());
            true
        }
        op::JSON_PAIR => pair_edit(rng, &mut text),
        op::HUGE_LABELS => huge_labels(rng, &mut text),
        op::MANY_TENSORS if layout == Layout::Safetensors => {
            let n = rng.bulk(20_000, 250_000);
            let entries: String = (0..n)
                .map(|i| {
                    format!("\"z{i}\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}},")
                })
                .collect();
            let at = text.iter().position(|&b| b == b'{').map_or(0, |p| p + 1);
            text.splice(at..at, entries.into_bytes());
            true
        }
        _ => false,
    };
    if !changed {
        return false;
    }
    let mut edited = [&data[..start], &text, &data[end..]].concat();
    if layout == Layout::Safetensors && rng.chance(0.9) {
        edited[..8].copy_from_slice(&(text.len() as u64).to_le_bytes());
    }
    *data = edited;
    true
}

/// Replaces one of `spans` by a word of `words`, or a number by its neighbour.
fn replace_span(
    rng: &mut Rng,
    text: &mut Vec<u8>,
    spans: Vec<(usize, usize)>,
    words: &[&str],
) -> bool {
    if spans.is_empty() {
        return false;
    }
    let (a, b) = *rng.pick(&spans);
    let old = String::from_utf8_lossy(&text[a..b]).into_owned();
    let new = match old.parse::<i128>() {
        Ok(n) if rng.chance(0.3) => (n + rng.below(5) as i128 - 2).to_string(),
        _ if rng.chance(0.1) => "9".repeat(1 + rng.below(400)),
        _ => rng.pick(words).to_string(),
    };
    text.splice(a..b, new.into_bytes());
    true
}

/// Runs of digits (with sign, point and exponent), also those inside string values.
fn number_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit()
            || (text[i] == b'-' && text.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < text.len()
                && matches!(text[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// The contents of every string (between its quotes), escaped ones counted as part of it.
fn string_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'"' {
            let start = i + 1;
            i = start;
            while i < text.len() && text[i] != b'"' {
                i += if text[i] == b'\\' { 2 } else { 1 };
            }
            spans.push((start, i.min(text.len())));
        }
        i += 1;
    }
    spans
}

/// `"key": value` spans of every object (nested ones too): `(key start, value end)`.
fn pair_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for (a, b) in string_spans(text) {
        let mut i = b + 1;
        while text.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if text.get(i) == Some(&b':') {
            pairs.push((a - 1, value_end(text, i + 1)));
        }
    }
    pairs
}

/// Where the JSON value starting at or after `i` ends.
fn value_end(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let mut depth = 0usize;
    while i < text.len() {
        match text[i] {
            b'"' => {
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 0 {
                    return (i + 1).min(text.len());
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth <= 1 => return if depth == 1 { i + 1 } else { i },
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    text.len()
}

/// Duplicates or removes a key-value pair, or gives it another pair's value.
fn pair_edit(rng: &mut Rng, text: &mut Vec<u8>) -> bool {
    let pairs = pair_spans(text);
    if pairs.is_empty() {
        return false;
    }
    let (a, b) = *rng.pick(&pairs);
    match rng.below(3) {
        0 => {
            let mut copy = vec![b','];
            copy.extend_from_slice(&text[a..b]);
            text.splice(b..b, copy);
        }
        1 => {
            let b = if text.get(b) == Some(&b',') { b + 1 } else { b };
            text.drain(a..b);
        }
        _ => {
            let (c, d) = *rng.pick(&pairs);
            let value = |s: usize, e: usize| {
                let colon = s + text[s..e].iter().position(|&x| x == b':').unwrap_or(0);
                colon + 1
            };
            let (va, vc) = (value(a, b), value(c, d));
            let new = text[vc..d].to_vec();
            if va <= b {
                text.splice(va..b, new);
            }
        }
    }
    true
}

/// Replaces the first `labels` list (a model's, a head's, or config.json's `label_names`) by a
/// long one: distinct, repeated or blank labels.
fn huge_labels(rng: &mut Rng, text: &mut Vec<u8>) -> bool {
    let Some(key) = text.windows(6).position(|w| w == b"labels") else {
        return false;
    };
    let Some(open) = text[key..].iter().position(|&b| b == b'[').map(|p| key + p) else {
        return false;
    };
    let Some(close) = text[open..]
        .iter()
        .position(|&b| b == b']')
        .map(|p| open + p)
    else {
        return false;
    };
    let quote = if text.get(open + 1) == Some(&b'\\') {
        "\\\""
    } else {
        "\""
    };
    let n = rng.bulk(10_000, 50_000);
    let style = rng.below(4);
    let label = |i: usize| match style {
        0 | 1 => format!("{quote}l{i}{quote}"),
        2 => format!("{quote}same{quote}"),
        _ if i == n - 1 => format!("{quote} {quote}"),
        _ => format!("{quote}label number {i}{quote}"),
    };
    let list: Vec<String> = (0..n).map(label).collect();
    text.splice(open + 1..close, list.join(",").into_bytes());
    true
}
