//! Tokenizers from GGUF metadata, as llama.cpp's `llama-vocab.cpp` runs them:
//!
//! - `tokenizer.ggml.model = "llama"`: SentencePiece-style BPE over UTF-8
//!   characters, merging the pair whose result has the highest score, with
//!   byte-fallback tokens `<0xXX>` and `▁` for spaces (stories260K, Llama 2).
//! - `"gpt2"`: byte-level BPE with ranked merges after a pre-tokenizer split
//!   (SmolLM2's `tokenizer.ggml.pre = "smollm"`; see [`pretokenize`]).
//!
//! Special tokens (control, user-defined) in the text become their ids when
//! asked to (`parse_special`), as llama.cpp's `tokenizer_st_partition`.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use crate::error::{Error, Result};
use crate::io::gguf::{GgufFile, Value};
use crate::io::source::ByteSource;

/// llama.cpp's `llama_token_type` values in `tokenizer.ggml.token_type`.
const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;
const TYPE_BYTE: i64 = 6;

enum Kind {
    /// SentencePiece: merges ranked by the merged token's score.
    Spm,
    /// Byte-level BPE: `(left id, right id) -> (rank, merged id)`.
    Bpe {
        merges: HashMap<(u32, u32), (u32, u32)>,
    },
}

/// A vocabulary and how to split text into it.
pub struct Tokenizer {
    kind: Kind,
    /// (vocab_size,) token texts as stored (`▁` for space, byte-level
    /// characters for BPE).
    tokens: Vec<String>,
    /// (vocab_size,) SentencePiece scores (0 for BPE).
    scores: Vec<f32>,
    /// (vocab_size,) llama.cpp token types.
    types: Vec<i64>,
    /// Token text to id.
    ids: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest text first.
    special: Vec<u32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// End of turn (`<|im_end|>` for ChatML models), also ends generation.
    pub eot: Option<u32>,
    /// Whether a prompt starts with BOS (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// SentencePiece's dummy space before the text.
    add_space_prefix: bool,
}

