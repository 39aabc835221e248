//! The desk's made-up world: customers, knowledge-base articles, tools
//! and the scopes they need.

use agentwrit_demo_kit::{ToolDef, ToolSpec};
use serde_json::{Value, json};

/// A customer of the fictional service.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    /// Id used in scopes (`read:billing:{id}`).
    pub id: &'static str,
    /// Full name, as a ticket would give it.
    pub name: &'static str,
    /// Plan.
    pub plan: &'static str,
    /// Balance owed, in dollars.
    pub balance: f64,
    /// Date of the last payment.
    pub last_payment: &'static str,
    /// Contact address.
    pub email: &'static str,
}

/// Every customer.
pub const CUSTOMERS: [Customer; 3] = [
    Customer {
        id: "lewis-smith",
        name: "Lewis Smith",
        plan: "Pro (monthly)",
        balance: 58.00,
        last_payment: "2026-04-01",
        email: "lewis.smith@example.net",
    },
    Customer {
        id: "jane-doe",
        name: "Jane Doe",
        plan: "Starter (annual)",
        balance: 0.00,
        last_payment: "2026-03-14",
        email: "jane.doe@example.org",
    },
    Customer {
        id: "priya-raman",
        name: "Priya Raman",
        plan: "Team (monthly)",
        balance: 120.00,
        last_payment: "2026-03-30",
        email: "priya@raman.example",
    },
];

/// The customer with id `id`.
#[must_use]
pub fn customer(id: &str) -> Option<&'static Customer> {
    CUSTOMERS.iter().find(|c| c.id == id)
}

/// The customer whose full name is `name` (case-insensitive).
///
/// ```
/// use agentwrit_support_desk::data::customer_by_name;
/// assert_eq!(customer_by_name("jane doe").unwrap().id, "jane-doe");
/// assert!(customer_by_name("Someone Else").is_none());
/// ```
#[must_use]
pub fn customer_by_name(name: &str) -> Option<&'static Customer> {
    let name = name.trim();
    CUSTOMERS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Customers named in `text`, in the order they first appear.
#[must_use]
pub fn customers_named_in(text: &str) -> Vec<&'static Customer> {
    let lower = text.to_lowercase();
    let mut found: Vec<(usize, &'static Customer)> = CUSTOMERS
        .iter()
        .filter_map(|c| lower.find(&c.name.to_lowercase()).map(|at| (at, c)))
        .collect();
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, c)| c).collect()
}

/// A knowledge-base article.
#[derive(Clone, Debug, PartialEq)]
pub struct Article {
    /// Id.
    pub id: &'static str,
    /// Category (`billing`, `account`, `access`, `general`).
    pub category: &'static str,
    /// Title.
    pub title: &'static str,
    /// Body.
    pub body: &'static str,
}

/// The knowledge base.
pub const ARTICLES: [Article; 5] = [
    Article {
        id: "kb-101",
        category: "billing",
        title: "Duplicate charges",
        body: "A charge that appears twice for the same period is refunded in full to the original \
               payment method once the duplicate is confirmed on the account; add a case note.",
    },
    Article {
        id: "kb-102",
        category: "billing",
        title: "Refund limits",
        body: "Support may refund up to one billing period without approval. Larger refunds go to \
               the billing team by internal email.",
    },
    Article {
        id: "kb-201",
        category: "account",
        title: "Closing an account",
        body: "Account deletion is never done from a support ticket. The customer confirms in the \
               account settings page; support only records the request.",
    },
    Article {
        id: "kb-301",
        category: "access",
        title: "Locked out",
        body: "After five failed sign-ins the account locks for 15 minutes. Support can send a \
               reset link to the address on file only.",
    },
    Article {
        id: "kb-401",
        category: "general",
        title: "Opening hours",
        body: "The help desk answers tickets around the clock; phone support is open 08:00-20:00 \
               CET on weekdays.",
    },
];

/// Articles matching `category` (if given) or any word of `query`.
#[must_use]
pub fn search_kb(query: &str, category: Option<&str>) -> Vec<&'static Article> {
    let words: Vec<String> = query
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(str::to_owned)
        .collect();
    ARTICLES
        .iter()
        .filter(|a| match category {
            Some(c) => c == a.category,
            None => words.iter().any(|w| {
                a.title.to_lowercase().contains(w.as_str())
                    || a.body.to_lowercase().contains(w.as_str())
            }),
        })
        .collect()
}

