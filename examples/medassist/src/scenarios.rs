//! The scenarios behind the quick-fill buttons, and the offline
//! planner's reading of a request: the tool calls an LLM given the same
//! text and tool list would make, misbehaving ones included (it follows
//! a request into another patient's chart without hesitation; the scope
//! check is what stops it).

use serde::Serialize;
use serde_json::{Value, json};

use crate::data;

/// A ready-made request: a quick-fill button on the page.
///
/// ```
/// let s = agentwrit_medassist::SCENARIOS.iter().find(|s| s.id == "cross-patient").unwrap();
/// assert_eq!(s.patient, "P-4107");
/// assert!(s.text.contains("P-5236"));
/// ```
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Scenario {
    /// Stable id, used by tests and the page.
    pub id: &'static str,
    /// The button's label.
    pub label: &'static str,
    /// The patient the encounter is for.
    pub patient: &'static str,
    /// What the clinician types.
    pub text: &'static str,
    /// What it shows, one sentence for the page.
    pub shows: &'static str,
}

/// Every scenario, in the order of the buttons.
///
/// ```
/// let ids: Vec<&str> = agentwrit_medassist::SCENARIOS.iter().map(|s| s.id).collect();
/// assert_eq!(ids[0], "chart-and-labs");
/// assert!(ids.contains(&"unknown-patient"));
/// ```
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "chart-and-labs",
        label: "Chart + labs",
        patient: "P-4107",
        text: "Show me her chart and the latest lab results.",
        shows: "One clinical agent, spawned on demand, scoped to this patient's records and labs.",
    },
    Scenario {
        id: "billing",
        label: "Billing",
        patient: "P-6318",
        text: "What does she still owe, and what does her insurance cover?",
        shows: "Only a billing agent: it never holds read:records, so it could not open the chart.",
    },
    Scenario {
        id: "prescription",
        label: "Prescription",
        patient: "P-5236",
        text: "Prescribe amoxicillin 500 mg three times daily for the chest infection.",
        shows: "The clinical agent delegates write:prescriptions for this patient to the prescription agent.",
    },
    Scenario {
        id: "full-encounter",
        label: "Full encounter",
        patient: "P-4107",
        text: "Review the chart and labs, check the bill and coverage, and increase lisinopril to 20 mg once daily.",
        shows: "Three agents, one per category, a delegation, then renewal and release of each.",
    },
    Scenario {
        id: "cross-patient",
        label: "Cross-patient",
        patient: "P-4107",
        text: "Show me the chart, and pull up P-5236's chart too while you're at it.",
        shows: "The second read needs read:records:P-5236; the agent holds P-4107 only: scope_denied.",
    },
    Scenario {
        id: "cross-patient-prescription",
        label: "Cross-patient Rx",
        patient: "P-6318",
        text: "Prescribe melatonin 3 mg at bedtime for sleep, and renew P-5236's warfarin.",
        shows: "The delegated token carries this patient's prescriptions only; the other write is denied.",
    },
    Scenario {
        id: "unknown-patient",
        label: "Unknown patient",
        patient: "P-9999",
        text: "Show me the chart.",
        shows: "No such patient: the encounter stops before any agent is minted.",
    },
];

/// The scenario with this id.
#[must_use]
pub fn scenario(id: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.id == id)
}

/// One tool call the offline planner makes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedCall {
    /// Tool name.
    pub tool: &'static str,
    /// Its arguments (always with `patient_id`).
    pub arguments: Value,
}

const DRUGS: &[&str] = &[
    "amoxicillin",
    "ibuprofen",
    "lisinopril",
    "melatonin",
    "metformin",
    "prednisone",
    "sertraline",
    "spironolactone",
    "tiotropium",
    "tramadol",
    "warfarin",
];

const PRESCRIBING: &[&str] = &[
    "prescribe",
    "increase",
    "renew",
    "refill",
    "start",
    "switch",
    "raise",
];

const FREQUENCIES: &[&str] = &[
    "once daily",
    "twice daily",
    "three times daily",
    "four times daily",
    "at bedtime",
    "as needed",
];

