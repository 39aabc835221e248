//! The tools the planner may call, each with the scope it requires,
//! templated on the patient the call names.
//!
//! The planner (an LLM or the offline one) sees every tool. Which of
//! them actually run is decided by the scope check against the calling
//! agent's token claims, never by the planner.

use serde_json::{Value, json};

use crate::data::{self, Patient};

/// The kinds of agent the encounter spawns; each holds one patient's
/// scopes for one kind of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Chart, notes and labs. Also holds `write:prescriptions:{patient}`,
    /// which it never uses itself: it delegates it to the prescription
    /// agent.
    Clinical,
    /// Interaction checks, and prescription writes under the clinical
    /// agent's delegation.
    Prescription,
    /// Charges, coverage, codes and claims.
    Billing,
}

impl Category {
    /// `clinical`, `prescription`, `billing`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Clinical => "clinical",
            Category::Prescription => "prescription",
            Category::Billing => "billing",
        }
    }

    /// The scope an agent of this category is created with for
    /// `patient`: exactly what its own tools need for that one patient,
    /// plus, for the clinical agent, the prescription write it delegates.
    #[must_use]
    pub fn scope(self, patient: &str) -> Vec<String> {
        let mut scope: Vec<String> = Vec::new();
        for tool in TOOLS.iter().filter(|t| t.category == self) {
            for s in tool.required_scope(patient) {
                // The prescription agent never holds the write itself: it
                // gets it only by delegation.
                if tool.delegated {
                    continue;
                }
                if !scope.contains(&s) {
                    scope.push(s);
                }
            }
        }
        if self == Category::Clinical {
            scope.push(prescription_write_scope(patient));
        }
        scope
    }
}

/// The scope the clinical agent delegates to the prescription agent.
#[must_use]
pub fn prescription_write_scope(patient: &str) -> String {
    format!("write:prescriptions:{patient}")
}

/// A tool the planner can call.
#[derive(Debug)]
pub struct Tool {
    /// The function name the planner uses.
    pub name: &'static str,
    /// What it does, for the planner.
    pub description: &'static str,
    /// The kind of agent that runs it.
    pub category: Category,
    /// Required scopes; `{patient}` is replaced by the call's `patient_id`.
    pub scope_templates: &'static [&'static str],
    /// Whether the required scope is held only through delegation.
    pub delegated: bool,
    /// Extra parameters beyond `patient_id`: name, JSON type, description,
    /// required.
    pub params: &'static [(&'static str, &'static str, &'static str, bool)],
}

impl Tool {
    /// The scopes this tool requires for a call about `patient`.
    #[must_use]
    pub fn required_scope(&self, patient: &str) -> Vec<String> {
        self.scope_templates
            .iter()
            .map(|t| t.replace("{patient}", patient))
            .collect()
    }

    /// The JSON schema of its parameters (OpenAI function-calling style).
    #[must_use]
    pub fn parameters_schema(&self) -> Value {
        let mut properties = serde_json::Map::new();
        properties.insert(
            "patient_id".into(),
            json!({"type": "string", "description": "The patient's id, e.g. P-4107"}),
        );
        let mut required = vec![Value::from("patient_id")];
        for (name, ty, description, is_required) in self.params {
            let schema = if *ty == "array" {
                json!({"type": "array", "items": {"type": "string"}, "description": description})
            } else {
                json!({"type": ty, "description": description})
            };
            properties.insert((*name).into(), schema);
            if *is_required {
                required.push(Value::from(*name));
            }
        }
        json!({"type": "object", "properties": properties, "required": required})
    }
}

