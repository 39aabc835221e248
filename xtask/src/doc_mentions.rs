//! After `cargo doc`: every `Type::item` that the Markdown names in
//! inline code, for a type of this workspace, exists.
//!
//! Snippets are compiled ([`doc_snippets`](crate::doc_snippets)), but
//! prose names APIs too (`App::builder(..)` outlived the method by a
//! release). This reads each inline code span outside code blocks, takes
//! every `Type::item` path in it (`Broker::builder`, `Error::Transport`,
//! `agentwrit_core::Step`), and looks the type up in the pages `cargo doc`
//! wrote for the workspace's crates: a type with a page must show the item
//! (a method, variant, associated constant or type); a path that starts
//! with one of our crates must name an item with a page. Types without a
//! page are someone else's (`Duration::from_secs`) and are skipped, as
//! are paths qualified by another crate or a module (`http::Request::builder`;
//! a crate-private item is named by its module, `call::Call::handle_response`,
//! which also tells the reader where it lives).
//!
//! `CHANGELOG.md` is not read: its entries name removed APIs on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::root;

/// The item pages of the workspace's crates: type name to pages, crate
/// name to every item name with a page, and the crates a crate re-exports
/// under another name (`agentwrit_async::sansio` is `agentwrit_core`).
#[derive(Default)]
struct Index {
    types: BTreeMap<String, Vec<PathBuf>>,
    items: BTreeMap<String, BTreeSet<String>>,
    aliases: BTreeMap<(String, String), String>,
}

/// Page kinds that hold members (`struct.App.html`, ...).
const TYPE_PAGES: [&str; 5] = ["struct", "enum", "trait", "union", "type"];

impl Index {
    fn build(doc_dir: &Path) -> Result<Index, String> {
        let mut index = Index::default();
        let mut crates: Vec<String> = crate::metadata::metadata()?
            .packages
            .iter()
            .flat_map(crate::metadata::Package::doc_dirs)
            .collect();
        crates.sort();
        crates.dedup();
        for name in crates {
            let dir = doc_dir.join(&name);
            if dir.is_dir() {
                let items = index.items.entry(name.clone()).or_default();
                walk(&dir, &mut |page| {
                    let Some(file) = page.file_name().and_then(|f| f.to_str()) else {
                        return;
                    };
                    let Some((kind, rest)) = file.split_once('.') else {
                        return;
                    };
                    let Some(item) = rest.strip_suffix(".html") else {
                        return;
                    };
                    items.insert(item.to_owned());
                    if TYPE_PAGES.contains(&kind) {
                        index
                            .types
                            .entry(item.to_owned())
                            .or_default()
                            .push(page.to_path_buf());
                    }
                })?;
                // Re-exports rustdoc does not inline (`pub use agentwrit_core
                // as sansio`) are listed on the crate's front page.
                let mut aliases = Vec::new();
                if let Ok(front) = std::fs::read_to_string(dir.join("index.html")) {
                    let mut rest = front.as_str();
                    while let Some(at) = rest.find("id=\"reexport.") {
                        rest = &rest[at + "id=\"reexport.".len()..];
                        let Some(end) = rest.find('"') else { break };
                        let alias = rest[..end].to_owned();
                        if let Some(target) = reexported_crate(rest) {
                            aliases.push((alias.clone(), target));
                        }
                        items.insert(alias);
                    }
                }
                // A module's page is its `index.html`.
                walk_dirs(&dir, &mut |module| {
                    if let Some(m) = module.file_name().and_then(|f| f.to_str()) {
                        items.insert(m.to_owned());
                    }
                })?;
                for (alias, target) in aliases {
                    index.aliases.insert((name.clone(), alias), target);
                }
            }
        }
        if index.items.is_empty() {
            return Err(format!(
                "{}: no documentation of the workspace's crates (run `cargo doc --workspace --no-deps` first)",
                doc_dir.display()
            ));
        }
        Ok(index)
    }

