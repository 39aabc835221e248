//! What a run asks for, from the command line and the config file
//! (`agentwrit.toml`): the credentials, each its own agent, and where
//! their tokens go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{RunArgs, parse_ttl};
use crate::error::CliError;

/// The orchestration id when none is given.
pub const DEFAULT_ORCH: &str = "agentwrit-cli";
/// The task id when none is given.
pub const DEFAULT_TASK: &str = "run";
/// The config file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG: &str = "agentwrit.toml";

/// One credential: an agent of its own.
#[derive(Debug, Clone)]
pub struct Credential {
    /// `None` for the default credential (`--scope`, `AGENTWRIT_TOKEN`).
    pub name: Option<String>,
    /// The orchestration id.
    pub orch: String,
    /// The task id.
    pub task: String,
    /// The scopes asked for.
    pub scope: Vec<String>,
    /// The lifetime asked for.
    pub ttl: Option<Duration>,
    /// The launch token's label.
    pub label: Option<String>,
    /// Register with the launch token in this variable.
    pub launch_token_env: Option<String>,
    /// The file that holds its current token (`--token-file`, a config
    /// `token_file`, or its place in `--token-dir`).
    pub token_file: Option<PathBuf>,
}

impl Credential {
    /// `AGENTWRIT_` or `AGENTWRIT_NAME_`: the prefix of its variables.
    pub fn env_prefix(&self) -> String {
        match &self.name {
            None => "AGENTWRIT_".to_owned(),
            Some(name) => format!("AGENTWRIT_{}_", name.to_ascii_uppercase()),
        }
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        match &self.name {
            None => "the token".to_owned(),
            Some(name) => format!("the token of credential {name}"),
        }
    }

    /// Its path on the credential endpoint: `` (the root) or `name`.
    pub fn endpoint_path(&self) -> String {
        self.name
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default()
    }

    /// Its file name in `--token-dir`.
    fn file_name(&self) -> String {
        match &self.name {
            None => "token".to_owned(),
            Some(name) => format!("{}.token", name.to_ascii_lowercase()),
        }
    }
}

/// The run's credentials and outputs.
#[derive(Debug)]
pub struct Plan {
    /// Every credential (the default one first, when there is one).
    pub credentials: Vec<Credential>,
    /// `--token-dir` (or the config's `token_dir`).
    pub token_dir: Option<PathBuf>,
    /// `--serve` (or the config's `serve = true`).
    pub serve: bool,
}

impl Plan {
    /// Whether a renewed token of `credential` reaches the child (a
    /// file or the endpoint): only then is it renewed.
    pub fn renews(&self, credential: &Credential) -> bool {
        self.serve || credential.token_file.is_some()
    }

    /// The plan of `args`, with the config file (`--config`, or
    /// `./agentwrit.toml` when it exists).
    pub fn from_args(args: &RunArgs) -> Result<Plan, CliError> {
        let (file, base) = match &args.config {
            Some(path) => (Some(ConfigFile::read(path)?), dir_of(path)),
            None => {
                let path = Path::new(DEFAULT_CONFIG);
                match path.is_file() {
                    true => (Some(ConfigFile::read(path)?), PathBuf::from(".")),
                    false => (None, PathBuf::from(".")),
                }
            }
        };
        let file = file.unwrap_or_default();
        let relative = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        let file_ttl = file.ttl.as_ref().map(Ttl::duration).transpose()?;
        let orch = |own: &Option<String>| {
            own.clone()
                .or_else(|| args.orch.clone())
                .or_else(|| file.orch.clone())
                .unwrap_or_else(|| DEFAULT_ORCH.to_owned())
        };
        let task = |own: &Option<String>| {
            own.clone()
                .or_else(|| args.task.clone())
                .or_else(|| file.task.clone())
                .unwrap_or_else(|| DEFAULT_TASK.to_owned())
        };
        let mut credentials = Vec::new();

        // The default credential: --scope, or the file's top-level scope.
        let default_scope = match (&args.scope, &file.scope) {
            (cli, _) if !cli.is_empty() => cli.clone(),
            (_, Some(scopes)) => scopes.list(),
            _ => Vec::new(),
        };
        if !default_scope.is_empty() {
            let launch_token_env = args
                .launch_token_env
                .clone()
                .or_else(|| file.launch_token_env.clone());
            credentials.push(Credential {
                name: None,
                orch: orch(&None),
                task: task(&None),
                scope: default_scope,
                ttl: args.ttl.or(file_ttl),
                label: args.label.clone().or_else(|| file.label.clone()),
                launch_token_env,
                token_file: args
                    .token_file
                    .clone()
                    .or_else(|| file.token_file.as_ref().map(relative)),
            });
        } else if args.token_file.is_some() || args.launch_token_env.is_some() {
            return Err(CliError::Usage(
                "--token-file and --launch-token-env belong to the default credential: give --scope too"
                    .into(),
            ));
        }

        // Named credentials: the command line's, then the file's.
        for c in &args.credential {
            credentials.push(Credential {
                name: Some(c.name.clone()),
                orch: orch(&None),
                task: task(&None),
                scope: c.scope.clone(),
                ttl: args.ttl.or(file_ttl),
                label: args.label.clone().or_else(|| file.label.clone()),
                launch_token_env: None,
                token_file: None,
            });
        }
        for (name, c) in &file.credential {
            let ttl = match &c.ttl {
                Some(t) => Some(t.duration()?),
                None => args.ttl.or(file_ttl),
            };
            credentials.push(Credential {
                name: Some(name.clone()),
                orch: orch(&c.orch),
                task: task(&c.task),
                scope: c.scope.list(),
                ttl,
                label: c
                    .label
                    .clone()
                    .or_else(|| args.label.clone())
                    .or_else(|| file.label.clone()),
                launch_token_env: c.launch_token_env.clone(),
                token_file: c.token_file.as_ref().map(relative),
            });
        }
        if credentials.is_empty() {
            return Err(CliError::Usage(
                "no credential: give --scope, --credential NAME=SCOPES, or a config file with credentials"
                    .into(),
            ));
        }

        let token_dir = args
            .token_dir
            .clone()
            .or_else(|| file.token_dir.as_ref().map(relative));
        if let Some(dir) = &token_dir {
            for c in &mut credentials {
                if c.token_file.is_none() {
                    c.token_file = Some(dir.join(c.file_name()));
                }
            }
        }
        let plan = Plan {
            credentials,
            token_dir,
            serve: args.serve || file.serve.unwrap_or(false),
        };
        plan.check()?;
        Ok(plan)
    }