impl Tokenizer {
    /// Read the vocabulary from `tokenizer.ggml.*`. Errors name what is
    /// missing or not supported.
    pub fn from_gguf<S: ByteSource>(g: &GgufFile<S>) -> Result<Tokenizer> {
        let model = g
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| Error::Missing("tokenizer (tokenizer.ggml.model)".into()))?;
        let tokens: Vec<String> = array(g, "tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::format("GGUF", "tokenizer.ggml.tokens holds non-strings"))?;
        let n = tokens.len();
        let scores: Vec<f32> = match g.get("tokenizer.ggml.scores") {
            Some(Value::Array(_, v)) => {
                v.iter().map(|s| s.as_f64().unwrap_or(0.0) as f32).collect()
            }
            _ => vec![0.0; n],
        };
        let types: Vec<i64> = match g.get("tokenizer.ggml.token_type") {
            Some(Value::Array(_, v)) => v.iter().map(int).collect(),
            _ => vec![1; n],
        };
        if scores.len() != n || types.len() != n {
            return Err(Error::format(
                "GGUF",
                format!(
                    "tokenizer arrays differ in length: {n} tokens, {} scores, {} types",
                    scores.len(),
                    types.len()
                ),
            ));
        }
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let kind = match model {
            "llama" => Kind::Spm,
            "gpt2" => {
                let pre = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
                if !SUPPORTED_PRE.contains(&pre) {
                    return Err(Error::Missing(format!(
                        "supported pre-tokenizer: {pre:?} (webquant knows {SUPPORTED_PRE:?})"
                    )));
                }
                let mut merges = HashMap::new();
                for (rank, m) in array(g, "tokenizer.ggml.merges")?.iter().enumerate() {
                    let m = m.as_str().unwrap_or("");
                    let Some((l, r)) = m.split_once(' ') else {
                        continue;
                    };
                    if let (Some(&a), Some(&b), Some(&ab)) =
                        (ids.get(l), ids.get(r), ids.get(&format!("{l}{r}")))
                    {
                        merges.entry((a, b)).or_insert((rank as u32, ab));
                    }
                }
                Kind::Bpe { merges }
            }
            other => {
                return Err(Error::Missing(format!(
                    "supported tokenizer: tokenizer.ggml.model is {other:?} (webquant reads \"llama\" and \"gpt2\")"
                )))
            }
        };
        let id = |k: &str| {
            g.get_u64(&format!("tokenizer.ggml.{k}"))
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| (v as usize) < n)
        };
        let flag = |k: &str, default: bool| match g.get(&format!("tokenizer.ggml.{k}")) {
            Some(Value::Bool(b)) => *b,
            _ => default,
        };
        let mut special: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                matches!(
                    types[i as usize],
                    TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN
                )
            })
            .collect();
        special.sort_by_key(|&i| Reverse(tokens[i as usize].len()));
        let is_spm = matches!(kind, Kind::Spm);
        let eot = id("eot_token_id").or_else(|| ids.get("<|im_end|>").copied());
        Ok(Tokenizer {
            kind,
            bos: id("bos_token_id"),
            eos: id("eos_token_id"),
            eot,
            add_bos: flag("add_bos_token", is_spm),
            add_space_prefix: flag("add_space_prefix", is_spm),
            tokens,
            scores,
            types,
            ids,
            special,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// A token's text as stored.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Whether `id` ends generation (end of sequence or end of turn).
    pub fn is_end(&self, id: u32) -> bool {
        Some(id) == self.eos || Some(id) == self.eot
    }

    /// Token ids of `text`, with BOS first if `add_special` and the model
    /// adds one; `parse_special` turns control-token texts into their ids.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let mut prev_special = true;
        for frag in self.partition(text, parse_special) {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(t) => {
                    match &self.kind {
                        Kind::Spm => {
                            let mut s = String::with_capacity(t.len() + 3);
                            if self.add_space_prefix && prev_special {
                                s.push(' ');
                            }
                            s.push_str(t);
                            self.spm(&s.replace(' ', "\u{2581}"), &mut out);
                        }
                        Kind::Bpe { merges } => {
                            for word in pretokenize(t) {
                                self.bpe_word(merges, word, &mut out);
                            }
                        }
                    }
                    prev_special = false;
                }
            }
        }
        out
    }

    /// The bytes token `id` stands for. Control tokens decode to nothing;
    /// after BOS a SentencePiece piece loses its leading space (as llama2.c
    /// and llama.cpp print them).
    pub fn decode_piece(&self, prev: Option<u32>, id: u32) -> Vec<u8> {
        let i = id as usize;
        let (Some(text), Some(&ty)) = (self.tokens.get(i), self.types.get(i)) else {
            return Vec::new();
        };
        if matches!(ty, TYPE_CONTROL | TYPE_UNKNOWN) {
            return Vec::new();
        }
        match self.kind {
            Kind::Spm => {
                if ty == TYPE_BYTE {
                    if let Some(b) = parse_byte_token(text) {
                        return vec![b];
                    }
                }
                let s = text.replace('\u{2581}', " ");
                let s = match (prev, s.strip_prefix(' ')) {
                    (Some(p), Some(rest)) if Some(p) == self.bos && self.add_space_prefix => rest,
                    _ => &s,
                };
                s.as_bytes().to_vec()
            }
            Kind::Bpe { .. } => {
                if ty == TYPE_USER_DEFINED {
                    return text.as_bytes().to_vec();
                }
                text.chars().filter_map(unicode_to_byte).collect()
            }
        }
    }

    /// Text of a whole sequence (invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        let mut prev = None;
        for &id in ids {
            bytes.extend(self.decode_piece(prev, id));
            prev = Some(id);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Split `text` at special-token texts, longest tokens first.
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        // Empty text has no fragment (no SentencePiece dummy space either).
        let mut frags = if text.is_empty() {
            Vec::new()
        } else {
            vec![Fragment::Text(text)]
        };
        for &id in &self.special {
            let ty = self.types[id as usize];
            if !parse_special && ty != TYPE_USER_DEFINED {
                continue;
            }
            let pat = self.tokens[id as usize].as_str();
            if pat.is_empty() {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len());
            for f in frags {
                match f {
                    Fragment::Text(t) if t.contains(pat) => {
                        let mut rest = t;
                        while let Some(at) = rest.find(pat) {
                            if at > 0 {
                                next.push(Fragment::Text(&rest[..at]));
                            }
                            next.push(Fragment::Token(id));
                            rest = &rest[at + pat.len()..];
                        }
                        if !rest.is_empty() {
                            next.push(Fragment::Text(rest));
                        }
                    }
                    other => next.push(other),
                }
            }
            frags = next;
        }
        frags
    }

    /// SentencePiece merge of `text` (spaces already `▁`): characters merge
    /// while some adjacent pair forms a token, best score first (leftmost
    /// on ties); characters left without a token become byte tokens.
    fn spm(&self, text: &str, out: &mut Vec<u32>) {
        let spans = merge(text, |a, b| {
            let id = *self.ids.get(&text[a.0..b.1])?;
            Some(Rank::Score(self.scores[id as usize]))
        });
        for (s, e) in spans {
            let piece = &text[s..e];
            if let Some(&id) = self.ids.get(piece) {
                out.push(id);
                continue;
            }
            for b in piece.bytes() {
                let byte_tok = format!("<0x{b:02X}>");
                if let Some(&id) = self.ids.get(&byte_tok) {
                    out.push(id);
                }
            }
        }
    }

    /// Byte-level BPE of one pre-tokenized word: bytes become GPT-2's
    /// printable characters, then the lowest-ranked merge applies first.
    fn bpe_word(&self, merges: &HashMap<(u32, u32), (u32, u32)>, word: &str, out: &mut Vec<u32>) {
        let mapped: String = word.bytes().map(byte_to_unicode).collect();
        let spans = merge(&mapped, |a, b| {
            let l = *self.ids.get(&mapped[a.0..a.1])?;
            let r = *self.ids.get(&mapped[b.0..b.1])?;
            merges.get(&(l, r)).map(|&(rank, _)| Rank::Merge(rank))
        });
        for (s, e) in spans {
            let piece = &mapped[s..e];
            if let Some(&id) = self.ids.get(piece) {
                out.push(id);
            } else {
                // As llama.cpp: fall back to the piece's single characters.
                for (i, c) in piece.char_indices() {
                    if let Some(&id) = self.ids.get(&piece[i..i + c.len_utf8()]) {
                        out.push(id);
                    }
                }
            }
        }
    }
}