    /// Whether one of `ty`'s pages shows `member`; `None` when `ty` has no
    /// page (not ours).
    fn has_member(&self, ty: &str, member: &str) -> Option<bool> {
        let pages = self.types.get(ty)?;
        let ids = [
            "method",
            "tymethod",
            "variant",
            "associatedconstant",
            "associatedtype",
            "structfield",
        ]
        .map(|kind| format!("id=\"{kind}.{member}\""));
        Some(pages.iter().any(|page| {
            std::fs::read_to_string(page).is_ok_and(|html| ids.iter().any(|id| html.contains(id)))
        }))
    }
}

/// The crate a front-page re-export names, from the HTML after its
/// `id="reexport.NAME"`: `<code>pub use agentwrit_core as sansio;</code>`,
/// the crate's name possibly inside a link.
fn reexported_crate(html: &str) -> Option<String> {
    let code = html.split("<code>").nth(1)?.split("</code>").next()?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in code.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let target = text.strip_prefix("pub use ")?.split(" as ").next()?.trim();
    target
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| target.to_owned())
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, f)?;
        } else {
            f(&path);
        }
    }
    Ok(())
}

fn walk_dirs(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            f(&path);
            walk_dirs(&path, f)?;
        }
    }
    Ok(())
}

/// The inline code spans of `text` outside fenced code blocks, with their
/// 1-based line.
fn inline_code(text: &str) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(ch) = trimmed.chars().next().filter(|c| *c == '`' || *c == '~') {
            let run = trimmed.chars().take_while(|c| *c == ch).count();
            if run >= 3 {
                fence = match fence {
                    None => Some((ch, run)),
                    Some((c, n)) if c == ch && run >= n => None,
                    open => open,
                };
                continue;
            }
        }
        if fence.is_some() {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push((i + 1, code.to_owned()));
        }
        // An odd last piece is an unclosed backtick: not code.
    }
    spans
}

/// The `a::b::c` paths of a code span (generic arguments and calls cut
/// off: `App::builder(..).http_client` gives `App::builder`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut push = |current: &mut String| {
        if current.contains("::") {
            let segments: Vec<String> = current
                .split("::")
                .map(|s| s.trim_matches(':'))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if segments.len() >= 2 {
                out.push(segments);
            }
        }
        current.clear();
    };
    for c in code.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            current.push(c);
        } else {
            push(&mut current);
        }
    }
    push(&mut current);
    out
}

fn is_type_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && s != "Self"
}

/// Why `path` does not resolve, if it does not.
fn unresolved(index: &Index, path: &[String]) -> Option<String> {
    // `agentwrit_async::sansio::X` is `agentwrit_core::X`.
    if let [krate, alias, rest @ ..] = path
        && let Some(target) = index.aliases.get(&(krate.clone(), alias.clone()))
        && index.items.contains_key(target)
        && !rest.is_empty()
    {
        let mut real = vec![target.clone()];
        real.extend(rest.iter().cloned());
        return unresolved(index, &real);
    }
    let (krate, rest) = match index.items.contains_key(&path[0]) {
        true => (Some(path[0].as_str()), &path[1..]),
        false => (None, path),
    };
    // A path qualified by another crate or module (`http::Request::new`,
    // `std::time::Duration`): not ours to check.
    if krate.is_none() && !is_type_name(&rest[0]) {
        return None;
    }
    if let Some(krate) = krate {
        // `agentwrit_core::Step`, `agentwrit_core::operator::Apps`: the
        // last module-or-type segment before any member has a page there.
        let item = rest
            .iter()
            .take_while(|s| !is_type_name(s))
            .chain(rest.iter().find(|s| is_type_name(s)))
            .last()?;
        let items = &index.items[krate];
        if !items.contains(item.as_str()) {
            return Some(format!("{krate} has no item {item}"));
        }
    }
    let ty_at = rest.iter().position(|s| is_type_name(s))?;
    let ty = &rest[ty_at];
    let member = rest.get(ty_at + 1)?;
    match index.has_member(ty, member) {
        Some(false) => Some(format!("{ty} has no {member}")),
        _ => None,
    }
}

