//! `cargo xtask doc-snippets`: every Rust snippet in the project's Markdown
//! is compiled as a doc test, so no page can show an API that no longer
//! exists.
//!
//! rustdoc compiles a Markdown file's code blocks when a crate includes the
//! file as documentation (`#[cfg(doctest)] #[doc = include_str!("..")] mod
//! x {}`); `cargo test --doc` then builds each Rust block, and runs it
//! unless it is `no_run`. This check makes sure that holds for every file
//! that has a Rust block:
//!
//! * `docs/**/*.md`, the workspace `README.md`, and every crate's and
//!   example's `README.md` (not `CHANGELOG.md`, whose entries name removed
//!   APIs on purpose);
//! * a file with a Rust block is included by some crate as a doc test;
//! * no Rust block is `ignore`d (it would compile nothing: write `no_run`
//!   for code that must not run, or give a non-Rust block its language);
//! * no fence is bare: rustdoc reads a block without a language as Rust,
//!   so a shell session in one would fail, or worse, be skipped by this
//!   check; every fence says what it holds (`text`, `sh`, `rust`, ...).
//!
//! The check reads files only (no build); `cargo test --doc` (in `cargo
//! xtask test`) does the compiling.

use std::path::{Path, PathBuf};

use crate::util::root;

/// The attributes rustdoc accepts on a Rust block (with or without
/// `rust` before them).
const RUST_ATTRIBUTES: [&str; 5] = [
    "no_run",
    "should_panic",
    "compile_fail",
    "ignore",
    "test_harness",
];

/// One code block's opening fence.
#[derive(Debug, PartialEq, Eq)]
struct Fence {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string (language and attributes), trimmed.
    info: String,
}

impl Fence {
    fn words(&self) -> impl Iterator<Item = &str> {
        self.info
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|w| !w.is_empty())
    }

    /// rustdoc compiles the block: no language, `rust`, or only rustdoc's
    /// own attributes (`no_run`, `edition2021`, ...).
    fn is_rust(&self) -> bool {
        match self.words().next() {
            None => true,
            Some(first) => {
                first == "rust" || RUST_ATTRIBUTES.contains(&first) || first.starts_with("edition")
            }
        }
    }

    fn is_ignored(&self) -> bool {
        self.is_rust()
            && self
                .words()
                .any(|w| w == "ignore" || w.starts_with("ignore-"))
    }
}

/// The opening fences of `text`'s code blocks (``` or ~~~, CommonMark's
/// rule that a block is closed by a fence of the same character at least
/// as long).
fn fences(text: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if line.len() - trimmed.len() > 3 {
            continue;
        }
        let Some(ch) = trimmed.chars().next().filter(|c| *c == '`' || *c == '~') else {
            continue;
        };
        let run = trimmed.chars().take_while(|c| *c == ch).count();
        if run < 3 {
            continue;
        }
        let rest = &trimmed[run..];
        match open {
            Some((c, n)) if c == ch && run >= n && rest.trim().is_empty() => open = None,
            Some(_) => {}
            None => {
                open = Some((ch, run));
                out.push(Fence {
                    line: i + 1,
                    info: rest.trim().to_owned(),
                });
            }
        }
    }
    out
}