    /// Names, scopes and options that cannot work together.
    fn check(&self) -> Result<(), CliError> {
        let mut seen: Vec<String> = Vec::new();
        let mut files: Vec<&PathBuf> = Vec::new();
        for c in &self.credentials {
            if let Some(name) = &c.name {
                check_name(name)?;
                let key = name.to_ascii_uppercase();
                if seen.contains(&key) {
                    return Err(CliError::Usage(format!(
                        "credential {name:?} is given twice (names are compared without case)"
                    )));
                }
                seen.push(key);
            }
            if c.launch_token_env.is_some() && (c.ttl.is_some() || c.label.is_some()) {
                return Err(CliError::Usage(format!(
                    "{}: a launch token's policy fixes its lifetime and label; \
                     --ttl and --label (or ttl and label) cannot be used with it",
                    c.describe()
                )));
            }
            if let Some(file) = &c.token_file {
                if files.contains(&file) {
                    return Err(CliError::Usage(format!(
                        "two credentials would share the token file {}",
                        file.display()
                    )));
                }
                files.push(file);
            }
        }
        let mut vars: Vec<&String> = self
            .credentials
            .iter()
            .filter_map(|c| c.launch_token_env.as_ref())
            .collect();
        vars.sort();
        if vars.windows(2).any(|w| w[0] == w[1]) {
            return Err(CliError::Usage(
                "a launch token registers one agent: give each credential its own launch_token_env"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Every scope of every credential (the embedded broker's app ceiling).
    pub fn all_scopes(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for s in self.credentials.iter().flat_map(|c| &c.scope) {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        all
    }
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A credential name: a letter, then letters, digits and `_` (it becomes
/// part of a variable name).
fn check_name(name: &str) -> Result<(), CliError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "credential name {name:?}: use a letter, then letters, digits or `_` (at most 64)"
        )))
    }
}

/// `agentwrit.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    orch: Option<String>,
    task: Option<String>,
    ttl: Option<Ttl>,
    label: Option<String>,
    scope: Option<Scopes>,
    launch_token_env: Option<String>,
    token_file: Option<PathBuf>,
    token_dir: Option<PathBuf>,
    serve: Option<bool>,
    #[serde(default)]
    credential: BTreeMap<String, CredentialFile>,
}

/// A `[credential.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialFile {
    scope: Scopes,
    orch: Option<String>,
    task: Option<String>,
    ttl: Option<Ttl>,
    label: Option<String>,
    launch_token_env: Option<String>,
    token_file: Option<PathBuf>,
}

/// `"read:data:a"`, `"read:data:a,write:data:b"` or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scopes {
    One(String),
    Many(Vec<String>),
}

impl Scopes {
    fn list(&self) -> Vec<String> {
        let split = |s: &String| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match self {
            Scopes::One(s) => split(s),
            Scopes::Many(list) => list.iter().flat_map(split).collect(),
        }
    }
}

/// `300` or `"5m"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ttl {
    Seconds(u64),
    Text(String),
}

impl Ttl {
    fn duration(&self) -> Result<Duration, CliError> {
        let text = match self {
            Ttl::Seconds(n) => n.to_string(),
            Ttl::Text(t) => t.clone(),
        };
        parse_ttl(&text).map_err(|e| CliError::Usage(format!("config ttl: {e}")))
    }
}

