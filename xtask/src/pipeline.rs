//! The machinery under `cargo xtask ci`: named steps in lanes, lanes side
//! by side in stages, each step timed (wall clock and CPU).
//!
//! The pipeline itself, the list of steps, is in [`crate::ci`]; this file
//! only runs it. A stage's lanes run at the same time, each in a `cargo
//! xtask ci-lane S L` process of its own whose output goes to
//! `<target dir>/ci-logs/<stage>-<lane>.log` and is printed when the lane
//! ends (so lanes do not interleave). A stage of one lane runs in this
//! process, its output live. A lane stops at its first failing step; a
//! stage waits for all its lanes; the pipeline stops after a stage with a
//! failure. Whatever happens, the table of every step's wall and CPU
//! seconds is printed at the end.
//!
//! CPU time is user + system time of the step's processes (xtask itself,
//! cargo, rustc, the tests, the tools), read from `/proc/self/stat` (this
//! process and the children it waited for). On a shared machine wall time
//! depends on the neighbours; CPU time much less so.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use crate::util::{cpu_seconds, target_dir};

/// What a step runs.
pub type StepFn = fn() -> Result<(), String>;

/// One named step of the pipeline.
pub struct Step {
    /// Short, unique, kebab-case (`clippy`, `bench-cost`).
    pub name: &'static str,
    /// The check.
    pub run: StepFn,
}

/// A step (a `const fn`, for the pipeline's table).
pub const fn step(name: &'static str, run: StepFn) -> Step {
    Step { name, run }
}

/// Steps run in order, in one process.
pub type Lane = &'static [Step];

/// Lanes run side by side.
pub struct Stage {
    /// What the stage is for, as printed.
    pub name: &'static str,
    /// Its lanes; one lane runs in this process.
    pub lanes: &'static [Lane],
}

/// Which part of the pipeline to run.
pub enum Select {
    /// Every stage.
    All,
    /// These steps, one after the other, in pipeline order.
    Only(Vec<String>),
    /// One stage (index from 0), its lanes side by side.
    Stage(usize),
}

/// One step's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    pub stage: usize,
    pub lane: usize,
    pub step: String,
    pub wall: f64,
    pub cpu: Option<f64>,
    pub ok: bool,
}

/// Runs one step here, timed; prints its line.
fn run_step(stage: usize, lane: usize, step: &Step) -> (Timing, Result<(), String>) {
    eprintln!("\n==== step {}", step.name);
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let result = (step.run)();
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu0)
        .map(|(after, before)| after - before);
    let timing = Timing {
        stage,
        lane,
        step: step.name.to_owned(),
        wall,
        cpu,
        ok: result.is_ok(),
    };
    eprintln!("==== step {} {}", step.name, describe(&timing));
    (timing, result)
}

fn describe(t: &Timing) -> String {
    let cpu = t
        .cpu
        .map_or_else(|| "CPU n/a".to_owned(), |c| format!("{c:.1} s CPU"));
    format!(
        "{} in {:.1} s wall, {cpu}",
        if t.ok { "passed" } else { "FAILED" },
        t.wall
    )
}

/// Runs a lane's steps in order, stopping at the first failure.
fn run_lane(stage: usize, lane: usize, steps: Lane) -> (Vec<Timing>, Result<(), String>) {
    let mut timings = Vec::new();
    for step in steps {
        let (timing, result) = run_step(stage, lane, step);
        timings.push(timing);
        if let Err(e) = result {
            return (timings, Err(format!("{}: {e}", step.name)));
        }
    }
    (timings, Ok(()))
}

/// `cargo xtask ci-lane S L` (internal): runs lane L of stage S and writes
/// its timings, one line per step, to `$XTASK_CI_REPORT`.
pub fn lane_main(pipeline: &[Stage], args: &[String]) -> Result<(), String> {
    let index = |i: usize| -> Result<usize, String> {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| "usage: cargo xtask ci-lane STAGE LANE (internal)".to_owned())
    };
    let (s, l) = (index(0)?, index(1)?);
    let steps = pipeline
        .get(s)
        .and_then(|stage| stage.lanes.get(l))
        .ok_or_else(|| format!("no lane {l} in stage {s}"))?;
    let (timings, result) = run_lane(s, l, steps);
    if let Ok(report) = std::env::var("XTASK_CI_REPORT") {
        let text: String = timings.iter().map(|t| encode(t) + "\n").collect();
        std::fs::write(&report, text).map_err(|e| format!("{report}: {e}"))?;
    }
    result
}

