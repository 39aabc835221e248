//! The AgentWrit broker's scope model, exactly as the broker decides it.
//!
//! A scope is a string `action:resource:identifier`, for example
//! `read:data:customer-7291`. This crate answers the one question every
//! AgentWrit participant asks: *is what I need covered by what I hold?*
//!
//! It is `#![no_std]`, has no dependencies and never allocates, so a
//! downstream validator can embed it alone.
//!
//! # The rules (the broker's, byte for byte)
//!
//! * A scope is split on its **first two** colons only: in
//!   `read:file:/srv/a:b` the identifier is `/srv/a:b`.
//! * All three parts must be non-empty. A scope that is not of this form is
//!   *invalid*: it covers nothing and is covered by nothing, **not even by
//!   itself**.
//! * An allowed scope `A` covers a requested scope `R` when both are valid,
//!   the actions are equal, the resources are equal, and the identifiers are
//!   equal or `A`'s identifier is exactly `*`.
//! * `*` only has a meaning in the identifier slot. In the action or resource
//!   slot it is a literal character: `read:*:x` covers `read:*:x` and nothing
//!   else, and `*:data:x` never covers `read:data:x`.
//! * A required *set* is a subset of a held set when every required scope is
//!   covered by some held scope. The empty set is a subset of everything,
//!   including the empty set; duplicates make no difference.
//!
//! Comparison is exact and byte-wise: no case folding, no trimming, no
//! Unicode normalisation.
//!
//! # Example
//!
//! ```
//! use agentwrit_scope::{scope_is_subset, Scope};
//!
//! let held = ["read:data:*", "write:data:order-4823"];
//! assert!(scope_is_subset(&["read:data:customer-7291"], &held));
//! assert!(!scope_is_subset(&["write:data:order-0000"], &held));
//!
//! let scope = Scope::parse("read:file:/srv/a:b")?;
//! assert_eq!(scope.identifier(), "/srv/a:b");
//! assert!(Scope::parse("read:file:*")?.covers(&scope));
//! # Ok::<(), agentwrit_scope::ScopeError>(())
//! ```
//!
//! Parse errors say what is wrong:
//!
//! ```
//! use agentwrit_scope::{Scope, ScopeError};
//!
//! assert_eq!(Scope::parse("read:data:"), Err(ScopeError::EmptyIdentifier));
//! assert_eq!(Scope::parse("read"), Err(ScopeError::MissingSeparator));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(rustdoc::broken_intra_doc_links)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use core::fmt;

/// The wildcard identifier: an allowed scope whose identifier is exactly
/// this string covers every identifier of the same action and resource.
pub const WILDCARD: &str = "*";

/// A borrowed, validated view of one `action:resource:identifier` scope.
///
/// Obtained with [`Scope::parse`]; it borrows the input and costs three
/// string slices.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope<'a> {
    raw: &'a str,
    action: &'a str,
    resource: &'a str,
    identifier: &'a str,
}

impl<'a> Scope<'a> {
    /// Parses `s` as `action:resource:identifier`.
    ///
    /// The string is split on its first two colons; the identifier keeps any
    /// further colons. Each part must be non-empty.
    ///
    /// # Errors
    ///
    /// A [`ScopeError`] naming the first problem found, checked in this
    /// order: empty input, no colon at all, only one colon, then an empty
    /// action, resource or identifier.
    pub fn parse(s: &'a str) -> Result<Self, ScopeError> {
        if s.is_empty() {
            return Err(ScopeError::Empty);
        }
        let Some((action, rest)) = s.split_once(':') else {
            return Err(ScopeError::MissingSeparator);
        };
        let Some((resource, identifier)) = rest.split_once(':') else {
            return Err(ScopeError::MissingIdentifier);
        };
        if action.is_empty() {
            return Err(ScopeError::EmptyAction);
        }
        if resource.is_empty() {
            return Err(ScopeError::EmptyResource);
        }
        if identifier.is_empty() {
            return Err(ScopeError::EmptyIdentifier);
        }
        Ok(Scope {
            raw: s,
            action,
            resource,
            identifier,
        })
    }

