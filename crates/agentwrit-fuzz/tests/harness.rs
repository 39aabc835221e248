//! The harness finds a planted panic, reproducibly, and the mutator
//! reaches inputs far from the corpus.

use agentwrit_fuzz::{Rng, TARGETS, Target, generate, run};

fn planted(input: &[u8]) {
    if input.windows(3).any(|w| w == b"}}}") {
        panic!("planted");
    }
}

#[test]
fn a_planted_panic_is_found_and_reported_with_its_input() {
    std::panic::set_hook(Box::new(|_| {}));
    let target = Target {
        name: "planted",
        run: planted,
    };
    let corpus = vec![br#"{"a":{"b":1}}"#.to_vec()];
    let report = run(&target, &corpus, 1, 1_000_000, None);
    let _ = std::panic::take_hook();
    let (index, input, message) = report.panic.expect("the planted panic is found");
    assert_eq!(message, "planted");
    assert!(input.windows(3).any(|w| w == b"}}}"));
    // Same seed, same input index.
    let again = run(&target, &corpus, 1, 1_000_000, None).panic.unwrap();
    assert_eq!(again.0, index);
}

#[test]
fn every_target_survives_a_short_run() {
    for target in &TARGETS {
        let report = run(target, &[], 7, 2_000, None);
        assert!(
            report.panic.is_none(),
            "{}: {:?}",
            target.name,
            report.panic
        );
        assert_eq!(report.inputs, 2_000);
    }
}

#[test]
fn the_generator_mutates() {
    let corpus = vec![b"read:data:customer-7291".to_vec()];
    let mut rng = Rng::new(3);
    let mut out = Vec::new();
    let distinct: std::collections::HashSet<Vec<u8>> = (0..1000)
        .map(|_| {
            generate(&mut rng, &corpus, &mut out);
            out.clone()
        })
        .collect();
    assert!(distinct.len() > 500, "{} distinct inputs", distinct.len());
}