/// A timing as one line: `stage lane ok wall cpu name` (`cpu` is `-` when
/// unknown).
fn encode(t: &Timing) -> String {
    let cpu = t.cpu.map_or_else(|| "-".to_owned(), |c| format!("{c:.3}"));
    format!(
        "{} {} {} {:.3} {cpu} {}",
        t.stage,
        t.lane,
        u8::from(t.ok),
        t.wall,
        t.step
    )
}

fn decode(line: &str) -> Option<Timing> {
    let mut f = line.splitn(6, ' ');
    Some(Timing {
        stage: f.next()?.parse().ok()?,
        lane: f.next()?.parse().ok()?,
        ok: f.next()? == "1",
        wall: f.next()?.parse().ok()?,
        cpu: f.next().and_then(|c| c.parse().ok()),
        step: f.next()?.to_owned(),
    })
}

/// A lane running in its own process.
struct Running {
    lane: usize,
    first: &'static str,
    log: PathBuf,
    report: PathBuf,
    child: std::process::Child,
    start: Instant,
}

static LANE_EXE: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The program the lanes run: a copy of this xtask binary, made once,
/// before any step. A step that builds the workspace (`debug-build`, with
/// the whole workspace's features) may rebuild xtask and replace the file
/// this process was started from; the lanes of later stages must not
/// depend on it.
fn lane_exe() -> Result<PathBuf, String> {
    LANE_EXE
        .get_or_init(|| {
            let own = std::env::current_exe().map_err(|e| format!("xtask's own path: {e}"))?;
            let dir = target_dir()?.join("ci-logs");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let copy = dir.join(format!("xtask-lanes-{}", std::process::id()));
            std::fs::copy(&own, &copy)
                .map_err(|e| format!("copying {} to {}: {e}", own.display(), copy.display()))?;
            Ok(copy)
        })
        .clone()
}