/// The check over the workspace's Markdown.
pub fn check(doc_dir: &Path) -> Result<(), String> {
    let index = Index::build(doc_dir)?;
    let root = root();
    let mut found = Vec::new();
    let mut seen = 0;
    for file in crate::doc_snippets::markdown_files(&root)? {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (line, code) in inline_code(&text) {
            for path in paths(&code) {
                seen += 1;
                if let Some(why) = unresolved(&index, &path) {
                    found.push(format!("{shown}:{line}: `{code}`: {why}"));
                }
            }
        }
    }
    if found.is_empty() {
        eprintln!("doc mentions: the {seen} `a::b` paths in the Markdown's inline code resolve");
        Ok(())
    } else {
        Err(format!(
            "doc mentions: the Markdown names APIs that do not exist (fix the text, or write the current name):\n  {}",
            found.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_code_outside_fences_only() {
        let text = "a `App::new` b `x`\n```rust\nlet `no` = 1;\n```\nc `Broker::builder(url)` and `unclosed\n";
        assert_eq!(
            inline_code(text),
            [
                (1, "App::new".to_owned()),
                (1, "x".to_owned()),
                (5, "Broker::builder(url)".to_owned()),
            ]
        );
    }

    #[test]
    fn paths_stop_at_calls_and_generics() {
        assert_eq!(
            paths("App::builder(..).http_client(client)"),
            [["App", "builder"]]
        );
        assert_eq!(
            paths("Result<agentwrit_core::Step<T>, E>"),
            [["agentwrit_core", "Step"]]
        );
        assert!(paths("cargo xtask ci").is_empty());
        assert_eq!(
            paths("ProblemDetail::extensions: Map"),
            [["ProblemDetail", "extensions"]]
        );
    }

    #[test]
    fn re_exported_crates_are_read_with_or_without_a_link() {
        let plain = r#"sansio"><code>pub use agentwrit_core as sansio;</code></dt>"#;
        assert_eq!(reexported_crate(plain).as_deref(), Some("agentwrit_core"));
        let linked = r#"sansio"><code>pub use <a class="mod" href="../agentwrit_core/index.html">agentwrit_core</a> as sansio;</code>"#;
        assert_eq!(reexported_crate(linked).as_deref(), Some("agentwrit_core"));
        assert_eq!(
            reexported_crate(r#"x"><code>pub use a::{b, c};</code>"#),
            None
        );
    }

    #[test]
    fn resolution_against_an_index() {
        let dir = std::env::temp_dir().join(format!("xtask-mentions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let page = dir.join("struct.App.html");
        std::fs::write(&page, r#"<section id="method.new"></section>"#).unwrap();
        let mut index = Index::default();
        index.types.insert("App".into(), vec![page]);
        index
            .items
            .insert("agentwrit_blocking".into(), ["App".to_owned()].into());
        let path = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(unresolved(&index, &path("App::new")), None);
        assert_eq!(
            unresolved(&index, &path("App::builder")),
            Some("App has no builder".into())
        );
        assert_eq!(
            unresolved(&index, &path("agentwrit_blocking::App::new")),
            None
        );
        assert_eq!(
            unresolved(&index, &path("agentwrit_blocking::Gone")),
            Some("agentwrit_blocking has no item Gone".into())
        );
        // Not ours: no page, or qualified by another crate.
        assert_eq!(unresolved(&index, &path("Duration::from_secs")), None);
        assert_eq!(unresolved(&index, &path("http::App::builder")), None);
        // Through a crate re-exported under another name.
        index
            .items
            .insert("agentwrit_async".into(), ["sansio".to_owned()].into());
        index.aliases.insert(
            ("agentwrit_async".into(), "sansio".into()),
            "agentwrit_blocking".into(),
        );
        assert_eq!(
            unresolved(&index, &path("agentwrit_async::sansio::App::new")),
            None
        );
        assert_eq!(
            unresolved(&index, &path("agentwrit_async::sansio::Gone")),
            Some("agentwrit_blocking has no item Gone".into())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