    /// The whole scope string, as given to [`Scope::parse`].
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The action part (before the first colon), e.g. `read`.
    #[must_use]
    pub const fn action(&self) -> &'a str {
        self.action
    }

    /// The resource part (between the first and second colon), e.g. `data`.
    #[must_use]
    pub const fn resource(&self) -> &'a str {
        self.resource
    }

    /// The identifier part (after the second colon; may contain colons).
    #[must_use]
    pub const fn identifier(&self) -> &'a str {
        self.identifier
    }

    /// True when the identifier is exactly `*`, so this scope covers every
    /// identifier of its action and resource.
    #[must_use]
    pub fn is_wildcard(&self) -> bool {
        self.identifier == WILDCARD
    }

    /// True when this (allowed) scope covers `requested`: same action, same
    /// resource, and the same identifier or this scope's identifier is `*`.
    ///
    /// ```
    /// use agentwrit_scope::Scope;
    /// let allowed = Scope::parse("read:data:*")?;
    /// assert!(allowed.covers(&Scope::parse("read:data:customer-7291")?));
    /// assert!(!allowed.covers(&Scope::parse("write:data:customer-7291")?));
    /// # Ok::<(), agentwrit_scope::ScopeError>(())
    /// ```
    #[must_use]
    pub fn covers(&self, requested: &Scope<'_>) -> bool {
        self.action == requested.action
            && self.resource == requested.resource
            && (self.identifier == requested.identifier || self.identifier == WILDCARD)
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&self.raw).finish()
    }
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

impl<'a> TryFrom<&'a str> for Scope<'a> {
    type Error = ScopeError;

    fn try_from(s: &'a str) -> Result<Self, Self::Error> {
        Scope::parse(s)
    }
}

/// What is wrong with a scope string that is not `action:resource:identifier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScopeError {
    /// The scope is the empty string.
    Empty,
    /// The scope contains no colon at all.
    MissingSeparator,
    /// The scope contains only one colon, so it has no identifier part.
    MissingIdentifier,
    /// The action (before the first colon) is empty.
    EmptyAction,
    /// The resource (between the first and second colon) is empty.
    EmptyResource,
    /// The identifier (after the second colon) is empty.
    EmptyIdentifier,
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopeError::Empty => "scope is empty; expected action:resource:identifier",
            ScopeError::MissingSeparator => {
                "scope has no ':' separator; expected action:resource:identifier"
            }
            ScopeError::MissingIdentifier => {
                "scope has only one ':' separator; expected action:resource:identifier"
            }
            ScopeError::EmptyAction => {
                "scope has an empty action; expected action:resource:identifier"
            }
            ScopeError::EmptyResource => {
                "scope has an empty resource; expected action:resource:identifier"
            }
            ScopeError::EmptyIdentifier => {
                "scope has an empty identifier; expected action:resource:identifier"
            }
        })
    }
}

impl core::error::Error for ScopeError {}

/// True when `allowed` covers `requested`; false when either is invalid.
///
/// The string form of [`Scope::covers`], with the broker's rule that an
/// invalid scope covers nothing and is covered by nothing.
///
/// ```
/// assert!(agentwrit_scope::covers("read:data:*", "read:data:x"));
/// assert!(!agentwrit_scope::covers("read:data:", "read:data:"));
/// ```
#[must_use]
pub fn covers(allowed: &str, requested: &str) -> bool {
    match (Scope::parse(allowed), Scope::parse(requested)) {
        (Ok(a), Ok(r)) => a.covers(&r),
        _ => false,
    }
}

/// True when every scope in `required` is covered by some scope in `held`.
///
/// The broker's `ScopeIsSubset`: an empty `required` is a subset of
/// anything; an invalid scope on either side covers or is covered by
/// nothing. Generic over string-like slices, so `&[&str]`, `&[String]`,
/// `Vec<String>` (through deref) and arrays all work; it never allocates.
///
/// ```
/// use agentwrit_scope::scope_is_subset;
///
/// let held = vec![String::from("read:analytics:hospital"), String::from("write:reports:hospital")];
/// assert!(scope_is_subset(&["read:analytics:hospital"], &held));
/// assert!(!scope_is_subset(&["read:analytics:bank"], &held));
/// assert!(scope_is_subset::<&str, String>(&[], &held));
/// ```
#[must_use]
pub fn scope_is_subset<R, H>(required: &[R], held: &[H]) -> bool
where
    R: AsRef<str>,
    H: AsRef<str>,
{
    required.iter().all(|req| {
        let req = req.as_ref().as_bytes();
        let Some(prefix_len) = valid_prefix_len(req) else {
            return false;
        };
        let wanted = Wanted::new(req, prefix_len);
        held.iter()
            .any(|h| wanted.covered_by(h.as_ref().as_bytes()))
    })
}