/// Runs a stage's lanes side by side; returns every step's timing, the
/// stage's wall time, and the failures.
fn run_parallel(stage: usize, lanes: &[Lane]) -> Result<(Vec<Timing>, Vec<String>), String> {
    let logs = target_dir()?.join("ci-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let exe = lane_exe()?;
    let mut running = Vec::new();
    for (lane, steps) in lanes.iter().enumerate() {
        let first = steps.first().map_or("empty", |s| s.name);
        let log = logs.join(format!("{stage}-{lane}-{first}.log"));
        let report = logs.join(format!("{stage}-{lane}-{first}.timings"));
        let _ = std::fs::remove_file(&report);
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(&exe)
            .args(["ci-lane", &stage.to_string(), &lane.to_string()])
            .env("XTASK_CI_REPORT", &report)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("could not start lane {first}: {e}"))?;
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        eprintln!(
            "  lane {lane}: {} (log: {})",
            names.join(", "),
            log.display()
        );
        running.push(Running {
            lane,
            first,
            log,
            report,
            child,
            start: Instant::now(),
        });
    }
    let mut timings = Vec::new();
    let mut failures = Vec::new();
    // Print each lane's log as it ends.
    while !running.is_empty() {
        let mut i = 0;
        while i < running.len() {
            let done = running[i]
                .child
                .try_wait()
                .map_err(|e| format!("lane {}: {e}", running[i].first))?;
            let Some(status) = done else {
                i += 1;
                continue;
            };
            let lane = running.swap_remove(i);
            let log = std::fs::read_to_string(&lane.log).unwrap_or_default();
            eprintln!(
                "\n---- lane {} ({}), {:.1} s, {} ----\n{log}---- end of lane {} ----",
                lane.lane,
                lane.first,
                lane.start.elapsed().as_secs_f64(),
                if status.success() { "passed" } else { "FAILED" },
                lane.lane
            );
            let text = std::fs::read_to_string(&lane.report).unwrap_or_default();
            timings.extend(text.lines().filter_map(decode));
            if !status.success() {
                failures.push(format!(
                    "lane {} ({}) failed; its log: {}",
                    lane.lane,
                    lane.first,
                    lane.log.display()
                ));
            }
        }
        if !running.is_empty() {
            // Polling, twice a second: the lanes run for minutes.
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    timings.sort_by_key(|t| t.lane);
    Ok((timings, failures))
}

/// Runs the selected part of the pipeline; prints the timing table at the
/// end.
pub fn run(pipeline: &[Stage], select: &Select) -> Result<(), String> {
    if let Select::Only(names) = select {
        for name in names {
            if !pipeline
                .iter()
                .flat_map(|s| s.lanes.iter().copied().flatten())
                .any(|step| step.name == name)
            {
                return Err(format!("no step {name:?} (see `cargo xtask ci --list`)"));
            }
        }
    }
    if !matches!(select, Select::Only(_)) {
        lane_exe()?;
    }
    let start = Instant::now();
    let mut timings: Vec<Timing> = Vec::new();
    let mut stage_walls: Vec<(usize, f64)> = Vec::new();
    let mut failure = None;
    for (s, stage) in pipeline.iter().enumerate() {
        if matches!(select, Select::Stage(n) if *n != s) {
            continue;
        }
        let t0 = Instant::now();
        if let Select::Only(names) = select {
            for (l, lane) in stage.lanes.iter().enumerate() {
                for step in lane.iter().filter(|st| names.iter().any(|n| n == st.name)) {
                    let (timing, result) = run_step(s, l, step);
                    timings.push(timing);
                    if let Err(e) = result {
                        failure = Some(format!("{}: {e}", step.name));
                        break;
                    }
                }
            }
        } else if stage.lanes.len() == 1 {
            eprintln!(
                "\n======== stage {} of {}: {}",
                s + 1,
                pipeline.len(),
                stage.name
            );
            let (t, result) = run_lane(s, 0, stage.lanes[0]);
            timings.extend(t);
            if let Err(e) = result {
                failure = Some(e);
            }
        } else {
            eprintln!(
                "\n======== stage {} of {}: {} ({} lanes side by side)",
                s + 1,
                pipeline.len(),
                stage.name,
                stage.lanes.len()
            );
            let (t, failures) = run_parallel(s, stage.lanes)?;
            timings.extend(t);
            if !failures.is_empty() {
                failure = Some(failures.join("\n"));
            }
        }
        if timings.iter().any(|t| t.stage == s) {
            stage_walls.push((s, t0.elapsed().as_secs_f64()));
        }
        if failure.is_some() {
            break;
        }
    }
    if let Some(Ok(copy)) = LANE_EXE.get() {
        let _ = std::fs::remove_file(copy);
    }
    eprintln!(
        "{}",
        table(
            pipeline,
            &timings,
            &stage_walls,
            start.elapsed().as_secs_f64()
        )
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The closing table: every step, its stage and lane, wall and CPU
/// seconds; each stage's wall time; the totals.
fn table(
    pipeline: &[Stage],
    timings: &[Timing],
    stage_walls: &[(usize, f64)],
    total: f64,
) -> String {
    let mut out = String::from("\nCI steps (seconds; the lanes of a stage ran side by side)\n");
    let _ = writeln!(
        out,
        "| {:<18} | {:>4} | {:<16} | {:>8} | {:>8} | {:<6} |",
        "stage", "lane", "step", "wall", "CPU", ""
    );
    let _ = writeln!(
        out,
        "|:{}|{}:|:{}|{}:|{}:|:{}|",
        "-".repeat(19),
        "-".repeat(5),
        "-".repeat(17),
        "-".repeat(9),
        "-".repeat(9),
        "-".repeat(7)
    );
    let mut cpu_total = 0.0;
    for (s, wall) in stage_walls {
        let name = pipeline.get(*s).map_or("?", |st| st.name);
        for t in timings.iter().filter(|t| t.stage == *s) {
            cpu_total += t.cpu.unwrap_or(0.0);
            let _ = writeln!(
                out,
                "| {:<18} | {:>4} | {:<16} | {:>8.1} | {:>8} | {:<6} |",
                truncate(name, 18),
                t.lane,
                t.step,
                t.wall,
                t.cpu
                    .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.1}")),
                if t.ok { "ok" } else { "FAILED" }
            );
        }
        let _ = writeln!(
            out,
            "| {:<18} | {:>4} | {:<16} | {:>8.1} | {:>8} | {:<6} |",
            truncate(name, 18),
            "",
            "(stage)",
            wall,
            "",
            ""
        );
    }
    let _ = writeln!(
        out,
        "total: {total:.1} s wall ({:.1} min), {cpu_total:.1} s CPU",
        total / 60.0
    );
    out
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `cargo xtask ci --list`: the stages, lanes and steps.
pub fn list(pipeline: &[Stage]) -> String {
    let mut out = String::new();
    for (s, stage) in pipeline.iter().enumerate() {
        let _ = writeln!(out, "stage {}: {}", s + 1, stage.name);
        for (l, lane) in stage.lanes.iter().enumerate() {
            let names: Vec<&str> = lane.iter().map(|st| st.name).collect();
            let _ = writeln!(out, "  lane {l}: {}", names.join(" -> "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<(), String> {
        Ok(())
    }

    fn fails() -> Result<(), String> {
        Err("boom".into())
    }

    #[test]
    fn timings_survive_the_report_file() {
        let t = Timing {
            stage: 2,
            lane: 1,
            step: "bench-cost".into(),
            wall: 12.5,
            cpu: Some(3.25),
            ok: false,
        };
        assert_eq!(decode(&encode(&t)), Some(t.clone()));
        let no_cpu = Timing { cpu: None, ..t };
        assert_eq!(decode(&encode(&no_cpu)), Some(no_cpu));
        assert_eq!(decode("garbage"), None);
    }

    #[test]
    fn a_lane_stops_at_its_first_failure_and_names_it() {
        static LANE: &[Step] = &[step("a", ok), step("b", fails), step("c", ok)];
        let (timings, result) = run_lane(0, 0, LANE);
        assert_eq!(
            timings
                .iter()
                .map(|t| (t.step.as_str(), t.ok))
                .collect::<Vec<_>>(),
            [("a", true), ("b", false)]
        );
        assert_eq!(result.unwrap_err(), "b: boom");
    }

    #[test]
    fn the_table_and_the_list_name_every_step() {
        static PIPELINE: &[Stage] = &[
            Stage {
                name: "one",
                lanes: &[&[step("a", ok)], &[step("b", ok), step("c", ok)]],
            },
            Stage {
                name: "two",
                lanes: &[&[step("d", fails)]],
            },
        ];
        let listed = list(PIPELINE);
        assert!(
            listed.contains("stage 1: one\n  lane 0: a\n  lane 1: b -> c\n"),
            "{listed}"
        );
        let timing = |stage, lane, step: &str, ok| Timing {
            stage,
            lane,
            step: step.into(),
            wall: 1.0,
            cpu: Some(0.5),
            ok,
        };
        let t = [timing(0, 0, "a", true), timing(1, 0, "d", false)];
        let text = table(PIPELINE, &t, &[(0, 2.0), (1, 1.0)], 3.0);
        assert!(
            text.contains("| a ") && text.contains("FAILED") && text.contains("(stage)"),
            "{text}"
        );
        assert!(
            text.contains("total: 3.0 s wall (0.1 min), 1.0 s CPU"),
            "{text}"
        );
        // --only with a name that is not a step.
        let only = Select::Only(vec!["nope".to_owned()]);
        assert!(
            run(PIPELINE, &only)
                .unwrap_err()
                .contains("no step \"nope\"")
        );
    }
}
