//! `cargo xtask bench-cost`: client-side (and service-side) instruction
//! counts per operation, under Valgrind's callgrind, which counts the same
//! total on an idle and on a loaded machine.
//!
//! For each row, agentwrit-bench's `cost` binary (the release profile,
//! which keeps line tables) runs under callgrind three
//! times: with no operations, with W warm-up operations then N, and with W
//! then 2N. Instructions per operation = (I(W, 2N) - I(W, N)) / N: process
//! start, client construction and the warm-up cancel out. The warm-up's own
//! cost is I(W, N) - I(0, 0) - N × per-operation. The broker is another
//! process (`agentwrit-devbroker`, not traced), so its work is never
//! counted. A native run of the same binary gives the CPU-time column
//! (all threads, kernel included), which instruction counts do not see.
//!
//! Results go to `<target dir>/bench-cost/results.json`, callgrind's
//! files to `<target dir>/bench-cost/callgrind/` (read them with
//! `callgrind_annotate`). `--check` compares with the committed
//! `bench/cost-baseline.json` and fails on any row more than 10 % above
//! it; `--update-baseline` rewrites the baseline's measured rows.
//!
//! One idea per file: [`rows`] (what is measured), [`options`] (the
//! command line), [`setup`] (binaries, PKI, brokers), [`measure`] (one
//! row's runs), [`callgrind`] (running under Valgrind), [`baseline`] (the
//! committed figures and the check), [`report`] (table, ratios, JSON).

mod baseline;
mod callgrind;
mod measure;
mod options;
mod report;
mod rows;
mod setup;

/// Runs the rows, prints the table and the ratios, writes the JSON; with
/// `--check`, fails on a row more than 10 % above the baseline.
pub fn bench_cost(args: &[String]) -> Result<(), String> {
    let opts = options::parse(args)?;
    callgrind::ensure_valgrind()?;
    let bins = setup::build()?;
    let out = bins.dir.join("callgrind");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let selected = rows::select(opts.only.as_deref(), opts.quick);

    let brokers = setup::Brokers::start(&bins)?;
    let results = measure::all(
        &selected,
        &measure::Bench {
            cost: &bins.cost,
            out: &out,
            envs: &brokers.envs,
            quick: opts.quick,
            native: opts.native,
        },
    )?;
    drop(brokers);

    let baseline_path = baseline::path();
    let baseline = baseline::read(&baseline_path)?;
    report::table(&selected, &results, &baseline);
    report::ratios(&results);
    let json_path = bins.dir.join("results.json");
    report::write_json(&json_path, &selected, &results)?;
    println!("\nresults: {}", json_path.display());
    println!(
        "profiles: {}/<row>-2n.out (e.g. callgrind_annotate --inclusive=yes {}/create-async-ct-2n.out)",
        out.display(),
        out.display()
    );
    if opts.update {
        baseline::update(&baseline_path, &baseline, &results)?;
        println!("baseline updated: {}", baseline_path.display());
    }
    if opts.check {
        baseline::check(&results, &baseline)?;
    }
    Ok(())
}
