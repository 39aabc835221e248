//! Property tests against an independent naive oracle.
//!
//! The case count defaults to 10 000 per property and can be raised with
//! `PROPTEST_CASES`.

use agentwrit_scope::{Scope, covers, scope_is_subset};
use proptest::prelude::*;

/// An independent, deliberately naive re-statement of the broker's rule,
/// written with allocation and `split`/`collect` rather than the crate's
/// slicing, so the two implementations share no code.
mod oracle {
    pub fn parse(s: &str) -> Option<(String, String, String)> {
        let mut parts: Vec<String> = Vec::new();
        let mut current = String::new();
        for ch in s.chars() {
            if ch == ':' && parts.len() < 2 {
                parts.push(std::mem::take(&mut current));
            } else {
                current.push(ch);
            }
        }
        parts.push(current);
        if parts.len() != 3 || parts.iter().any(String::is_empty) {
            return None;
        }
        let identifier = parts.pop()?;
        let resource = parts.pop()?;
        let action = parts.pop()?;
        Some((action, resource, identifier))
    }

    pub fn covers(allowed: &str, requested: &str) -> bool {
        match (parse(allowed), parse(requested)) {
            (Some(a), Some(r)) => a.0 == r.0 && a.1 == r.1 && (a.2 == r.2 || a.2 == "*"),
            _ => false,
        }
    }

    pub fn subset(required: &[String], held: &[String]) -> bool {
        let mut ok = true;
        for r in required {
            let mut found = false;
            for h in held {
                if covers(h, r) {
                    found = true;
                }
            }
            ok = ok && found;
        }
        ok
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A small alphabet so that collisions (equal parts, wildcards, empty
/// segments, extra colons) are frequent.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ab*]{0,2}",
        1 => "[a:*é]{0,3}",
        1 => Just(String::from("*")),
    ]
}

/// Scope-like strings: mostly three segments, sometimes fewer or more.
fn scope_like() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (segment(), segment(), segment()).prop_map(|(a, r, i)| format!("{a}:{r}:{i}")),
        1 => (segment(), segment()).prop_map(|(a, r)| format!("{a}:{r}")),
        1 => segment(),
        1 => ".{0,12}",
    ]
}

/// Scopes that are always valid.
fn valid_scope() -> impl Strategy<Value = String> {
    ("[ab]{1,2}", "[ab*]{1,2}", "[ab:*]{1,3}").prop_map(|(a, r, i)| format!("{a}:{r}:{i}"))
}

/// Longer scope-like strings (up to ~50 bytes), so the word-at-a-time
/// paths (colon scan, equal-length comparison) see every alignment.
fn long_scope_like() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => ("[ab]{0,10}", "[ab*]{0,10}", "[ab:*é]{0,20}")
            .prop_map(|(a, r, i)| format!("{a}:{r}:{i}")),
        1 => "[ab:é]{0,40}",
    ]
}

/// A near miss of `base`: itself, one character changed, its
/// `action:resource:*` wildcard, or one character longer or shorter.
fn near_miss(base: &str, kind: u8, at: prop::sample::Index) -> String {
    let chars: Vec<char> = base.chars().collect();
    match kind {
        0 => base.to_owned(),
        1 if !chars.is_empty() => {
            let i = at.index(chars.len());
            let mut changed = chars;
            changed[i] = if changed[i] == 'a' { 'b' } else { 'a' };
            changed.into_iter().collect()
        }
        2 => match oracle::parse(base) {
            Some((a, r, _)) => format!("{a}:{r}:*"),
            None => base.to_owned(),
        },
        3 => format!("{base}a"),
        _ => chars[..chars.len().saturating_sub(1)].iter().collect(),
    }
}