/// The Markdown files the check covers, sorted.
pub(crate) fn markdown_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    collect_md(&root.join("docs"), true, &mut files)?;
    files.push(root.join("README.md"));
    for dir in ["crates", "examples"] {
        let base = root.join(dir);
        let entries = std::fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        for entry in entries.flatten() {
            let readme = entry.path().join("README.md");
            if readme.is_file() {
                files.push(readme);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn collect_md(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && recurse {
            collect_md(&path, true, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// Every Markdown file some crate includes as documentation
/// (`#[doc = include_str!("..")]`), resolved against the including file.
fn included_as_docs(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut sources = Vec::new();
    for dir in ["crates", "examples"] {
        collect_rs(&root.join(dir), &mut sources)?;
    }
    let mut included = Vec::new();
    for source in sources {
        let Ok(text) = std::fs::read_to_string(&source) else {
            continue;
        };
        let dir = source.parent().unwrap_or(root);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("include_str!(\"") {
            let before = &rest[..at];
            rest = &rest[at + "include_str!(\"".len()..];
            let Some(end) = rest.find('"') else { break };
            let doc =
                before.trim_end().ends_with("#[doc =") || before.trim_end().ends_with("#[doc=");
            if doc && rest[..end].ends_with(".md") {
                let path = dir.join(&rest[..end]);
                if let Ok(path) = path.canonicalize() {
                    included.push(path);
                }
            }
        }
    }
    Ok(included)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "node_modules" && name != ".venv" {
                collect_rs(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The problems of one Markdown file (`shown`: its path as reported).
fn problems(shown: &str, text: &str, included: bool) -> Vec<String> {
    let mut found = Vec::new();
    let fences = fences(text);
    for fence in &fences {
        if fence.info.is_empty() {
            found.push(format!(
                "{shown}:{}: a fence without a language (rustdoc would compile it as Rust): write ```text, ```sh, ```rust, ...",
                fence.line
            ));
        } else if fence.is_ignored() {
            found.push(format!(
                "{shown}:{}: ```{} compiles nothing: make it compile (`no_run` if it must not run), or give it a non-Rust language",
                fence.line, fence.info
            ));
        }
    }
    if !included && let Some(first) = fences.iter().find(|f| f.is_rust()) {
        found.push(format!(
            "{shown}:{}: has Rust snippets but no crate compiles them: add `#[cfg(doctest)] #[doc = include_str!(\"..\")] mod ..._md {{}}` to the crate the page is about",
            first.line
        ));
    }
    found
}

/// The check over the workspace; the problems, one per line.
pub fn check() -> Result<(), String> {
    let root = root();
    let included = included_as_docs(&root)?;
    let mut found = Vec::new();
    let mut rust_files = 0;
    for file in markdown_files(&root)? {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let is_included = file.canonicalize().is_ok_and(|f| included.contains(&f));
        if fences(&text).iter().any(Fence::is_rust) {
            rust_files += 1;
        }
        found.extend(problems(&shown, &text, is_included));
    }
    if found.is_empty() {
        eprintln!(
            "doc-snippets: the Rust snippets of {rust_files} Markdown files are compiled as doc tests"
        );
        Ok(())
    } else {
        Err(format!(
            "doc-snippets: Markdown whose Rust snippets are not compiled:\n  {}",
            found.join("\n  ")
        ))
    }
}

/// `cargo xtask doc-snippets`.
pub fn doc_snippets(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("doc-snippets takes no arguments".into());
    }
    check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_follow_commonmark() {
        let text = "a\n```rust,no_run\nlet x = 1;\n```\n\n````text\n```rust\n````\n~~~\nx\n~~~\n    ```indented code, not a fence\n";
        let f = fences(text);
        assert_eq!(
            f.iter()
                .map(|f| (f.line, f.info.as_str()))
                .collect::<Vec<_>>(),
            [(2, "rust,no_run"), (6, "text"), (9, "")]
        );
        assert!(f[0].is_rust() && !f[1].is_rust() && f[2].is_rust());
    }

    #[test]
    fn rust_blocks_are_recognised_as_rustdoc_does() {
        let fence = |info: &str| Fence {
            line: 1,
            info: info.to_owned(),
        };
        for rust in [
            "rust",
            "rust,no_run",
            "no_run",
            "should_panic",
            "edition2024",
            "rust ignore",
        ] {
            assert!(fence(rust).is_rust(), "{rust}");
        }
        for other in ["text", "sh", "toml", "console", "python", "json"] {
            assert!(!fence(other).is_rust(), "{other}");
        }
        assert!(fence("rust,ignore").is_ignored());
        assert!(fence("ignore").is_ignored());
        assert!(!fence("rust,no_run").is_ignored());
        assert!(!fence("text").is_ignored());
    }

    #[test]
    fn each_problem_is_named_with_its_line() {
        let text = "# t\n```\nbare\n```\n```rust,ignore\nfn x() {}\n```\n";
        let p = problems("docs/x.md", text, false);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("docs/x.md:2: a fence without a language"));
        assert!(p[1].starts_with("docs/x.md:5: ```rust,ignore compiles nothing"));
        assert!(p[2].starts_with("docs/x.md:2: has Rust snippets but no crate compiles them"));
        assert!(problems("docs/y.md", "```rust\nfn x() {}\n```\n", true).is_empty());
        assert!(problems("docs/z.md", "```sh\nls\n```\n", false).is_empty());
    }

    #[test]
    fn this_workspace_passes() {
        check().unwrap();
    }
}
