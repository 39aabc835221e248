//! Table-driven vectors: every example from the user's documents and every
//! edge case of the broker's `internal/authz/scope.go`.

use agentwrit_scope::{Scope, ScopeError, covers, first_invalid, scope_is_subset};

/// (allowed, requested, expected `covers`)
const COVERS: &[(&str, &str, bool)] = &[
    // Seed documents: specific and wildcard identifiers.
    ("read:data:customer-7291", "read:data:customer-7291", true),
    ("read:data:*", "read:data:customer-7291", true),
    ("read:data:*", "read:data:*", true),
    ("read:data:customer-7291", "read:data:customer-9999", false),
    (
        "read:data:customer-cust-7291",
        "read:data:customer-cust-9999",
        false,
    ),
    (
        "write:data:order-ord-4823",
        "write:data:order-ord-0000",
        false,
    ),
    ("read:analytics:hospital", "read:analytics:bank", false),
    ("write:reports:hospital", "write:reports:retail", false),
    ("read:analytics:*", "read:analytics:retail", true),
    ("write:reports:*", "write:reports:bank", true),
    // A wildcard covers only its own action and resource.
    ("read:data:*", "write:data:x", false),
    ("read:data:*", "read:files:x", false),
    // A specific identifier never covers the wildcard.
    ("read:data:x", "read:data:*", false),
    // `*` in action or resource is a literal, never a wildcard.
    ("*:data:x", "read:data:x", false),
    ("read:*:x", "read:data:x", false),
    ("*:*:*", "read:data:x", false),
    ("*:data:x", "*:data:x", true),
    ("read:*:x", "read:*:x", true),
    ("read:*:*", "read:*:anything", true),
    ("*:*:*", "*:*:*", true),
    ("*:*:*", "*:*:x", true),
    // Partial wildcards are literals too.
    ("read:data:cust-*", "read:data:cust-1", false),
    ("read:data:cust-*", "read:data:cust-*", true),
    ("read:data:**", "read:data:x", false),
    // Identifiers may contain colons: split on the first two only.
    ("read:file:/srv/a:b", "read:file:/srv/a:b", true),
    ("read:file:*", "read:file:/srv/a:b", true),
    ("read:file:a", "read:file:a:b", false),
    ("read:file:a:*", "read:file:a:b", false),
    ("a:b::", "a:b::", true),
    ("a:b:*", "a:b::", true),
    // Empty segments: invalid on either side, even against itself.
    ("read:data:", "read:data:", false),
    ("read::x", "read::x", false),
    (":data:x", ":data:x", false),
    ("::", "::", false),
    ("", "", false),
    ("read:data", "read:data", false),
    ("read", "read", false),
    ("read:data:*", "read:data:", false),
    ("read:data:", "read:data:x", false),
    // Case, whitespace and unicode are compared byte-exactly.
    ("Read:data:x", "read:data:x", false),
    ("read:data:x ", "read:data:x", false),
    (" read:data:x", " read:data:x", true),
    ("lire:données:client-é", "lire:données:client-é", true),
    ("lire:données:*", "lire:données:客户-7", true),
    ("lire:données:*", "lire:donnees:x", false),
    ("read:data:e\u{301}", "read:data:\u{e9}", false),
    ("read:data:🦀", "read:data:🦀", true),
];

#[test]
fn covers_vectors() {
    for &(allowed, requested, want) in COVERS {
        assert_eq!(
            covers(allowed, requested),
            want,
            "covers({allowed:?}, {requested:?})"
        );
        assert_eq!(
            scope_is_subset(&[requested], &[allowed]),
            want,
            "scope_is_subset([{requested:?}], [{allowed:?}])"
        );
        if let (Ok(a), Ok(r)) = (Scope::parse(allowed), Scope::parse(requested)) {
            assert_eq!(
                a.covers(&r),
                want,
                "Scope::covers {allowed:?} {requested:?}"
            );
        }
    }
}