/// Pre-tokenizers of `tokenizer.ggml.pre` that [`pretokenize`] implements.
pub const SUPPORTED_PRE: &[&str] = &["smollm", "gpt-2", "default"];

enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// Merge priority: SentencePiece prefers higher scores, BPE lower ranks.
#[derive(Clone, Copy, PartialEq)]
enum Rank {
    Score(f32),
    Merge(u32),
}

impl Rank {
    /// Greater is merged first.
    fn cmp(&self, other: &Rank) -> Ordering {
        match (self, other) {
            (Rank::Score(a), Rank::Score(b)) => a.total_cmp(b),
            (Rank::Merge(a), Rank::Merge(b)) => b.cmp(a),
            _ => Ordering::Equal,
        }
    }
}

struct Bigram {
    rank: Rank,
    left: usize,
    right: usize,
    /// Bytes the pair covered when queued; a different size means stale.
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Best rank first, then the leftmost pair (as llama.cpp's queues).
    fn cmp(&self, o: &Self) -> Ordering {
        self.rank.cmp(&o.rank).then(o.left.cmp(&self.left))
    }
}

/// Repeatedly merge the best-ranked adjacent pair of symbols (UTF-8
/// characters at first) with a priority queue and a linked list, as
/// llama.cpp's SPM and BPE sessions do. `rank(left, right)` gives the
/// priority of merging two byte spans, `None` if they do not merge.
/// Returns the final symbols as byte spans of `text`.
fn merge(
    text: &str,
    rank: impl Fn((usize, usize), (usize, usize)) -> Option<Rank>,
) -> Vec<(usize, usize)> {
    // (start, end, prev, next) per symbol; `end == start` marks a merged-away one.
    let mut sym: Vec<(usize, usize, usize, usize)> = text
        .char_indices()
        .enumerate()
        .map(|(i, (s, c))| (s, s + c.len_utf8(), i.wrapping_sub(1), i + 1))
        .collect();
    let n = sym.len();
    let mut queue = BinaryHeap::new();
    let push = |queue: &mut BinaryHeap<Bigram>,
                sym: &[(usize, usize, usize, usize)],
                l: usize,
                r: usize| {
        if l >= n || r >= n {
            return;
        }
        if let Some(rk) = rank((sym[l].0, sym[l].1), (sym[r].0, sym[r].1)) {
            queue.push(Bigram {
                rank: rk,
                left: l,
                right: r,
                size: sym[r].1 - sym[l].0,
            });
        }
    };
    for i in 1..n {
        push(&mut queue, &sym, i - 1, i);
    }
    while let Some(b) = queue.pop() {
        let (l, r) = (sym[b.left], sym[b.right]);
        if l.0 == l.1 || r.0 == r.1 || r.1 - l.0 != b.size || l.3 != b.right {
            continue;
        }
        sym[b.left].1 = r.1;
        sym[b.left].3 = r.3;
        sym[b.right].1 = sym[b.right].0;
        if r.3 < n {
            sym[r.3].2 = b.left;
        }
        push(&mut queue, &sym, l.2, b.left);
        push(&mut queue, &sym, b.left, r.3);
    }
    sym.iter()
        .filter(|s| s.0 != s.1)
        .map(|s| (s.0, s.1))
        .collect()
}

/// `<0xAB>` → 0xAB.
fn parse_byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

fn array<'a, S: ByteSource>(g: &'a GgufFile<S>, key: &str) -> Result<&'a [Value]> {
    g.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Missing(format!("tokenizer ({key})")))
}

