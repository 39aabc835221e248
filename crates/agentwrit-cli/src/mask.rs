//! `--mask-output`: the token's text replaced in a byte stream, also when
//! it is split across reads.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What a masked token becomes.
pub const MASK: &[u8] = b"<agentwrit-token>";

/// The texts to mask: every token issued during the run (renewals add to
/// it; an old token stays masked).
#[derive(Clone, Default)]
pub struct Secrets(Arc<Mutex<Vec<Vec<u8>>>>);

impl Secrets {
    /// Adds a text to mask.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|s| s == secret.as_bytes()) {
            list.push(secret.as_bytes().to_vec());
        }
    }

    fn snapshot(&self) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A stream filter: whatever is fed comes out with every secret replaced;
/// a tail that could be the start of a secret is held back until the next
/// read shows it is not (or the stream ends).
pub struct Masker {
    secrets: Secrets,
    pending: Vec<u8>,
}

impl Masker {
    /// A filter for `secrets`.
    pub fn new(secrets: Secrets) -> Self {
        Masker {
            secrets,
            pending: Vec::new(),
        }
    }

    /// Feeds `chunk`; returns what can be written now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let secrets = self.secrets.snapshot();
        let replaced = replace_all(&self.pending, &secrets);
        let hold = held_tail(&replaced, &secrets);
        let cut = replaced.len() - hold;
        self.pending = replaced[cut..].to_vec();
        replaced[..cut].to_vec()
    }

    /// The stream ended: the rest.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        replace_all(&rest, &self.secrets.snapshot())
    }
}

fn replace_all(text: &[u8], secrets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < text.len() {
        for s in secrets {
            if text[i..].starts_with(s) {
                out.extend_from_slice(MASK);
                i += s.len();
                continue 'scan;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// The length of the longest tail of `text` that is a proper prefix of a
/// secret.
fn held_tail(text: &[u8], secrets: &[Vec<u8>]) -> usize {
    let longest = secrets.iter().map(Vec::len).max().unwrap_or(0);
    (1..longest.min(text.len() + 1))
        .rev()
        .find(|&n| {
            let tail = &text[text.len() - n..];
            secrets.iter().any(|s| s.len() > n && s.starts_with(tail))
        })
        .unwrap_or(0)
}

/// Copies `from` to `to` through a [`Masker`] until `from` ends.
pub async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    secrets: Secrets,
) -> std::io::Result<()> {
    let mut masker = Masker::new(secrets);
    let mut buf = vec![0u8; 8192];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let out = masker.feed(&buf[..n]);
        to.write_all(&out).await?;
        to.flush().await?;
    }
    to.write_all(&masker.finish()).await?;
    to.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(secrets: &[&str]) -> Masker {
        let list = Secrets::default();
        for s in secrets {
            list.add(s);
        }
        Masker::new(list)
    }

    #[test]
    fn replaces_whole_tokens() {
        let mut m = masker(&["eyJabc.def.ghi"]);
        let mut out = m.feed(b"token=eyJabc.def.ghi end\n");
        out.extend(m.finish());
        assert_eq!(out, b"token=<agentwrit-token> end\n");
    }

    #[test]
    fn replaces_tokens_split_across_reads_at_every_point() {
        let text = b"a eyJabc.def.ghi b eyJabc.def.ghi";
        for cut in 0..=text.len() {
            let mut m = masker(&["eyJabc.def.ghi"]);
            let mut out = m.feed(&text[..cut]);
            out.extend(m.feed(&text[cut..]));
            out.extend(m.finish());
            assert_eq!(
                out, b"a <agentwrit-token> b <agentwrit-token>",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn passes_other_text_at_once_and_holds_only_a_possible_prefix() {
        let mut m = masker(&["eyJabc"]);
        assert_eq!(m.feed(b"hello\n"), b"hello\n");
        assert_eq!(m.feed(b"x ey"), b"x ");
        assert_eq!(m.feed(b"Q"), b"eyQ");
        assert_eq!(m.finish(), b"");
    }

    #[test]
    fn masks_old_and_new_tokens() {
        let secrets = Secrets::default();
        secrets.add("old-token");
        let mut m = Masker::new(secrets.clone());
        secrets.add("new-token");
        let mut out = m.feed(b"old-token new-token");
        out.extend(m.finish());
        assert_eq!(out, b"<agentwrit-token> <agentwrit-token>");
    }
}
