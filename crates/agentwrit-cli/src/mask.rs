//! `--mask-output`: the token's text replaced in a byte stream, also when
//! it is split across reads.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

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

/// How long a held-back tail that could start a secret waits for more
/// output before it is written anyway (an interactive prompt, a progress
/// line without a newline).
pub const IDLE_FLUSH: std::time::Duration = std::time::Duration::from_millis(100);

/// A stream filter: whatever is fed comes out with every secret replaced;
/// a tail that could be the start of a secret is held back until the next
/// read shows it is not, the stream ends, or the stream goes idle
/// ([`Masker::flush_idle`]).
pub struct Masker {
    secrets: Secrets,
    pending: Vec<u8>,
    /// After an idle flush of a held tail: the secrets it began and how
    /// much of them was written, so that the rest is masked if it follows.
    partial: Option<Partial>,
}

struct Partial {
    candidates: Vec<Vec<u8>>,
    matched: usize,
    masked: bool,
}

impl Masker {
    /// A filter for `secrets`.
    pub fn new(secrets: Secrets) -> Self {
        Masker {
            secrets,
            pending: Vec::new(),
            partial: None,
        }
    }

    /// Whether a tail is held back.
    pub fn holding(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Feeds `chunk`; returns what can be written now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let chunk = self.continue_partial(chunk, &mut out);
        self.pending.extend_from_slice(chunk);
        let secrets = self.secrets.snapshot();
        let replaced = replace_all(&self.pending, &secrets);
        let hold = held_tail(&replaced, &secrets);
        let cut = replaced.len() - hold;
        self.pending = replaced[cut..].to_vec();
        out.extend_from_slice(&replaced[..cut]);
        out
    }

    /// The stream has been idle: writes the held tail. A tail that goes
    /// past a JWT's first segment (its public header) is written as the
    /// mask; either way, if the rest of the secret follows, it is masked.
    pub fn flush_idle(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.pending);
        if held.is_empty() {
            return held;
        }
        let candidates: Vec<Vec<u8>> = self
            .secrets
            .snapshot()
            .into_iter()
            .filter(|s| s.len() > held.len() && s.starts_with(&held))
            .collect();
        let masked = held.contains(&b'.');
        let out = if masked { MASK.to_vec() } else { held.clone() };
        if !candidates.is_empty() {
            self.partial = Some(Partial {
                candidates,
                matched: held.len(),
                masked,
            });
        }
        out
    }

    /// After an idle flush: swallows what continues the secret that was
    /// begun (writing the mask once); the rest of `chunk` goes on.
    fn continue_partial<'c>(&mut self, chunk: &'c [u8], out: &mut Vec<u8>) -> &'c [u8] {
        let Some(mut partial) = self.partial.take() else {
            return chunk;
        };
        let mut best: Option<(usize, bool)> = None;
        for secret in &partial.candidates {
            let rest = &secret[partial.matched..];
            let common = rest.iter().zip(chunk).take_while(|(a, b)| a == b).count();
            let complete = common == rest.len();
            if common > 0 && best.is_none_or(|(n, _)| common > n) {
                best = Some((common, complete));
            }
        }
        let Some((taken, complete)) = best else {
            return chunk;
        };
        if !partial.masked {
            out.extend_from_slice(MASK);
            partial.masked = true;
        }
        if !complete && taken == chunk.len() {
            let matched = partial.matched;
            partial.candidates.retain(|s| {
                s.len() > matched + taken && s[matched..matched + taken] == chunk[..taken]
            });
            partial.matched += taken;
            self.partial = Some(partial);
        }
        &chunk[taken..]
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

/// Where a child's output is read from.
pub enum Source {
    /// A pipe (the wrapper's stream is not a terminal).
    Pipe(tokio::net::unix::pipe::Receiver),
    /// A pseudo-terminal's master side (non-blocking).
    Pty(tokio::net::unix::pipe::Receiver),
}

impl Source {
    /// Reads what is there; 0 at the end (for a pseudo-terminal: EIO
    /// once the child's side is closed everywhere).
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use tokio::io::AsyncReadExt as _;
        match self {
            Source::Pipe(pipe) => pipe.read(buf).await,
            Source::Pty(master) => match master.read(buf).await {
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => Ok(0),
                other => other,
            },
        }
    }
}

/// Copies `from` to `to` through a [`Masker`] until `from` ends. A held
/// tail is written after [`IDLE_FLUSH`] without more output. If `to`
/// fails (a closed pipe, a hung-up terminal), the output is still read
/// and dropped, so the child never blocks on a full pipe.
pub async fn pump(mut from: Source, mut to: impl AsyncWrite + Unpin, secrets: Secrets) {
    let mut masker = Masker::new(secrets);
    let mut buf = vec![0u8; 8192];
    let mut sink_ok = true;
    loop {
        let read = if masker.holding() {
            match tokio::time::timeout(IDLE_FLUSH, from.read(&mut buf)).await {
                Ok(read) => read,
                Err(_idle) => {
                    let out = masker.flush_idle();
                    sink_ok = sink_ok && write(&mut to, &out).await;
                    continue;
                }
            }
        } else {
            from.read(&mut buf).await
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let out = masker.feed(&buf[..n]);
                if sink_ok {
                    sink_ok = write(&mut to, &out).await;
                }
            }
        }
    }
    let out = masker.finish();
    if sink_ok {
        write(&mut to, &out).await;
    }
}

async fn write(to: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return true;
    }
    to.write_all(bytes).await.is_ok() && to.flush().await.is_ok()
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
    fn an_idle_flush_writes_a_held_header_and_masks_the_rest_when_it_follows() {
        let token = "eyJhbGciOi.payload.signature";
        let mut m = masker(&[token]);
        assert_eq!(m.feed(b"prompt> eyJhb"), b"prompt> ");
        assert!(m.holding());
        assert_eq!(
            m.flush_idle(),
            b"eyJhb",
            "a public header prefix is written as is"
        );
        assert!(!m.holding());
        let mut out = m.feed(b"GciOi.payl");
        out.extend(m.feed(b"oad.signature done\n"));
        out.extend(m.finish());
        assert_eq!(out, b"<agentwrit-token> done\n");
    }

    #[test]
    fn an_idle_flush_past_the_header_writes_the_mask() {
        let token = "eyJhbGciOi.payload.signature";
        let mut m = masker(&[token]);
        assert_eq!(m.feed(b"eyJhbGciOi.pay"), b"");
        assert_eq!(m.flush_idle(), b"<agentwrit-token>");
        let mut out = m.feed(b"load.signature!");
        out.extend(m.finish());
        assert_eq!(out, b"!", "the rest of the token is swallowed");
    }

    #[test]
    fn an_idle_flush_of_something_else_loses_nothing() {
        let mut m = masker(&["eyJhbGciOi.payload.signature"]);
        assert_eq!(m.feed(b"key"), b"k");
        assert_eq!(m.flush_idle(), b"ey");
        let mut out = m.feed(b"board\n");
        out.extend(m.finish());
        assert_eq!(out, b"board\n");
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