impl ConfigFile {
    fn read(path: &Path) -> Result<ConfigFile, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("the config file {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| CliError::Usage(format!("the config file {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn plan(args: &[&str]) -> Result<Plan, CliError> {
        let mut argv = vec!["agentwrit", "run"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--", "true"]);
        let cli =
            crate::cli::Cli::try_parse_from(argv).map_err(|e| CliError::Usage(e.to_string()))?;
        match cli.command {
            crate::cli::Command::Run(run) => Plan::from_args(&run),
            _ => unreachable!(),
        }
    }

    fn with_config(text: &str, args: &[&str]) -> Result<Plan, CliError> {
        let dir = std::env::temp_dir().join(format!(
            "agentwrit-plan-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agentwrit.toml");
        std::fs::write(&path, text).unwrap();
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(args);
        let result = plan(&all);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn the_default_and_named_credentials() {
        let p = plan(&[
            "--scope",
            "read:data:a",
            "--credential",
            "db=read:data:b,write:data:b",
            "--orch",
            "o",
        ])
        .unwrap();
        assert_eq!(p.credentials.len(), 2);
        assert_eq!(p.credentials[0].name, None);
        assert_eq!(p.credentials[0].env_prefix(), "AGENTWRIT_");
        assert_eq!(p.credentials[1].env_prefix(), "AGENTWRIT_DB_");
        assert_eq!(p.credentials[1].scope, ["read:data:b", "write:data:b"]);
        assert_eq!(p.credentials[1].orch, "o");
        assert_eq!(p.credentials[1].task, DEFAULT_TASK);
        assert!(!p.renews(&p.credentials[0]), "env only: not renewed");
    }

    #[test]
    fn token_dir_gives_every_credential_a_file_and_renewal() {
        let p = plan(&[
            "--scope",
            "read:data:a",
            "--credential",
            "Db=read:data:b",
            "--token-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(
            p.credentials[0].token_file,
            Some(PathBuf::from("/tmp/x/token"))
        );
        assert_eq!(
            p.credentials[1].token_file,
            Some(PathBuf::from("/tmp/x/db.token"))
        );
        assert!(p.credentials.iter().all(|c| p.renews(c)));
        assert_eq!(p.credentials[1].endpoint_path(), "db");
    }

    #[test]
    fn refusals() {
        for bad in [
            vec!["--credential", "1db=read:data:a"],
            vec![
                "--credential",
                "db=read:data:a",
                "--credential",
                "DB=read:data:b",
            ],
            vec!["--credential", "a-b=read:data:a"],
            vec!["--token-file", "x", "--credential", "db=read:data:a"],
            vec![],
        ] {
            assert!(plan(&bad).is_err(), "{bad:?}");
        }
        // clap: --ttl 0, and --ttl/--label with a launch token.
        assert!(plan(&["--scope", "read:data:a", "--ttl", "0"]).is_err());
        assert!(
            plan(&[
                "--scope",
                "read:data:a",
                "--ttl",
                "5m",
                "--launch-token-env",
                "LT"
            ])
            .is_err()
        );
        assert!(
            plan(&[
                "--scope",
                "read:data:a",
                "--label",
                "l",
                "--launch-token-env",
                "LT"
            ])
            .is_err()
        );
    }

    #[test]
    fn a_config_file_with_two_credentials() {
        let p = with_config(
            r#"
orch = "reports"
ttl = "10m"
token_dir = "tokens"

[credential.reader]
scope = ["read:data:*"]
task = "nightly"

[credential.writer]
scope = "write:data:x,write:data:y"
ttl = 60
"#,
            &[],
        )
        .unwrap();
        assert_eq!(p.credentials.len(), 2);
        let reader = &p.credentials[0];
        assert_eq!(reader.name.as_deref(), Some("reader"));
        assert_eq!(
            (reader.orch.as_str(), reader.task.as_str()),
            ("reports", "nightly")
        );
        assert_eq!(reader.ttl, Some(Duration::from_secs(600)));
        assert!(
            reader
                .token_file
                .as_ref()
                .unwrap()
                .ends_with("tokens/reader.token")
        );
        let writer = &p.credentials[1];
        assert_eq!(writer.scope, ["write:data:x", "write:data:y"]);
        assert_eq!(writer.ttl, Some(Duration::from_secs(60)));
        assert!(with_config("unknown = 1\n", &[]).is_err());
        assert!(with_config("[credential.x]\nscope = \"read:data:a\"\nttl = 0\n", &[]).is_err());
        assert!(
            with_config(
                "[credential.x]\nscope = \"read:data:a\"\nlaunch_token_env = \"LT\"\nlabel = \"l\"\n",
                &[]
            )
            .is_err()
        );
    }
}
