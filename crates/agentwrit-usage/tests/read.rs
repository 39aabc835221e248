//! Reading record files back: a malformed or truncated file gives errors
//! naming the file and line, and every other line is still read.

use std::time::SystemTime;

use agentwrit_usage::{JsonlSink, MemorySink, Reader, Recorder, TokenFacts};

#[test]
fn malformed_and_truncated_lines_are_named_and_skipped() {
    let dir = std::env::temp_dir().join(format!(
        "agentwrit-usage-read-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // Three real records, as the sink writes them.
    let memory = MemorySink::new();
    let recorder = Recorder::builder().sink(memory.clone()).build().unwrap();
    let now = SystemTime::now();
    for jti in ["j1", "j2", "j3"] {
        recorder.request("a.eyJqdGkiOiJ4In0.c", jti, || {
            TokenFacts::new(
                jti,
                "spiffe://d/agent/o/t/1",
                now,
                now + std::time::Duration::from_secs(60),
            )
        });
    }
    recorder.shutdown().unwrap();
    let records = memory.records();
    let lines: Vec<String> = records.iter().map(|r| r.to_json().unwrap()).collect();
    let file = dir.join("bad.jsonl");
    let truncated = &lines[2][..lines[2].len() / 2];
    // Line 3 is not UTF-8; line 4 is empty (skipped without a word).
    let mut content = format!("{}\nthis is not json\n", lines[0]).into_bytes();
    content.extend_from_slice(b"\xff\xfe not text\n\n");
    content.extend_from_slice(
        format!(
            "{}\n{{\"schema\":\"something/else\"}}\n{truncated}",
            lines[1]
        )
        .as_bytes(),
    );
    std::fs::write(&file, content).unwrap();
    // A second, good file in the same directory.
    let sink = JsonlSink::dir(dir.join("good")).unwrap();
    let good = Recorder::builder().sink(sink).build().unwrap();
    good.request("a.eyJqdGkiOiJ4In0.c", "j4", || {
        TokenFacts::new(
            "j4",
            "spiffe://d/agent/o/t/1",
            now,
            now + std::time::Duration::from_secs(60),
        )
    });
    good.shutdown().unwrap();

    let mut reader = Reader::new();
    let mut jtis = Vec::new();
    reader.read_path(&dir, |r| jtis.push(r.jti)).unwrap();
    jtis.sort();
    let mut expected = vec![
        records[0].jti.clone(),
        records[1].jti.clone(),
        "j4".to_owned(),
    ];
    expected.sort();
    assert_eq!(jtis, expected);
    let errors: Vec<String> = reader.errors().iter().map(ToString::to_string).collect();
    let name = file.display().to_string();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("{name}:2: not a usage record")),
        "{errors:?}"
    );
    assert_eq!(errors[1], format!("{name}:3: not UTF-8 text"));
    assert!(
        errors[2].starts_with(&format!("{name}:6: unknown schema \"something/else\"")),
        "{errors:?}"
    );
    assert!(
        errors[3].starts_with(&format!("{name}:7: truncated")),
        "{errors:?}"
    );
    assert_eq!(reader.files(), 2);

    let err = Reader::new()
        .read_path(dir.join("missing"), |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
