//! `cargo xtask docs`: the documentation as users read it, checked.
//!
//! 1. `cargo doc --workspace --no-deps` with warnings denied (broken and
//!    private intra-doc links, bad HTML, ...);
//! 2. [`doc_links`](crate::doc_links): no intra-doc link rendered as text,
//!    in the pages of every crate of the workspace;
//! 3. [`doc_snippets`](crate::doc_snippets): every Markdown page with Rust
//!    snippets is compiled as a doc test (by `cargo test --doc`);
//! 4. [`doc_mentions`](crate::doc_mentions): every `Type::item` the
//!    Markdown names in inline code, for a type of ours, exists.

use crate::util::{cargo, flag, run, target_dir};

/// Runs the four checks; `--no-build` reuses the pages already built.
pub fn docs(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.iter().find(|a| *a != "--no-build") {
        return Err(format!("docs: unknown argument {other:?}"));
    }
    let doc_dir = target_dir()?.join("doc");
    if !flag(args, "--no-build") {
        // rustdoc links to another crate's pages only when their directory
        // already exists as it starts ("local" docs); in a fresh target
        // directory, crates documented side by side would otherwise render
        // each other's links as text, depending on the order they ran in.
        for dir in crate::metadata::metadata()?
            .packages
            .iter()
            .flat_map(crate::metadata::Package::doc_dirs)
        {
            let dir = doc_dir.join(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("docs: creating {}: {e}", dir.display()))?;
        }
        run(cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"))?;
    }
    let mut failed = Vec::new();
    for result in [
        crate::doc_links::check(&doc_dir),
        crate::doc_snippets::check(),
        crate::doc_mentions::check(&doc_dir),
    ] {
        if let Err(e) = result {
            failed.push(e);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}
