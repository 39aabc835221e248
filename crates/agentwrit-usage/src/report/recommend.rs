//! The recommended minimal scope set: the fewest scopes, in the broker's
//! syntax and within the grant, that cover every allowed use seen.

use std::collections::{BTreeMap, BTreeSet};

use agentwrit_scope::Scope;

use super::{Recommendation, ScopeCount};

/// How many allowed uses `granted` covered, and the identifiers they had.
pub(super) fn covered_by(granted: &str, used: &[ScopeCount]) -> (u64, Vec<String>) {
    let Ok(g) = Scope::parse(granted) else {
        return (0, Vec::new());
    };
    let mut uses = 0;
    let mut ids = BTreeSet::new();
    for u in used {
        if let Ok(s) = Scope::parse(&u.scope)
            && g.covers(&s)
        {
            uses += u.count;
            ids.insert(s.identifier().to_owned());
        }
    }
    (uses, ids.into_iter().collect())
}

/// The recommended minimal scope set for the allowed uses `used` of a
/// task (or a task kind) granted `granted`: per action and resource, the
/// exact scope when one identifier was used; when several were, the
/// wildcard `action:resource:*` if it is within the grant (listing the
/// identifiers it matched), else each exact scope. Never wider than the
/// grant; every allowed use is covered.
///
/// ```
/// use agentwrit_usage::recommend;
/// let rec = recommend(&["read:data:c-1", "read:data:c-2", "write:notes:c-1"], &["read:data:*", "write:notes:*", "delete:data:*"]);
/// let scopes: Vec<&str> = rec.iter().map(|r| r.scope.as_str()).collect();
/// assert_eq!(scopes, ["read:data:*", "write:notes:c-1"]);
/// assert_eq!(rec[0].matched, ["c-1", "c-2"]);
/// ```
#[must_use]
pub fn recommend<U: AsRef<str>, G: AsRef<str>>(used: &[U], granted: &[G]) -> Vec<Recommendation> {
    let mut groups: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for u in used {
        if let Ok(s) = Scope::parse(u.as_ref()) {
            groups
                .entry((s.action(), s.resource()))
                .or_default()
                .insert(s.identifier());
        }
    }
    let mut out = Vec::new();
    for ((action, resource), ids) in groups {
        let wildcard = format!("{action}:{resource}:*");
        if ids.contains("*") {
            out.push(Recommendation {
                scope: wildcard,
                matched: ids
                    .iter()
                    .filter(|i| **i != "*")
                    .map(|i| (*i).to_owned())
                    .collect(),
            });
        } else if ids.len() == 1 {
            let id = ids.iter().next().copied().unwrap_or_default();
            out.push(Recommendation {
                scope: format!("{action}:{resource}:{id}"),
                matched: Vec::new(),
            });
        } else if agentwrit_scope::scope_is_subset(&[wildcard.as_str()], granted) {
            out.push(Recommendation {
                scope: wildcard,
                matched: ids.iter().map(|i| (*i).to_owned()).collect(),
            });
        } else {
            out.extend(ids.iter().map(|id| Recommendation {
                scope: format!("{action}:{resource}:{id}"),
                matched: Vec::new(),
            }));
        }
    }
    out
}
