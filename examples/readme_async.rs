//! The README's async example ("Quick start"), compiled from README.md
//! itself (`build.rs` extracts the snippet), so the program and the README
//! cannot drift apart. Run it with `AGENTWRIT_BROKER_URL`,
//! `AGENTWRIT_CLIENT_ID` and `AGENTWRIT_CLIENT_SECRET` set (for instance
//! from `cargo run -p agentwrit-devbroker`). `tests/readme_program.rs` runs
//! it against a development broker and checks in the broker's audit that
//! every token it obtained was released, the `reviewer` guard's too
//! (dropped as `main` returns).

include!(concat!(env!("OUT_DIR"), "/readme_async.rs"));