/// (required, held, expected)
const SUBSETS: &[(&[&str], &[&str], bool)] = &[
    // Seed: the order worker.
    (
        &["read:data:customer-cust-7291"],
        &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        true,
    ),
    (
        &["write:data:order-ord-4823"],
        &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        true,
    ),
    (
        &["read:data:customer-cust-9999"],
        &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        false,
    ),
    (
        &["write:data:order-ord-0000"],
        &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        false,
    ),
    // Seed: the data pipeline.
    (
        &["read:analytics:bank"],
        &["read:analytics:hospital", "write:reports:hospital"],
        false,
    ),
    (
        &["write:reports:retail"],
        &["read:analytics:hospital", "write:reports:hospital"],
        false,
    ),
    (
        &["read:analytics:hospital"],
        &["read:analytics:hospital", "write:reports:hospital"],
        true,
    ),
    // Seed: the universal sample app's ceiling.
    (
        &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        &[
            "read:data:*",
            "write:data:*",
            "read:analytics:*",
            "write:reports:*",
        ],
        true,
    ),
    (
        &["read:analytics:hospital", "write:reports:hospital"],
        &[
            "read:data:*",
            "write:data:*",
            "read:analytics:*",
            "write:reports:*",
        ],
        true,
    ),
    (
        &["admin:revoke:*"],
        &[
            "read:data:*",
            "write:data:*",
            "read:analytics:*",
            "write:reports:*",
        ],
        false,
    ),
    // Empty sets.
    (&[], &[], true),
    (&[], &["read:data:x"], true),
    (&[], &["garbage"], true),
    (&["read:data:x"], &[], false),
    // Equal sets (same-scope delegation) and duplicates.
    (
        &["read:data:x", "write:data:y"],
        &["read:data:x", "write:data:y"],
        true,
    ),
    (&["read:data:x", "read:data:x"], &["read:data:x"], true),
    (&["read:data:x"], &["read:data:x", "read:data:x"], true),
    // Every element must be covered, each by any held scope.
    (&["read:data:x", "write:data:y"], &["read:data:*"], false),
    (&["read:data:x", "read:data:y"], &["read:data:*"], true),
    (
        &["read:data:x", "read:data:y"],
        &["read:data:y", "read:data:x"],
        true,
    ),
    // One invalid required scope poisons the set; invalid held scopes are ignored.
    (&["read:data:x", "read:data:"], &["read:data:*"], false),
    (&["read:data:x"], &["read:data:", "read:data:x"], true),
    (&["read:data:x"], &["garbage", "::", ""], false),
];

#[test]
fn subset_vectors() {
    for &(required, held, want) in SUBSETS {
        assert_eq!(
            scope_is_subset(required, held),
            want,
            "scope_is_subset({required:?}, {held:?})"
        );
        let required_owned: Vec<String> = required.iter().map(|s| (*s).to_owned()).collect();
        let held_owned: Vec<String> = held.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(scope_is_subset(&required_owned, &held_owned), want);
        assert_eq!(scope_is_subset(&required_owned, held), want);
    }
}

#[test]
fn parse_errors_name_the_problem() {
    let cases: &[(&str, ScopeError)] = &[
        ("", ScopeError::Empty),
        ("read", ScopeError::MissingSeparator),
        ("read:data", ScopeError::MissingIdentifier),
        ("read:", ScopeError::MissingIdentifier),
        (":data:x", ScopeError::EmptyAction),
        ("::", ScopeError::EmptyAction),
        ("read::x", ScopeError::EmptyResource),
        ("read:data:", ScopeError::EmptyIdentifier),
    ];
    for &(input, want) in cases {
        assert_eq!(Scope::parse(input), Err(want), "parse({input:?})");
        let msg = want.to_string();
        assert!(msg.contains("action:resource:identifier"), "{msg}");
    }
    assert_eq!(
        ScopeError::EmptyResource.to_string(),
        "scope has an empty resource; expected action:resource:identifier"
    );
}

#[test]
fn parse_accessors_and_display() {
    let s = Scope::parse("read:file:/srv/a:b").unwrap();
    assert_eq!(s.action(), "read");
    assert_eq!(s.resource(), "file");
    assert_eq!(s.identifier(), "/srv/a:b");
    assert!(!s.is_wildcard());
    assert_eq!(s.to_string(), "read:file:/srv/a:b");
    assert_eq!(format!("{s:?}"), "Scope(\"read:file:/srv/a:b\")");
    assert!(Scope::parse("read:data:*").unwrap().is_wildcard());
    assert!(Scope::try_from("a:b:c").is_ok());
}

#[test]
fn first_invalid_finds_the_culprit() {
    assert_eq!(first_invalid::<&str>(&[]), None);
    assert_eq!(first_invalid(&["a:b:c", "d:e:f"]), None);
    assert_eq!(
        first_invalid(&["a:b:c", "d::f", "g"]),
        Some((1, ScopeError::EmptyResource))
    );
}

#[test]
fn error_is_core_error() {
    fn takes_error(_: &dyn core::error::Error) {}
    takes_error(&ScopeError::Empty);
}
