//! The child's environment: `agentwrit`'s own, without the secrets that
//! could mint credentials (by name and by value) and without a parent
//! run's stale outputs, plus this run's variables.

use std::ffi::{OsStr, OsString};

/// The variables a run sets, removed first so that a nested run never
/// passes on its parent's (a stale token file, an endpoint of another run).
const OUTPUTS: [&str; 8] = [
    "AGENTWRIT_TOKEN",
    "AGENTWRIT_AGENT_ID",
    "AGENTWRIT_SCOPE",
    "AGENTWRIT_TOKEN_EXPIRES_AT",
    "AGENTWRIT_TOKEN_FILE",
    "AGENTWRIT_TOKEN_DIR",
    "AGENTWRIT_CREDENTIALS_URL",
    "AGENTWRIT_CREDENTIALS_AUTH",
];

/// The child's environment: `base` without the variables named in
/// `names`, without every variable whose value is one of `secrets`
/// (whatever its name: `AA_ADMIN_SECRET`, a CI's masked variable, a
/// copy under another name), without [`OUTPUTS`], then `set`.
pub fn build(
    base: impl IntoIterator<Item = (OsString, OsString)>,
    names: &[String],
    secrets: &[String],
    set: Vec<(String, OsString)>,
) -> Vec<(OsString, OsString)> {
    let is_secret = |value: &OsStr| {
        let bytes = value.as_encoded_bytes();
        let trimmed = value.to_str().map(str::trim);
        secrets
            .iter()
            .filter(|s| !s.is_empty())
            .any(|s| bytes == s.as_bytes() || trimmed == Some(s.as_str()))
    };
    let mut env: Vec<(OsString, OsString)> = base
        .into_iter()
        .filter(|(name, value)| {
            !names.iter().any(|n| name == n.as_str())
                && !OUTPUTS.iter().any(|n| name == *n)
                && !is_secret(value)
        })
        .collect();
    for (name, value) in set {
        env.retain(|(n, _)| n != name.as_str());
        env.push((OsString::from(name), value));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn secrets_go_by_name_and_by_value() {
        let env = build(
            pairs(&[
                ("PATH", "/bin"),
                ("AGENTWRIT_CLIENT_SECRET", "s3cret"),
                ("AA_ADMIN_SECRET", "adm1n"),
                ("AGENTWRIT_TEST_ADMIN_SECRET", "adm1n\n"),
                ("MY_LT", "launch"),
                ("COPY_OF_LT", "launch"),
                ("AGENTWRIT_TOKEN_FILE", "/stale"),
                ("EMPTY", ""),
            ]),
            &["AGENTWRIT_CLIENT_SECRET".into(), "MY_LT".into()],
            &[
                "s3cret".into(),
                "adm1n".into(),
                "launch".into(),
                String::new(),
            ],
            vec![("AGENTWRIT_TOKEN".into(), "tok".into())],
        );
        let names: Vec<&str> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "EMPTY", "AGENTWRIT_TOKEN"]);
    }
}