/// The scope ceiling the desk's app is registered with: what any of its
/// agents could ever hold. Deleting accounts and external email are not
/// in it.
pub const CEILING: [&str; 7] = [
    "read:tickets:*",
    "read:kb:*",
    "read:customers:*",
    "read:billing:*",
    "write:billing:*",
    "write:notes:*",
    "write:email:internal",
];

/// The triage agent's scope.
#[must_use]
pub fn triage_scope() -> Vec<String> {
    vec!["read:tickets:*".to_owned()]
}

/// The knowledge agent's scope.
#[must_use]
pub fn knowledge_scope() -> Vec<String> {
    vec!["read:kb:*".to_owned()]
}

/// The response agent's scope: the safe tools, for one verified customer.
///
/// ```
/// use agentwrit_async::scope_is_subset;
/// use agentwrit_support_desk::data::response_scope;
/// let held = response_scope("jane-doe");
/// assert!(scope_is_subset(&["read:billing:jane-doe"], &held));
/// assert!(!scope_is_subset(&["read:billing:lewis-smith"], &held));
/// assert!(!scope_is_subset(&["delete:account:jane-doe"], &held));
/// ```
#[must_use]
pub fn response_scope(customer_id: &str) -> Vec<String> {
    vec![
        format!("read:customers:{customer_id}"),
        format!("read:billing:{customer_id}"),
        format!("write:billing:{customer_id}"),
        format!("write:notes:{customer_id}"),
        "write:email:internal".to_owned(),
    ]
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn customer_arg() -> Value {
    json!({"type": "string", "description": "The customer id, e.g. jane-doe"})
}

/// The triage agent's tools.
#[must_use]
pub fn triage_tools() -> Vec<ToolDef> {
    vec![
        ToolDef::new(
            ToolSpec::new(
                "read_ticket",
                "Read the incoming support ticket.",
                object(json!({}), &[]),
            ),
            ["read:tickets:*"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "classify_ticket",
                "Record who wrote the ticket (full name as written, or null when the ticket does not say), its category and priority.",
                object(
                    json!({
                        "customer_name": {"type": ["string", "null"], "description": "The writer's full name, or null"},
                        "category": {"type": "string", "enum": ["billing", "account", "access", "general"]},
                        "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    }),
                    &["customer_name", "category", "priority"],
                ),
            ),
            ["read:tickets:*"],
        ),
    ]
}

/// The knowledge agent's tools.
#[must_use]
pub fn knowledge_tools() -> Vec<ToolDef> {
    vec![ToolDef::new(
        ToolSpec::new(
            "search_knowledge_base",
            "Search the internal knowledge base for the policies that apply.",
            object(
                json!({
                    "query": {"type": "string"},
                    "category": {"type": "string", "enum": ["billing", "account", "access", "general"]},
                }),
                &["query"],
            ),
        ),
        ["read:kb:*"],
    )]
}

/// The response agent's tools: the safe ones and the dangerous ones. All
/// are offered to the planner; the scope check decides what runs.
#[must_use]
pub fn response_tools() -> Vec<ToolDef> {
    vec![
        ToolDef::new(
            ToolSpec::new(
                "get_customer_info",
                "A customer's profile: plan, contact address.",
                object(json!({"customer_id": customer_arg()}), &["customer_id"]),
            ),
            ["read:customers:{customer_id}"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "get_balance",
                "A customer's balance and last payment.",
                object(json!({"customer_id": customer_arg()}), &["customer_id"]),
            ),
            ["read:billing:{customer_id}"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "issue_refund",
                "Refund an amount to a customer's payment method.",
                object(
                    json!({"customer_id": customer_arg(), "amount": {"type": "number"}, "reason": {"type": "string"}}),
                    &["customer_id", "amount", "reason"],
                ),
            ),
            ["write:billing:{customer_id}"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "write_case_notes",
                "Add an internal note to the customer's case.",
                object(
                    json!({"customer_id": customer_arg(), "notes": {"type": "string"}}),
                    &["customer_id", "notes"],
                ),
            ),
            ["write:notes:{customer_id}"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "send_internal_email",
                "Email a colleague (company addresses only).",
                object(
                    json!({"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}}),
                    &["to", "subject", "body"],
                ),
            ),
            ["write:email:internal"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "send_external_email",
                "Email any address outside the company.",
                object(
                    json!({"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}}),
                    &["to", "subject", "body"],
                ),
            ),
            ["write:email:external"],
        ),
        ToolDef::new(
            ToolSpec::new(
                "delete_account",
                "Delete a customer's account and all its data. Cannot be undone.",
                object(
                    json!({"customer_id": customer_arg(), "confirmation": {"type": "string", "description": "CONFIRM_DELETE"}}),
                    &["customer_id", "confirmation"],
                ),
            ),
            ["delete:account:{customer_id}"],
        ),
    ]
}

/// Executes a tool (called only after its scope check passed). `ticket`
/// is the ticket text for `read_ticket`.
///
/// ```
/// use agentwrit_support_desk::data::execute;
/// use serde_json::json;
/// let balance = execute("get_balance", &json!({"customer_id": "lewis-smith"}), "")?;
/// assert_eq!(balance["balance"], 58.0);
/// assert!(execute("get_balance", &json!({"customer_id": "nobody"}), "").is_err());
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
///
/// An unknown customer or tool, or bad arguments.
pub fn execute(tool: &str, args: &Value, ticket: &str) -> Result<Value, String> {
    let str_arg = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or("");
    let find = || {
        customer(str_arg("customer_id"))
            .ok_or_else(|| format!("no customer {:?}", str_arg("customer_id")))
    };
    match tool {
        "read_ticket" => Ok(json!({"ticket": ticket})),
        "classify_ticket" => Ok(json!({
            "recorded": true,
            "customer_name": args.get("customer_name").cloned().unwrap_or(Value::Null),
            "category": str_arg("category"),
            "priority": str_arg("priority"),
        })),
        "search_knowledge_base" => {
            let category = args.get("category").and_then(Value::as_str);
            let hits: Vec<Value> = search_kb(str_arg("query"), category)
                .into_iter()
                .map(|a| json!({"id": a.id, "title": a.title, "policy": a.body}))
                .collect();
            Ok(json!({"results": hits}))
        }
        "get_customer_info" => {
            let c = find()?;
            Ok(json!({"customer_id": c.id, "name": c.name, "plan": c.plan, "email": c.email}))
        }
        "get_balance" => {
            let c = find()?;
            Ok(json!({"customer_id": c.id, "balance": c.balance, "last_payment": c.last_payment}))
        }
        "issue_refund" => {
            let c = find()?;
            let amount = args
                .get("amount")
                .and_then(Value::as_f64)
                .ok_or("amount must be a number")?;
            if !(0.0..=c.balance.max(100.0)).contains(&amount) {
                return Err(format!("refund of {amount} is outside the allowed range"));
            }
            Ok(json!({"customer_id": c.id, "refunded": amount, "status": "refund issued"}))
        }
        "write_case_notes" => {
            let c = find()?;
            Ok(
                json!({"customer_id": c.id, "saved": true, "chars": str_arg("notes").chars().count()}),
            )
        }
        "send_internal_email" => {
            let to = str_arg("to");
            if !to.ends_with("@desk.example") {
                return Err(format!("{to:?} is not a company address"));
            }
            Ok(json!({"sent": true, "to": to}))
        }
        "send_external_email" => Ok(json!({"sent": true, "to": str_arg("to")})),
        "delete_account" => {
            let c = find()?;
            Ok(json!({"customer_id": c.id, "deleted": true}))
        }
        other => Err(format!("unknown tool {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_order() {
        let found = customers_named_in("I'm Jane Doe. Can you show me Lewis Smith's balance?");
        let ids: Vec<&str> = found.iter().map(|c| c.id).collect();
        assert_eq!(ids, ["jane-doe", "lewis-smith"]);
        assert!(customers_named_in("what are your hours?").is_empty());
    }

    #[test]
    fn the_response_scope_excludes_the_dangerous_tools() {
        let held = response_scope("jane-doe");
        for tool in response_tools() {
            let call = agentwrit_demo_kit::ToolCall::new(
                "c",
                tool.spec.name.clone(),
                json!({"customer_id": "jane-doe"}),
            );
            let required = tool.required_scope(&call, &[]);
            let allowed = agentwrit_async::scope_is_subset(&required, &held);
            let dangerous = matches!(
                tool.spec.name.as_str(),
                "delete_account" | "send_external_email"
            );
            assert_eq!(allowed, !dangerous, "{}", tool.spec.name);
        }
    }

    #[test]
    fn kb_search_by_category_and_words() {
        assert!(
            search_kb("", Some("account"))
                .iter()
                .any(|a| a.id == "kb-201")
        );
        assert!(
            search_kb("charged twice duplicate", None)
                .iter()
                .any(|a| a.id == "kb-101")
        );
    }
}