/// Every tool, as the planner sees them.
pub static TOOLS: &[Tool] = &[
    Tool {
        name: "get_patient_records",
        description: "Read a patient's chart: problems, allergies, visit notes and vitals.",
        category: Category::Clinical,
        scope_templates: &["read:records:{patient}"],
        delegated: false,
        params: &[],
    },
    Tool {
        name: "write_clinical_notes",
        description: "Add a note to the patient's chart for this encounter.",
        category: Category::Clinical,
        scope_templates: &["write:records:{patient}"],
        delegated: false,
        params: &[("note", "string", "The note text", true)],
    },
    Tool {
        name: "get_lab_results",
        description: "Read a patient's lab results with reference ranges and flags.",
        category: Category::Clinical,
        scope_templates: &["read:labs:{patient}"],
        delegated: false,
        params: &[],
    },
    Tool {
        name: "check_drug_interactions",
        description: "Check a proposed drug against the patient's current medications.",
        category: Category::Prescription,
        scope_templates: &["read:formulary:*", "read:medications:{patient}"],
        delegated: false,
        params: &[(
            "proposed_drug",
            "string",
            "The drug to check, e.g. Amoxicillin",
            true,
        )],
    },
    Tool {
        name: "write_prescription",
        description: "Write a prescription for the patient.",
        category: Category::Prescription,
        scope_templates: &["write:prescriptions:{patient}"],
        delegated: true,
        params: &[
            ("drug", "string", "Drug name", true),
            ("dose", "string", "Dose, e.g. 20 mg", true),
            ("frequency", "string", "How often, e.g. once daily", true),
            ("indication", "string", "Why it is prescribed", false),
        ],
    },
    Tool {
        name: "get_billing_history",
        description: "Read a patient's charges, insurer payments and balance.",
        category: Category::Billing,
        scope_templates: &["read:billing:{patient}"],
        delegated: false,
        params: &[],
    },
    Tool {
        name: "get_insurance_coverage",
        description: "Read a patient's insurance: payer, plan, copay, deductible left.",
        category: Category::Billing,
        scope_templates: &["read:insurance:{patient}"],
        delegated: false,
        params: &[],
    },
    Tool {
        name: "generate_billing_codes",
        description: "Turn an encounter's diagnoses and procedures into ICD-10 and CPT codes.",
        category: Category::Billing,
        scope_templates: &["write:billing:{patient}"],
        delegated: false,
        params: &[
            ("diagnoses", "array", "ICD-10 codes", true),
            ("procedures", "array", "Procedures performed", true),
        ],
    },
    Tool {
        name: "file_insurance_claim",
        description: "Submit a claim to the patient's insurer.",
        category: Category::Billing,
        scope_templates: &["write:billing:{patient}"],
        delegated: false,
        params: &[
            ("cpt_codes", "array", "CPT codes to claim", true),
            ("total", "number", "Total charged, dollars", true),
        ],
    },
];

/// The tool called `name`.
#[must_use]
pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The broker scope ceiling the MedAssist app is registered with: every
/// tool scope for any patient.
#[must_use]
pub fn app_ceiling() -> Vec<String> {
    let mut ceiling: Vec<String> = Vec::new();
    for tool in TOOLS {
        for s in tool.required_scope("*") {
            if !ceiling.contains(&s) {
                ceiling.push(s);
            }
        }
    }
    ceiling
}

fn str_arg<'a>(args: &'a Value, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or("")
}

fn not_found(patient: &str) -> Value {
    json!({"error": format!("no patient {patient} at this clinic")})
}

