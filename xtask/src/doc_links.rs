//! After `cargo doc`: intra-doc links that rustdoc resolved but could not
//! turn into a URL.
//!
//! `rustdoc::broken_intra_doc_links` only reports a link that does not
//! resolve, and only in the crate whose doc comment it is. A link in
//! core's docs of an item a transport re-exports (inlined into the
//! transport's pages) is not resolved again there, and a bare link to a
//! re-exported crate name resolves to the `use` item, which has no page:
//! rustdoc then prints the link as written (the text in brackets around a
//! `<code>` element) or as a raw relative `href` holding the Rust path
//! (`crate::` or `super::` and the rest), and no lint fires; so does a
//! link to a `#[doc(hidden)]` item (it resolves, but has no page), and a
//! link to another crate's item when that crate's pages are not built
//! (`--no-deps`): write those as a URL, or as plain code. This check
//! reads the generated pages of every crate of the workspace for both
//! shapes, in the text our crates wrote (not the trait implementations'
//! method docs, which are the traits' own).

use std::path::Path;

/// Fails listing every page of the workspace's crates (every library and
/// binary `cargo doc --workspace` documents) under `doc_dir` that shows an
/// unrendered intra-doc link. Pages of other crates a developer's own
/// `cargo doc` may have left there are not read.
pub fn check(doc_dir: &Path) -> Result<(), String> {
    let mut ours: Vec<String> = crate::metadata::metadata()?
        .packages
        .iter()
        .flat_map(crate::metadata::Package::doc_dirs)
        .collect();
    ours.sort();
    ours.dedup();
    let mut found = Vec::new();
    let mut checked = 0;
    for name in &ours {
        let dir = doc_dir.join(name);
        if dir.is_dir() {
            checked += 1;
            scan(&dir, &mut found)?;
        }
    }
    if checked == 0 {
        return Err(format!(
            "{}: no documentation of the workspace's crates (run `cargo doc --workspace --no-deps` first)",
            doc_dir.display()
        ));
    }
    if found.is_empty() {
        eprintln!("doc links: every intra-doc link renders, in {checked} crates' pages");
        return Ok(());
    }
    found.sort();
    Err(format!(
        "intra-doc links rendered as text (write them so they resolve where they are shown, \
         or as plain code):\n  {}",
        found.join("\n  ")
    ))
}

fn scan(dir: &Path, found: &mut Vec<String>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            scan(&path, found)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let Ok(page) = std::fs::read_to_string(&path) else {
            continue;
        };
        for shape in unrendered(own_docs(&page)) {
            found.push(format!("{}: {shape}", path.display()));
        }
    }
    Ok(())
}

/// The part of a page whose text our crates wrote: everything before the
/// trait implementations, whose method docs are the traits' own (axum's,
/// tower's, clap's, http-body's, ...), written for their crates' pages.
fn own_docs(page: &str) -> &str {
    let end = [
        "id=\"trait-implementations\"",
        "id=\"synthetic-implementations\"",
        "id=\"blanket-implementations\"",
    ]
    .iter()
    .filter_map(|marker| page.find(marker))
    .min()
    .unwrap_or(page.len());
    &page[..end]
}

/// The two shapes in `page` (bracketed `<code>` text, and a raw `href`
/// starting with the Rust path prefix `crate::` or `super::`), less the
/// foreign ones.
fn unrendered(page: &str) -> Vec<String> {
    let mut shapes = Vec::new();
    for (open, close) in [
        ("[<code>", "</code>]"),
        ("href=\"crate::", "\""),
        ("href=\"super::", "\""),
    ] {
        let mut rest = page;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len()..];
            let Some(end) = after.find(close) else { break };
            let shape = format!("{open}{}{close}", &after[..end]);
            if end < 120 && !shapes.contains(&shape) {
                shapes.push(shape);
            }
            rest = &after[end..];
        }
    }
    shapes
}

#[cfg(test)]
mod tests {
    use super::{own_docs, unrendered};

    #[test]
    fn finds_literal_brackets_and_raw_hrefs() {
        let page = r#"<p>a [<code>Step::Send</code>] b <a href="crate::Validate">x</a>
            <a href="../agentwrit_core/enum.Step.html">ok</a></p>"#;
        assert_eq!(
            unrendered(page),
            ["[<code>Step::Send</code>]", "href=\"crate::Validate\""]
        );
    }

    #[test]
    fn trait_implementations_are_the_traits_own_text() {
        let page = r#"<p>ours [<code>Mine</code>]</p>
            <h2 id="trait-implementations">Trait Implementations</h2>
            <p>tower's [<code>Service</code>]</p>"#;
        assert_eq!(unrendered(own_docs(page)), ["[<code>Mine</code>]"]);
        let blanket = r#"<p>ours</p><h2 id="blanket-implementations">B</h2>[<code>Span</code>]"#;
        assert!(unrendered(own_docs(blanket)).is_empty());
    }
}