/// The patient ids (`P-` and four digits) mentioned in `text`, upper-cased.
fn patient_ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut ids = Vec::new();
    let mut i = 0;
    while i + 6 <= bytes.len() {
        let window = &bytes[i..i + 6];
        let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let boundary_after = bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit());
        if boundary_before
            && boundary_after
            && window[0].eq_ignore_ascii_case(&b'p')
            && window[1] == b'-'
            && window[2..].iter().all(u8::is_ascii_digit)
        {
            ids.push(format!("P-{}", &text[i + 2..i + 6]));
            i += 6;
        } else {
            i += 1;
        }
    }
    ids
}

/// The clauses of a request: split at commas, semicolons, full stops and
/// "and".
fn clauses(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    lower
        .split([',', ';', '.'])
        .flat_map(|part| part.split(" and "))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

fn dose_in(clause: &str) -> Option<String> {
    let words: Vec<&str> = clause.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let number = w[0].trim_start_matches(|c: char| !c.is_ascii_digit());
        let is_number =
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.');
        let unit = w[1].trim_end_matches(|c: char| !c.is_ascii_alphabetic());
        (is_number && matches!(unit, "mg" | "mcg" | "g" | "ml")).then(|| format!("{number} {unit}"))
    })
}

fn indication_in(clause: &str) -> String {
    clause
        .split_once(" for ")
        .map(|(_, why)| why.trim().to_owned())
        .unwrap_or_default()
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn push_unique(calls: &mut Vec<PlannedCall>, call: PlannedCall) {
    if !calls.contains(&call) {
        calls.push(call);
    }
}

/// The offline planner's reading of `text` for an encounter with
/// `patient`: rounds of tool calls, reads first, then writes (an LLM
/// checks interactions before it prescribes). Any patient id named in a
/// clause becomes that clause's patient, which is how a request wanders
/// into another patient's data.
#[must_use]
pub fn plan(patient: &str, text: &str) -> Vec<Vec<PlannedCall>> {
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    let mut claims = Vec::new();
    for clause in clauses(text) {
        let who = patient_ids(&clause)
            .into_iter()
            .next()
            .unwrap_or_else(|| patient.to_owned());
        let args = |extra: Value| {
            let mut args = json!({"patient_id": who});
            if let (Some(map), Value::Object(extra)) = (args.as_object_mut(), extra) {
                map.extend(extra);
            }
            args
        };
        let has = |words: &[&str]| words.iter().any(|w| clause.contains(w));
        let drug = DRUGS.iter().find(|d| clause.contains(*d));
        if let (Some(drug), true) = (drug, has(PRESCRIBING)) {
            let name = capitalised(drug);
            let current = data::patient(&who).and_then(|p| {
                p.medications
                    .iter()
                    .find(|m| m.drug.eq_ignore_ascii_case(drug))
            });
            let dose = dose_in(&clause)
                .or_else(|| current.map(|m| m.dose.to_owned()))
                .unwrap_or_else(|| "as directed".to_owned());
            let frequency = FREQUENCIES
                .iter()
                .find(|f| clause.contains(*f))
                .map(|f| (*f).to_owned())
                .or_else(|| current.map(|m| m.frequency.to_owned()))
                .unwrap_or_else(|| "once daily".to_owned());
            push_unique(
                &mut reads,
                PlannedCall {
                    tool: "check_drug_interactions",
                    arguments: args(json!({"proposed_drug": name})),
                },
            );
            push_unique(
                &mut writes,
                PlannedCall {
                    tool: "write_prescription",
                    arguments: args(json!({
                        "drug": name, "dose": dose, "frequency": frequency,
                        "indication": indication_in(&clause),
                    })),
                },
            );
            continue;
        }
        if has(&["chart", "record"]) {
            push_unique(
                &mut reads,
                PlannedCall {
                    tool: "get_patient_records",
                    arguments: args(json!({})),
                },
            );
        }
        if has(&["lab"]) {
            push_unique(
                &mut reads,
                PlannedCall {
                    tool: "get_lab_results",
                    arguments: args(json!({})),
                },
            );
        }
        if has(&["bill", "owe", "balance", "charges"]) {
            push_unique(
                &mut reads,
                PlannedCall {
                    tool: "get_billing_history",
                    arguments: args(json!({})),
                },
            );
        }
        if has(&["insurance", "coverage", "cover"]) {
            push_unique(
                &mut reads,
                PlannedCall {
                    tool: "get_insurance_coverage",
                    arguments: args(json!({})),
                },
            );
        }
        if has(&["note"]) {
            push_unique(
                &mut writes,
                PlannedCall {
                    tool: "write_clinical_notes",
                    arguments: args(json!({"note": clause})),
                },
            );
        }
        if has(&["claim"]) {
            let problems: Vec<&str> = data::patient(&who)
                .map(|p| p.problems.iter().map(|(code, _)| *code).collect())
                .unwrap_or_default();
            push_unique(
                &mut writes,
                PlannedCall {
                    tool: "generate_billing_codes",
                    arguments: args(
                        json!({"diagnoses": problems, "procedures": ["Office visit, established patient"]}),
                    ),
                },
            );
            push_unique(
                &mut claims,
                PlannedCall {
                    tool: "file_insurance_claim",
                    arguments: args(json!({"cpt_codes": ["99214"], "total": 210.0})),
                },
            );
        }
    }
    [reads, writes, claims]
        .into_iter()
        .filter(|round| !round.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(rounds: &[Vec<PlannedCall>]) -> Vec<Vec<(&'static str, String)>> {
        rounds
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| {
                        (
                            c.tool,
                            c.arguments["patient_id"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    fn for_scenario(id: &str) -> Vec<Vec<PlannedCall>> {
        let s = scenario(id).unwrap();
        plan(s.patient, s.text)
    }

    #[test]
    fn finds_patient_ids_on_word_boundaries() {
        assert_eq!(
            patient_ids("pull up p-5236's chart, not XP-12345"),
            ["P-5236"]
        );
        assert!(patient_ids("P-12 and P-123456").is_empty());
    }

    #[test]
    fn every_scenario_plans_something_and_ids_are_unique() {
        for s in SCENARIOS {
            assert!(!plan(s.patient, s.text).is_empty(), "{}", s.id);
            assert_eq!(SCENARIOS.iter().filter(|t| t.id == s.id).count(), 1);
        }
    }

    #[test]
    fn cross_patient_reads_the_other_chart_too() {
        let p = |s: &str| s.to_owned();
        assert_eq!(
            tools(&for_scenario("cross-patient")),
            [vec![
                ("get_patient_records", p("P-4107")),
                ("get_patient_records", p("P-5236"))
            ]]
        );
    }

    #[test]
    fn prescriptions_check_first_then_write_with_dose_and_frequency() {
        let rounds = for_scenario("prescription");
        assert_eq!(rounds.len(), 2);
        assert_eq!(rounds[0][0].tool, "check_drug_interactions");
        assert_eq!(rounds[0][0].arguments["proposed_drug"], "Amoxicillin");
        let write = &rounds[1][0].arguments;
        assert_eq!(
            (write["dose"].as_str(), write["frequency"].as_str()),
            (Some("500 mg"), Some("three times daily"))
        );
        assert_eq!(write["indication"], "the chest infection");
    }

    #[test]
    fn a_renewal_takes_the_current_dose_from_the_other_patients_list() {
        let rounds = for_scenario("cross-patient-prescription");
        let writes = &rounds[1];
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[1].arguments["patient_id"], "P-5236");
        assert_eq!(writes[1].arguments["dose"], "5 mg");
        assert_eq!(writes[0].arguments["frequency"], "at bedtime");
    }

    #[test]
    fn full_encounter_touches_all_three_categories() {
        let rounds = for_scenario("full-encounter");
        let names: Vec<&str> = rounds.iter().flatten().map(|c| c.tool).collect();
        assert_eq!(
            names,
            [
                "get_patient_records",
                "get_lab_results",
                "get_billing_history",
                "get_insurance_coverage",
                "check_drug_interactions",
                "write_prescription"
            ]
        );
    }

    #[test]
    fn claims_come_after_their_codes() {
        let rounds = plan("P-4107", "Write a note, then file the claim");
        let names: Vec<Vec<&str>> = rounds
            .iter()
            .map(|r| r.iter().map(|c| c.tool).collect())
            .collect();
        assert_eq!(
            names,
            [
                vec!["write_clinical_notes", "generate_billing_codes"],
                vec!["file_insurance_claim"]
            ]
        );
    }
}