/// A valid requested scope, ready to be compared with many held scopes.
///
/// A held scope covers a valid requested scope exactly when it is the same
/// string, or is the requested scope's `action:resource:` followed by `*`
/// (either implies the held scope is valid), so the held side is never
/// parsed. Identifiers mostly differ at their end (`customer-7291` against
/// `customer-7292`), so equal-length candidates are first compared on their
/// last eight bytes, loaded once for the requested scope.
struct Wanted<'a> {
    /// The requested scope.
    bytes: &'a [u8],
    /// Length of its `action:resource:` prefix.
    prefix_len: usize,
    /// Its last eight bytes as a word, when it has at least eight.
    tail: Option<u64>,
}

impl<'a> Wanted<'a> {
    #[inline]
    fn new(bytes: &'a [u8], prefix_len: usize) -> Self {
        Wanted {
            bytes,
            prefix_len,
            tail: last_word(bytes),
        }
    }

    /// True when the held scope `h` covers this requested scope.
    #[inline]
    fn covered_by(&self, h: &[u8]) -> bool {
        if h.len() == self.bytes.len() {
            let same = match self.tail {
                // Equal last words, then equal whole words from the start:
                // together they cover every byte.
                Some(tail) => last_word(h) == Some(tail) && same_words(h, self.bytes),
                None => h == self.bytes,
            };
            if same {
                return true;
            }
        }
        h.len() == self.prefix_len + WILDCARD.len()
            && h.last() == Some(&b'*')
            && h.get(..self.prefix_len) == self.bytes.get(..self.prefix_len)
    }
}

/// True when every whole eight-byte word of `a` from the start equals the
/// one of `b` at the same offset (for equal lengths: all but the last
/// `len % 8` bytes, which the caller compares through [`last_word`]).
#[inline]
fn same_words(a: &[u8], b: &[u8]) -> bool {
    a.chunks_exact(8)
        .zip(b.chunks_exact(8))
        .all(|(x, y)| x.first_chunk::<8>() == y.first_chunk::<8>())
}

/// The last eight bytes of `b` as a native-endian word; `None` when `b` is
/// shorter.
#[inline]
fn last_word(b: &[u8]) -> Option<u64> {
    b.last_chunk::<8>().map(|w| u64::from_ne_bytes(*w))
}

/// For a scope that [`Scope::parse`] accepts, the length of its
/// `action:resource:` prefix; `None` for one it rejects. A byte scan for the
/// two colons (ASCII, so always at char boundaries), cheaper than building
/// the [`Scope`].
#[inline]
fn valid_prefix_len(b: &[u8]) -> Option<usize> {
    let (first, second) = two_colons(b)?;
    // Non-empty action, resource and identifier.
    (first > 0 && second > first + 1 && second + 1 < b.len()).then_some(second + 1)
}

/// Eight copies of `:`.
const COLONS: u64 = u64::from_ne_bytes([b':'; 8]);
/// Eight copies of `0x7f`.
const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);

/// Positions of the first two `:` in `b`, scanning eight bytes at a time.
///
/// For each word, a byte of the mask has its high bit set exactly when the
/// byte is `:` (the per-byte sums cannot carry into a neighbour, so there are
/// no false positives); the lowest such byte is the first colon in it.
#[inline]
fn two_colons(b: &[u8]) -> Option<(usize, usize)> {
    let mut first: Option<usize> = None;
    let mut offset = 0;
    let mut words = b.chunks_exact(8);
    for chunk in words.by_ref() {
        let mut mask = colon_mask(chunk);
        while mask != 0 {
            let at = offset + (mask.trailing_zeros() / 8) as usize;
            match first {
                None => first = Some(at),
                Some(f) => return Some((f, at)),
            }
            mask &= mask - 1;
        }
        offset += 8;
    }
    for (i, &c) in words.remainder().iter().enumerate() {
        if c == b':' {
            match first {
                None => first = Some(offset + i),
                Some(f) => return Some((f, offset + i)),
            }
        }
    }
    None
}