fn set(strategy: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(strategy, 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn covers_agrees_with_oracle(a in scope_like(), r in scope_like()) {
        prop_assert_eq!(covers(&a, &r), oracle::covers(&a, &r));
        prop_assert_eq!(Scope::parse(&a).is_ok(), oracle::parse(&a).is_some());
    }

    #[test]
    fn subset_agrees_with_oracle(req in set(scope_like()), held in set(scope_like())) {
        prop_assert_eq!(scope_is_subset(&req, &held), oracle::subset(&req, &held));
    }

    #[test]
    fn subset_agrees_with_oracle_on_long_near_misses(
        req in proptest::collection::vec(long_scope_like(), 1..4),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..5, any::<prop::sample::Index>()), 0..6),
    ) {
        let held: Vec<String> = edits
            .into_iter()
            .map(|(pick, kind, at)| near_miss(pick.get::<String>(&req), kind, at))
            .collect();
        prop_assert_eq!(scope_is_subset(&req, &held), oracle::subset(&req, &held));
        for r in &req {
            prop_assert_eq!(Scope::parse(r).is_ok(), oracle::parse(r).is_some());
        }
    }

    #[test]
    fn parse_agrees_with_oracle_parts(s in scope_like()) {
        match (Scope::parse(&s), oracle::parse(&s)) {
            (Ok(scope), Some((a, r, i))) => {
                prop_assert_eq!(scope.action(), a.as_str());
                prop_assert_eq!(scope.resource(), r.as_str());
                prop_assert_eq!(scope.identifier(), i.as_str());
                prop_assert_eq!(scope.as_str(), s.as_str());
            }
            (Err(_), None) => {}
            (ours, theirs) => prop_assert!(false, "disagree on {:?}: {:?} vs {:?}", s, ours, theirs),
        }
    }

    #[test]
    fn reflexive_for_valid_scopes(s in valid_scope()) {
        prop_assert!(covers(&s, &s));
        prop_assert!(scope_is_subset(std::slice::from_ref(&s), std::slice::from_ref(&s)));
    }

    #[test]
    fn invalid_scopes_are_inert(s in scope_like(), other in scope_like()) {
        if Scope::parse(&s).is_err() {
            prop_assert!(!covers(&s, &s));
            prop_assert!(!covers(&s, &other));
            prop_assert!(!covers(&other, &s));
        }
    }

    #[test]
    fn set_is_subset_of_itself_iff_all_valid(req in set(scope_like())) {
        let all_valid = req.iter().all(|s| Scope::parse(s).is_ok());
        prop_assert_eq!(scope_is_subset(&req, &req), all_valid);
    }

    #[test]
    fn covers_is_transitive(a in scope_like(), b in scope_like(), c in scope_like()) {
        if covers(&a, &b) && covers(&b, &c) {
            prop_assert!(covers(&a, &c));
        }
    }

    #[test]
    fn subset_is_transitive(a in set(valid_scope()), b in set(valid_scope()), c in set(valid_scope())) {
        if scope_is_subset(&a, &b) && scope_is_subset(&b, &c) {
            prop_assert!(scope_is_subset(&a, &c));
        }
    }

    #[test]
    fn wildcard_covers_every_identifier(s in valid_scope()) {
        let parsed = Scope::parse(&s).unwrap();
        let wildcard = format!("{}:{}:*", parsed.action(), parsed.resource());
        prop_assert!(covers(&wildcard, &s));
        // ... but nothing with another action or resource.
        let other_action = format!("x{}:{}:*", parsed.action(), parsed.resource());
        prop_assert!(!covers(&other_action, &s));
        let other_resource = format!("{}:x{}:*", parsed.action(), parsed.resource());
        prop_assert!(!covers(&other_resource, &s));
    }

    #[test]
    fn star_in_action_or_resource_is_literal(s in valid_scope()) {
        let parsed = Scope::parse(&s).unwrap();
        if parsed.action() != "*" {
            let star_action = format!("*:{}:*", parsed.resource());
            prop_assert!(!covers(&star_action, &s));
        }
        if parsed.resource() != "*" {
            let star_resource = format!("{}:*:*", parsed.action());
            prop_assert!(!covers(&star_resource, &s));
        }
    }

    #[test]
    fn monotone_in_held(req in set(scope_like()), held in set(scope_like()), extra in scope_like()) {
        // Holding more never loses coverage.
        if scope_is_subset(&req, &held) {
            let mut more = held.clone();
            more.push(extra);
            prop_assert!(scope_is_subset(&req, &more));
        }
    }

    #[test]
    fn antitone_in_required(req in set(scope_like()), held in set(scope_like()), keep in proptest::collection::vec(any::<bool>(), 5)) {
        // Requiring less never loses coverage.
        if scope_is_subset(&req, &held) {
            let fewer: Vec<String> = req.iter().zip(keep.iter().cycle()).filter(|(_, k)| **k).map(|(s, _)| s.clone()).collect();
            prop_assert!(scope_is_subset(&fewer, &held));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_strings(a in any::<String>(), b in any::<String>(), req in proptest::collection::vec(any::<String>(), 0..4)) {
        let _ = covers(&a, &b);
        let _ = Scope::parse(&a).map(|s| s.to_string());
        let _ = scope_is_subset(&req, &[a.as_str(), b.as_str()]);
        let _ = agentwrit_scope::first_invalid(&req);
    }

    #[test]
    fn order_and_duplicates_do_not_matter(req in set(scope_like()), held in set(scope_like())) {
        let want = scope_is_subset(&req, &held);
        let mut held_rev = held.clone();
        held_rev.reverse();
        let mut req_dup = req.clone();
        req_dup.extend(req.iter().cloned());
        prop_assert_eq!(scope_is_subset(&req, &held_rev), want);
        prop_assert_eq!(scope_is_subset(&req_dup, &held), want);
    }
}
