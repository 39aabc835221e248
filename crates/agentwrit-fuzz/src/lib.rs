//! A fuzzing harness for stable Rust: every parser, decoder and flow of
//! the SDK fed millions of arbitrary and mutated inputs, each run under
//! `catch_unwind`, so a panic anywhere is found and reported with the
//! input that caused it.
//!
//! cargo-fuzz needs a nightly toolchain and a sanitizer runtime; this
//! harness needs neither, which is what lets CI run it on a fresh
//! machine. Inputs come from a seeded generator (reproducible: the seed
//! and the input index name every input) that mixes random bytes with
//! mutations and splices of a seed corpus taken from the real broker's
//! captured responses (`corpus/`).
//!
//! Targets:
//!
//! | target | what runs |
//! |---|---|
//! | `scope` | `Scope::parse`, `covers`, `scope_is_subset`, `first_invalid`, with consistency checks |
//! | `wire` | every response body decoder of `agentwrit-wire`, the ProblemDetail, timestamps, audit queries |
//! | `claims` | `decode_claims` and `TokenVerifier::verify` on arbitrary tokens |
//! | `flows` | every core flow, driven to its end by a sequence of arbitrary responses and transport failures |
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod targets;

use std::path::Path;

pub use targets::{TARGETS, Target};

/// splitmix64: small, fast, good enough to pick mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Byte strings that tend to matter to JSON, JWT and scope parsers.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"*",
    b"::",
    b".",
    b"..",
    b"eyJ",
    b"\"scope\":",
    b"\"exp\":",
    b"\"access_token\":",
    b"\"expires_in\":",
    b"\xff\xfe",
    b"\n",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"\"\"",
    b"=",
    b"%",
    b"\t",
];

/// Builds the `index`-th input of a run from the corpus.
pub fn generate(rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    if corpus.is_empty() || rng.chance(8) {
        let len = rng.below(200);
        out.extend((0..len).map(|_| rng.next_u64() as u8));
        return;
    }
    out.extend_from_slice(&corpus[rng.below(corpus.len())]);
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate(rng, corpus, out);
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    let len = out.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            out[i] = [0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'.', b':'][rng.below(8)];
        }
        2 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(16)).min(len);
            out.drain(start..end);
        }
        3 => {
            let at = rng.below(len + 1);
            let token = TOKENS[rng.below(TOKENS.len())];
            out.splice(at..at, token.iter().copied());
        }
        4 if len > 0 => out.truncate(rng.below(len)),
        5 if len > 1 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(32)).min(len);
            let chunk: Vec<u8> = out[start..end].to_vec();
            let at = rng.below(out.len() + 1);
            out.splice(at..at, chunk);
        }
        6 => {
            let other = &corpus[rng.below(corpus.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let cut = rng.below(out.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
        }
        7 if len > 0 => {
            // Replace a digit run's digit with another digit.
            let i = rng.below(len);
            if out[i].is_ascii_digit() {
                out[i] = b'0' + rng.below(10) as u8;
            }
        }
        _ => {
            let at = rng.below(len + 1);
            out.insert(at, rng.next_u64() as u8);
        }
    }
}

/// The seed corpus of `target`: the files in `corpus/<target>/`.
pub fn load_corpus(dir: &Path, target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(target))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// The outcome of running one target.
#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub seconds: f64,
    /// The first input that panicked, with the panic message.
    pub panic: Option<(u64, Vec<u8>, String)>,
}

/// Runs `target` on `inputs` generated inputs (or until `deadline`).
pub fn run(
    target: &Target,
    corpus: &[Vec<u8>],
    seed: u64,
    inputs: u64,
    deadline: Option<std::time::Instant>,
) -> Report {
    let started = std::time::Instant::now();
    let mut rng = Rng::new(seed);
    let mut input = Vec::with_capacity(4096);
    let mut done = 0;
    // Corpus entries first, as they are.
    for entry in corpus {
        if let Err(message) = guarded(target, entry) {
            return report(target, done, started, Some((done, entry.clone(), message)));
        }
        done += 1;
    }
    while done < inputs {
        if done % 4096 == 0 && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            break;
        }
        generate(&mut rng, corpus, &mut input);
        if let Err(message) = guarded(target, &input) {
            return report(target, done, started, Some((done, input, message)));
        }
        done += 1;
    }
    report(target, done, started, None)
}

fn report(
    target: &Target,
    inputs: u64,
    started: std::time::Instant,
    panic: Option<(u64, Vec<u8>, String)>,
) -> Report {
    Report {
        target: target.name,
        inputs,
        seconds: started.elapsed().as_secs_f64(),
        panic,
    }
}

fn guarded(target: &Target, input: &[u8]) -> Result<(), String> {
    std::panic::catch_unwind(|| (target.run)(input)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned())
    })
}