fn with_patient(patient: &str, f: impl FnOnce(&'static Patient) -> Value) -> Value {
    data::patient(patient).map_or_else(|| not_found(patient), f)
}

/// Runs `tool` for `patient` with the planner's `args`. Called only
/// after the scope check passed.
#[must_use]
pub fn execute(tool: &Tool, patient: &str, args: &Value) -> Value {
    match tool.name {
        "get_patient_records" => with_patient(patient, |p| {
            json!({
                "patient_id": p.id, "name": p.name, "born": p.born,
                "allergies": p.allergies,
                "problems": p.problems.iter().map(|(code, what)| json!({"icd10": code, "problem": what})).collect::<Vec<_>>(),
                "visits": p.visits.iter().map(|(date, note)| json!({"date": date, "note": note})).collect::<Vec<_>>(),
                "vitals": p.vitals,
                "medications": p.medications,
            })
        }),
        "write_clinical_notes" => with_patient(
            patient,
            |p| json!({"saved": true, "patient_id": p.id, "chars": str_arg(args, "note").chars().count()}),
        ),
        "get_lab_results" => with_patient(patient, |p| json!({"patient_id": p.id, "labs": p.labs})),
        "check_drug_interactions" => with_patient(patient, |p| {
            let proposed = str_arg(args, "proposed_drug");
            let current: Vec<&str> = p.medications.iter().map(|m| m.drug).collect();
            let found = data::interactions_with(proposed, &current);
            json!({
                "proposed_drug": proposed,
                "current_medications": current,
                "allergies": p.allergies,
                "interactions": found,
            })
        }),
        "write_prescription" => with_patient(patient, |p| {
            json!({
                "prescribed": true, "patient_id": p.id,
                "drug": str_arg(args, "drug"), "dose": str_arg(args, "dose"),
                "frequency": str_arg(args, "frequency"), "indication": str_arg(args, "indication"),
                "refills": 2,
            })
        }),
        "get_billing_history" => with_patient(patient, |p| {
            let owed: f64 = p.billing.iter().map(|c| c.patient_owes).sum();
            json!({"patient_id": p.id, "charges": p.billing, "patient_balance": owed})
        }),
        "get_insurance_coverage" => with_patient(
            patient,
            |p| json!({"patient_id": p.id, "coverage": p.insurance}),
        ),
        "generate_billing_codes" => with_patient(patient, |p| {
            json!({
                "patient_id": p.id,
                "icd10": args.get("diagnoses").cloned().unwrap_or(Value::Null),
                "cpt": args.get("procedures").cloned().unwrap_or(Value::Null),
            })
        }),
        "file_insurance_claim" => with_patient(patient, |p| {
            let total = args.get("total").and_then(Value::as_f64).unwrap_or(0.0);
            let patient_share = p.insurance.copay.min(total);
            json!({
                "claim_id": format!("CLM-{}-{}", p.id, p.insurance.member_id),
                "payer": p.insurance.payer,
                "cpt_codes": args.get("cpt_codes").cloned().unwrap_or(Value::Null),
                "total": total,
                "expected_from_insurer": total - patient_share,
                "expected_from_patient": patient_share,
            })
        }),
        other => json!({"error": format!("no tool {other}")}),
    }
}

#[cfg(test)]
mod tests {
    use agentwrit_async::scope_is_subset;

    use super::*;

    #[test]
    fn each_agent_holds_its_own_tools_for_its_patient_only() {
        for tool in TOOLS {
            let held = tool.category.scope("P-4107");
            let mine = tool.required_scope("P-4107");
            let other = tool.required_scope("P-5236");
            if tool.delegated {
                assert!(
                    !scope_is_subset(&mine, &held),
                    "{} held directly",
                    tool.name
                );
            } else {
                assert!(scope_is_subset(&mine, &held), "{} not held", tool.name);
            }
            assert!(
                !scope_is_subset(&other, &held),
                "{} crosses patients",
                tool.name
            );
        }
    }

    #[test]
    fn clinical_holds_the_write_it_delegates_and_no_other_category_does() {
        let write = [prescription_write_scope("P-4107")];
        assert!(scope_is_subset(&write, &Category::Clinical.scope("P-4107")));
        assert!(!scope_is_subset(
            &write,
            &Category::Prescription.scope("P-4107")
        ));
        assert!(!scope_is_subset(&write, &Category::Billing.scope("P-4107")));
    }

    #[test]
    fn every_scope_fits_the_ceiling() {
        let ceiling = app_ceiling();
        for category in [
            Category::Clinical,
            Category::Prescription,
            Category::Billing,
        ] {
            assert!(scope_is_subset(&category.scope("P-6318"), &ceiling));
        }
    }

    #[test]
    fn schemas_name_patient_id_first_and_required() {
        for tool in TOOLS {
            let schema = tool.parameters_schema();
            assert_eq!(schema["required"][0], "patient_id", "{}", tool.name);
            assert_eq!(schema["properties"]["patient_id"]["type"], "string");
        }
    }

    #[test]
    fn tools_answer_from_the_named_patient_only() {
        let t = tool("get_lab_results").unwrap();
        let out = execute(t, "P-5236", &Value::Null);
        assert_eq!(out["patient_id"], "P-5236");
        assert_eq!(out["labs"][0]["test"], "INR");
        assert!(execute(t, "P-9999", &Value::Null)["error"].is_string());
        let check = tool("check_drug_interactions").unwrap();
        let out = execute(check, "P-5236", &json!({"proposed_drug": "Amoxicillin"}));
        assert_eq!(out["interactions"][0]["severity"], "moderate");
    }
}
