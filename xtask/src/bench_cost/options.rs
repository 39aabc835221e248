//! The command line of `cargo xtask bench-cost`.

use super::rows;

/// The options of one invocation.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Options {
    /// The quick set, with the quick N (CI).
    pub quick: bool,
    /// Fail on a row more than the tolerance above the baseline.
    pub check: bool,
    /// Rewrite the baseline's measured rows.
    pub update: bool,
    /// Only these rows (`--rows a,b`).
    pub only: Option<Vec<String>>,
    /// Run each row natively too, for the CPU-time column (off: `--no-cpu`).
    pub native: bool,
}

pub(super) fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        native: true,
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--check" => o.check = true,
            "--update-baseline" => o.update = true,
            "--no-cpu" => o.native = false,
            "--rows" => {
                let v = it.next().ok_or("--rows needs a comma-separated list")?;
                let names: Vec<String> = v.split(',').map(str::to_owned).collect();
                for n in &names {
                    rows::known(n)?;
                }
                o.only = Some(names);
            }
            other => return Err(format!("bench-cost: unknown argument {other:?}")),
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_and_rows() {
        let o = parse(&args(&["--quick", "--check", "--rows", "renew,validate"])).unwrap();
        assert!(o.quick && o.check && o.native && !o.update);
        assert_eq!(o.only, Some(args(&["renew", "validate"])));
        assert!(!parse(&args(&["--no-cpu"])).unwrap().native);
        assert!(parse(&args(&["--rows"])).is_err());
        assert!(parse(&args(&["--rows", "nope"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
    }
}
