//! Two processes writing usage records to one directory lose no record,
//! even with lines longer than `PIPE_BUF`: the test binary runs itself
//! twice as writers (the ignored `child_writer` test), at the same time,
//! then reads the directory back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use agentwrit_usage::{JsonlSink, Reader, Recorder, TokenFacts};
use base64::Engine as _;

const CHILD_DIR: &str = "AGENTWRIT_USAGE_TEST_CHILD_DIR";
const CHILD_ID: &str = "AGENTWRIT_USAGE_TEST_CHILD_ID";
const TOKENS: usize = 400;
const GRANTED: usize = 40;

fn token_for(jti: &str) -> String {
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"jti\":\"{jti}\"}}"));
    format!("eyJhbGciOiJFZERTQSJ9.{payload}.c2ln")
}

/// The writer: runs only when the parent starts it.
#[test]
#[ignore = "a child process of two_processes_one_directory"]
fn child_writer() {
    let (Ok(dir), Ok(id)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ID)) else {
        return;
    };
    let recorder = Recorder::builder()
        .service_name("multi")
        .instance(id.clone())
        .sink(JsonlSink::dir(&dir).unwrap().max_file_bytes(256 * 1024))
        .build()
        .unwrap();
    let now = SystemTime::now();
    for i in 0..TOKENS {
        let jti = format!("{id}-{i}");
        // Long scopes: every line is longer than PIPE_BUF (4096 bytes).
        let granted: Vec<String> = (0..GRANTED)
            .map(|g| format!("read:records:{}-{g}-{}", jti, "x".repeat(100)))
            .collect();
        recorder.request(&token_for(&jti), &jti, || {
            TokenFacts::new(
                &jti,
                format!("spiffe://d/agent/o/t/{jti}"),
                now,
                now + Duration::from_secs(600),
            )
            .with_granted(granted.clone())
        });
        recorder.check(&jti, &[granted[0].as_str()], true);
        if i % 50 == 49 {
            recorder.flush().unwrap();
        }
    }
    recorder.shutdown().unwrap();
}

#[test]
fn two_processes_one_directory() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "agentwrit-usage-multi-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "child_writer", "--ignored", "--quiet"])
                .env(CHILD_DIR, &dir)
                .env(CHILD_ID, id)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let mut reader = Reader::new();
    let mut seen = BTreeSet::new();
    let mut longest = 0;
    reader
        .read_path(&dir, |record| {
            longest = longest.max(record.to_json().unwrap().len());
            assert_eq!(record.requests, 1);
            assert!(
                seen.insert((record.instance.clone(), record.jti.clone())),
                "{} twice",
                record.jti
            );
        })
        .unwrap();
    assert!(reader.errors().is_empty(), "{:?}", reader.errors());
    assert_eq!(seen.len(), 2 * TOKENS);
    for id in ["a", "b"] {
        for i in 0..TOKENS {
            assert!(seen.contains(&(id.to_owned(), format!("{id}-{i}"))));
        }
    }
    assert!(
        longest > 4096,
        "lines of {longest} bytes do not exceed PIPE_BUF"
    );
    // Each process wrote files of its own, rotated.
    assert!(reader.files() >= 4, "{} files", reader.files());
    std::fs::remove_dir_all(&dir).unwrap();
}