/// One high bit per `:` byte of an eight-byte `chunk` (little-endian order,
/// so the lowest set bit is the first colon).
#[inline]
fn colon_mask(chunk: &[u8]) -> u64 {
    let Some(word) = chunk.first_chunk::<8>() else {
        return 0;
    };
    let x = u64::from_le_bytes(*word) ^ COLONS;
    // A byte of `x` is zero exactly when the byte was `:`; its high bit
    // after this is clear exactly then.
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Checks that every scope in `scopes` parses; on failure returns the index
/// of the first invalid scope and what is wrong with it.
///
/// Useful for rejecting bad input before it is sent to a broker.
///
/// ```
/// use agentwrit_scope::{first_invalid, ScopeError};
/// assert_eq!(first_invalid(&["read:data:x", "read:data"]), Some((1, ScopeError::MissingIdentifier)));
/// assert_eq!(first_invalid(&["read:data:x"]), None);
/// ```
#[must_use]
pub fn first_invalid<S: AsRef<str>>(scopes: &[S]) -> Option<(usize, ScopeError)> {
    scopes
        .iter()
        .enumerate()
        .find_map(|(i, s)| Scope::parse(s.as_ref()).err().map(|e| (i, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_prefix_len_agrees_with_parse() {
        for s in [
            "",
            ":",
            "::",
            "a::",
            ":b:c",
            "a:b:",
            "a:b",
            "a:b:c",
            "a:b:c:d",
            "read:data:*",
            "é:ü:ß",
            "a::c",
            "ab:cd:",
            "ab:cd:e",
        ] {
            let expected = Scope::parse(s)
                .ok()
                .map(|p| p.action().len() + p.resource().len() + 2);
            assert_eq!(valid_prefix_len(s.as_bytes()), expected, "{s:?}");
        }
    }

    /// The first two `:` by the obvious byte loop.
    fn naive_two_colons(b: &[u8]) -> Option<(usize, usize)> {
        let mut at = b
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b':')
            .map(|(i, _)| i);
        Some((at.next()?, at.next()?))
    }

    #[test]
    fn two_colons_agrees_with_a_byte_loop_at_every_position() {
        // Fillers next to `:` (0x3a) that could fool a word-at-a-time
        // scan: its neighbours, its high-bit twin, zero and 0xff.
        for filler in [b'a', b';', b'9', 0xba, 0x00, 0xff, 0x3b, 0x7f] {
            for len in 0..40 {
                for i in 0..=len {
                    for j in i..=len {
                        let mut b = [filler; 40];
                        let b = &mut b[..len];
                        if i < len {
                            b[i] = b':';
                        }
                        if j < len {
                            b[j] = b':';
                        }
                        assert_eq!(two_colons(b), naive_two_colons(b), "{filler:#x} {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_words_and_last_word_compare_every_byte() {
        let base = *b"read:data:customer-7291-and-some-more";
        for len in 8..base.len() {
            for k in 0..len {
                let a = &base[..len];
                let mut other = base;
                other[k] ^= 1;
                let b = &other[..len];
                assert!(
                    !(last_word(a) == last_word(b) && same_words(a, b)),
                    "byte {k} of {len} missed"
                );
                assert!(last_word(a) == last_word(a) && same_words(a, a));
            }
        }
    }

    #[test]
    fn parse_splits_on_first_two_colons() {
        let s = Scope::parse("a:b:c:d").unwrap();
        assert_eq!(
            (s.action(), s.resource(), s.identifier()),
            ("a", "b", "c:d")
        );
        assert_eq!(s.as_str(), "a:b:c:d");
    }
}

// The README's snippet, compiled as a doc test so it keeps matching the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_md {}
