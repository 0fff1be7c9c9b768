//! The hand-written safetensors header parser accepts exactly what the safetensors crate accepts,
//! and reads the same tensors and metadata from it.

mod common;

use std::collections::HashMap;

use mobilenet_wasm::checkpoint::header;
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

type Tensors = HashMap<String, (Dtype, Vec<usize>, (usize, usize))>;
type Parsed = (Tensors, HashMap<String, String>);

/// The file's header as the safetensors crate reads it.
fn theirs(file: &[u8]) -> Option<Parsed> {
    let (_, metadata) = SafeTensors::read_metadata(file).ok()?;
    let tensors = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, (info.dtype, info.shape.clone(), info.data_offsets)))
        .collect();
    Some((tensors, metadata.metadata().clone().unwrap_or_default()))
}

/// The file's header as [`header::parse`] reads it, with the same framing checks around it.
fn ours(file: &[u8]) -> Option<Parsed> {
    let length = u64::from_le_bytes(file.get(..8)?.try_into().unwrap());
    let end = usize::try_from(length).ok()?.checked_add(8)?;
    let text = std::str::from_utf8(file.get(8..end)?).ok()?;
    let header = header::parse(text).ok()?;
    if end.checked_add(header.data_len)? != file.len() {
        return None;
    }
    let tensors = header
        .tensors
        .into_iter()
        .map(|t| (t.name, (t.dtype, t.shape, t.offsets)))
        .collect();
    Some((tensors, header.metadata))
}

/// A file whose header is `json`, followed by `data_len` zero bytes.
fn file(json: &str, data_len: usize) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

async fn check_handwritten_headers() {
    let t = r#""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#;
    let cases: Vec<(String, usize, bool)> = vec![
        (format!("{{{t}}}"), 8, true),
        (format!(" \n\t{{ {t} }}   "), 8, true),
        (format!(r#"{{"__metadata__":{{"k":"v\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}},{t}}}"#), 8, true),
        (format!(r#"{{"__metadata__":null,{t}}}"#), 8, true),
        (format!(r#"{{"__metadata__":{{}},{t}}}"#), 8, true),
        ("{}".into(), 0, true),
        (r#"{"z":{"dtype":"I64","shape":[0],"data_offsets":[0,0]}}"#.into(), 0, true),
        (r#"{"a":{"x":[1,{"y":[true,false,null,-1.5e-3,"s"]}],"dtype":"F16","shape":[3],"data_offsets":[0,6]}}"#.into(), 6, true),
        (r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#.into(), 8, true),
        (format!("{{{t}}}x"), 8, false),
        (format!("{{{t},}}"), 8, false),
        (format!("{{{t}}}"), 9, false),
        (format!(r#"{{"__metadata__":{{"k":1}},{t}}}"#), 8, false),
        (format!(r#"{{"__metadata__":{{}},"__metadata__":{{}},{t}}}"#), 8, false),
        (format!(r#"{{"__metadata__":{{"k":"\ud83d"}},{t}}}"#), 8, false),
        (format!(r#"{{"__metadata__":{{"k":"\ude00"}},{t}}}"#), 8, false),
        (format!(r#"{{"__metadata__":{{"k":"\x"}},{t}}}"#), 8, false),
        (format!("{{\"__metadata__\":{{\"k\":\"\u{1}\"}},{t}}}"), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}"#.into(), 0, false),
        (r#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}"#.into(), 9, false),
        (r#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#.into(), 8, false),
        (r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#.into(), 2, false),
        (r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#.into(), 8, false),
        (format!(r#"{{"a":{{"x":{}1{},"dtype":"F32","shape":[2],"data_offsets":[0,8]}}}}"#, "[".repeat(200), "]".repeat(200)), 8, false),
        ("".into(), 0, false),
        ("[]".into(), 0, false),
    ];
    for (json, data_len, valid) in cases {
        let bytes = file(&json, data_len);
        let expected = theirs(&bytes);
        assert_eq!(expected.is_some(), valid, "the safetensors crate on {json}");
        assert_eq!(ours(&bytes), expected, "{json}");
    }
}
shared_test!(
    handwritten_headers_parse_as_safetensors_does,
    check_handwritten_headers()
);

/// Every checkpoint in `../shared`, and each with single header bytes replaced by JSON's
/// punctuation, digits and other bytes at hundreds of places.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn shared_checkpoints_and_their_corruptions_parse_as_safetensors_does() {
    use common::shared;
    let files = [
        "weights/mobilenetv3_small_100.safetensors",
        "weights/mobilenetv2_100.safetensors",
        "weights/mobilenetv1_075.safetensors",
        "reference/synthetic/tv_mobilenet_v3_large.safetensors",
        "reference/synthetic/mobilenext_100.safetensors",
    ];
    let replacements = *b"\"{}[],:019-.e \\un\0\x7f";
    for path in files {
        let good = pollster::block_on(shared(path));
        let parsed = ours(&good).unwrap_or_else(|| panic!("{path} does not parse"));
        assert_eq!(Some(&parsed), theirs(&good).as_ref(), "{path}");
        assert!(parsed.0.len() > 50, "{path}");
        let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let (mut accepted, mut refused) = (0, 0);
        for at in (8..8 + header_len).step_by(header_len / 70 + 1) {
            for byte in replacements.iter().copied().chain([good[at] ^ 0x20]) {
                let mut bad = good.clone();
                bad[at] = byte;
                let expected = theirs(&bad);
                let at_text = String::from_utf8_lossy(&good[at.saturating_sub(20)..at + 20]);
                let found = ours(&bad);
                assert!(
                    found == expected,
                    "{path}: byte {at} (…{at_text}…) as {byte:#x}: ours {}, safetensors {}",
                    found.map_or("refuses", |_| "accepts"),
                    expected.as_ref().map_or("refuses", |_| "accepts"),
                );
                if expected.is_some() {
                    accepted += 1
                } else {
                    refused += 1
                }
            }
        }
        // Both outcomes occur: the sweep reaches names and values as well as the structure.
        assert!(
            accepted > 50 && refused > 500,
            "{path}: {accepted} accepted, {refused} refused"
        );
    }
}