fn int(v: &Value) -> i64 {
    match *v {
        Value::I32(x) => x.into(),
        Value::I64(x) => x,
        _ => v.as_u64().map_or(0, |x| x as i64),
    }
}

/// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the rest
/// to U+0100 upwards in byte order.
fn byte_to_unicode(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let k = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + k).unwrap_or('\u{FFFD}')
}

fn unicode_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 256 {
        let b = cp as u8;
        return (byte_to_unicode(b) == c).then_some(b);
    }
    let k = cp - 256;
    (0u8..=255)
        .filter(|&x| !matches!(x, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF))
        .nth(k as usize)
}

/// llama.cpp's character classes for pre-tokenizing (`unicode_cpt_flags`).
/// Rust's `is_alphabetic` is Unicode's Alphabetic property: the letters
/// (L*) plus letter numbers (Nl, which `is_numeric` catches first) and
/// some combining marks (Other_Alphabetic), where llama.cpp has marks as
/// "other"; text with such marks (Indic scripts) may split differently.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_numeric() {
        Class::Number
    } else if c.is_alphabetic() {
        Class::Letter
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// SmolLM2's pre-tokenizer ("smollm"; GPT-2's, digits first split one by
/// one): llama.cpp runs the regex `\p{N}` and then
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// hand-written here as llama.cpp's `unicode_regex_split_custom_gpt2`.
pub fn pretokenize(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    // First pass: every number character is its own piece.
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if class(c) == Class::Number {
            if start < i {
                gpt2_split(&text[start..i], &mut out);
            }
            out.push(&text[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        gpt2_split(&text[start..], &mut out);
    }
    out
}

fn gpt2_split<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let cls = |i: usize| at(i).map(class);
    let byte = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut pos = 0;
    let emit = |from: usize, to: usize, out: &mut Vec<&'a str>| {
        if to > from {
            out.push(&text[byte(from)..byte(to)]);
        }
    };
    while pos < n {
        let c = chars[pos].1;
        // 's|'t|'re|'ve|'m|'ll|'d
        if c == '\'' && pos + 1 < n {
            let c1 = at(pos + 1);
            if matches!(c1, Some('s' | 't' | 'm' | 'd')) {
                emit(pos, pos + 2, out);
                pos += 2;
                continue;
            }
            if matches!(
                (c1, at(pos + 2)),
                (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
            ) {
                emit(pos, pos + 3, out);
                pos += 3;
                continue;
            }
        }
        let start = pos;
        let lead = if c == ' ' { cls(pos + 1) } else { cls(pos) };
        match lead {
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            Some(k @ (Class::Letter | Class::Number | Class::Other)) => {
                pos += usize::from(c == ' ');
                while cls(pos) == Some(k) {
                    pos += 1;
                }
                emit(start, pos, out);
            }
            _ => {
                let mut ws = 0;
                while cls(pos + ws) == Some(Class::Space) {
                    ws += 1;
                }
                if ws > 1 && pos + ws < n {
                    // `\s+(?!\S)`: leave the last space to the next word.
                    pos += ws - 1;
                } else if ws > 0 {
                    pos += ws;
                } else {
                    pos += 1;
                }
                emit(start, pos, out);
            }
        }
    }
}

/// A ChatML conversation (`<|im_start|>role\ncontent<|im_end|>\n` per
/// message), as llama.cpp formats templates it detects as ChatML; with
/// `add_assistant` it ends with the assistant's opening for generation.
pub fn chatml(messages: &[(&str, &str)], add_assistant: bool) -> String {
    let mut s = String::new();
    for (role, content) in messages {
        s.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
    }
    if add_assistant {
        s.push_str("<|im_start|>assistant\n");
    }
    s
}
