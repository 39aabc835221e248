//! The two transport crates mirror each other method for method.
//!
//! The `Sdk`, `AgentApi` and `DelegatedApi` traits make every method the
//! stories use exist in both crates with the same shape (a compile error
//! otherwise). This test covers the rest: it reads both crates' sources and
//! fails when a public method or free function exists in one and not the
//! other, so that nothing is added to one runtime only.

use std::collections::BTreeSet;
use std::path::Path;

/// `Type::method` for every `pub fn` / `pub async fn` inside an
/// `impl Type {` block, and `fn name` for free public functions, in the
/// crate at `dir` (every file under its `src/`), with whether each is
/// async.
fn public_methods(dir: &Path) -> BTreeSet<(String, bool)> {
    let mut found = BTreeSet::new();
    // Every `.rs` file under `src/`, submodules' directories included.
    let mut files = Vec::new();
    let mut dirs = vec![dir.join("src")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut owner: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("impl ") {
                // `impl Type {` (inherent); trait impls are not API surface here.
                owner = (!rest.contains(" for ") && rest.ends_with('{'))
                    .then(|| rest.trim_end_matches('{').trim().to_owned());
                continue;
            }
            if line == "}" {
                owner = None;
                continue;
            }
            let trimmed = line.trim_start();
            let (is_async, rest) = if let Some(r) = trimmed.strip_prefix("pub async fn ") {
                (true, r)
            } else if let Some(r) = trimmed.strip_prefix("pub fn ") {
                (false, r)
            } else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let key = match (&owner, line.starts_with("pub ")) {
                (_, true) => format!("fn {name}"),
                (Some(t), false) => format!("{t}::{name}"),
                (None, false) => continue,
            };
            found.insert((key, is_async));
        }
    }
    found
}

#[test]
fn blocking_and_async_expose_the_same_methods() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let blocking = public_methods(&crates.join("agentwrit-blocking"));
    let asynch = public_methods(&crates.join("agentwrit-async"));
    let names = |set: &BTreeSet<(String, bool)>| -> BTreeSet<String> {
        set.iter().map(|(n, _)| n.clone()).collect()
    };
    let (b, a) = (names(&blocking), names(&asynch));
    assert!(b.len() > 60, "the scan found too little: {b:?}");
    let only_blocking: Vec<_> = b.difference(&a).collect();
    let only_async: Vec<_> = a.difference(&b).collect();
    assert!(
        only_blocking.is_empty() && only_async.is_empty(),
        "only in agentwrit-blocking: {only_blocking:?}; only in agentwrit-async: {only_async:?}"
    );
    // Nothing is async in the blocking crate, and what the async crate
    // makes async is exactly what talks to the broker (or waits for it).
    assert!(blocking.iter().all(|(_, is_async)| !is_async));
    let awaited: BTreeSet<&str> = asynch
        .iter()
        .filter(|(_, is_async)| *is_async)
        .map(|(n, _)| n.as_str())
        .collect();
    for plain in [
        "App::new",
        "App::from_env",
        "Broker::builder",
        "Broker::new",
        "Broker::from_env",
        "Broker::app",
        "Broker::operator",
        "Broker::validator",
        "Agent::scope",
        "Agent::allows",
        "Agent::agent_id",
        "Operator::from_env",
        "Validator::new",
    ] {
        assert!(!awaited.contains(plain), "{plain} should not be async");
    }
    for call in [
        "App::create_agent",
        "App::with_agent",
        "Agent::renew",
        "Agent::release",
        "Agent::release_task",
        "Agent::delegate",
        "DelegatedToken::release",
        "Operator::list_apps",
        "Validator::validate",
        "Broker::validate",
        "Broker::health",
        "fn validate",
    ] {
        assert!(awaited.contains(call), "{call} should be async");
    }
}
