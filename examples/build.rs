//! Extracts the README's async example into `OUT_DIR/readme_async.rs`
//! for the `readme_async` example (which `include!`s it).

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let readme_path = manifest.join("../README.md");
    println!("cargo:rerun-if-changed={}", readme_path.display());
    let readme = std::fs::read_to_string(&readme_path).expect("README.md next to the workspace");
    let snippet = snippets(&readme)
        .into_iter()
        .find(|s| s.contains("use agentwrit_async::") && s.contains("reviewer"))
        .expect("the README's async example (agentwrit_async, the reviewer guard)");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("readme_async.rs"), snippet).expect("OUT_DIR is writable");
}

/// The bodies of the README's ```` ```rust ```` blocks (any attributes).
fn snippets(readme: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(String::new()),
            None => {}
            Some(_) if line.starts_with("```") => found.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    found
}
