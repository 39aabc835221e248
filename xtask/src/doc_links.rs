//! After `cargo doc`: intra-doc links that rustdoc resolved but could not
//! turn into a URL.
//!
//! `rustdoc::broken_intra_doc_links` only reports a link that does not
//! resolve, and only in the crate whose doc comment it is. A link in
//! core's docs of an item a transport re-exports (inlined into the
//! transport's pages) is not resolved again there, and a bare link to a
//! re-exported crate name resolves to the `use` item, which has no page:
//! rustdoc then prints the link as written (`[<code>Step::Send</code>]`)
//! or as a raw relative `href="crate::..."`, and no lint fires; so does a
//! link to a `#[doc(hidden)]` item (it resolves, but has no page). This
//! check reads the generated pages for both shapes.

use std::path::Path;

/// Link texts that come from other crates' docs (tracing's and ureq's,
/// inlined through blanket trait impls), not ours.
const FOREIGN: [&str; 6] = [
    "[<code>WithDispatch</code>]",
    "[<code>Span</code>]",
    "[<code>Action::Follow</code>]",
    "href=\"crate::Span\"",
    "href=\"super::Subscriber\"",
    "href=\"super::Span::current()\"",
];

/// The crates whose pages are checked: the libraries a user reads first.
/// (The service-side layer, the development broker and the demos still
/// show a few; they are listed in issue 22's report.)
const CHECKED: [&str; 5] = [
    "agentwrit_core",
    "agentwrit_blocking",
    "agentwrit_async",
    "agentwrit_wire",
    "agentwrit_scope",
];

/// Fails listing every page of the [`CHECKED`] crates under `doc_dir`
/// that shows an unrendered intra-doc link.
pub fn check(doc_dir: &Path) -> Result<(), String> {
    let mut found = Vec::new();
    let crates = std::fs::read_dir(doc_dir).map_err(|e| format!("{}: {e}", doc_dir.display()))?;
    for entry in crates.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if CHECKED.contains(&name.as_str()) && entry.path().is_dir() {
            scan(&entry.path(), &mut found)?;
        }
    }
    if found.is_empty() {
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
        for shape in unrendered(&page) {
            found.push(format!("{}: {shape}", path.display()));
        }
    }
    Ok(())
}

/// `[<code>..</code>]` and `href="crate::.."` / `href="super::.."` in
/// `page`, less the foreign ones.
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
            if end < 120 && !FOREIGN.contains(&shape.as_str()) && !shapes.contains(&shape) {
                shapes.push(shape);
            }
            rest = &after[end..];
        }
    }
    shapes
}

#[cfg(test)]
mod tests {
    use super::unrendered;

    #[test]
    fn finds_literal_brackets_and_raw_hrefs_but_not_foreign_ones() {
        let page = r#"<p>a [<code>Step::Send</code>] b <a href="crate::Validate">x</a>
            [<code>Span</code>] <a href="../agentwrit_core/enum.Step.html">ok</a></p>"#;
        assert_eq!(
            unrendered(page),
            ["[<code>Step::Send</code>]", "href=\"crate::Validate\""]
        );
    }
}
