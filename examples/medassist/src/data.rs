//! The clinic's made-up data: three patients with charts, labs,
//! medications, billing and insurance, and a small interaction table.
//!
//! Everything here is fiction written for the demo. The tools in
//! [`crate::tools`] read it; nothing else does, so the only way to a
//! patient's data is through a scope check.

use serde::Serialize;

/// A patient of the clinic.
#[derive(Clone, Debug, Serialize)]
pub struct Patient {
    /// `P-4107`, ...
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Date of birth (ISO 8601).
    pub born: &'static str,
    /// Known allergies.
    pub allergies: &'static [&'static str],
    /// Active problems: ICD-10 code and description.
    pub problems: &'static [(&'static str, &'static str)],
    /// Visit notes, newest first: date and note.
    pub visits: &'static [(&'static str, &'static str)],
    /// Latest vitals.
    pub vitals: Vitals,
    /// Lab results.
    pub labs: &'static [Lab],
    /// Current medications.
    pub medications: &'static [Medication],
    /// Billing lines.
    pub billing: &'static [Charge],
    /// Insurance coverage.
    pub insurance: Insurance,
}

/// Vital signs at the last visit.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Vitals {
    /// Systolic/diastolic, mmHg.
    pub blood_pressure: &'static str,
    /// Beats per minute.
    pub heart_rate: u32,
    /// Kilograms.
    pub weight_kg: f64,
    /// Degrees Celsius.
    pub temperature_c: f64,
}

/// One lab result.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Lab {
    /// Test name.
    pub test: &'static str,
    /// Result with unit.
    pub value: &'static str,
    /// Reference range.
    pub range: &'static str,
    /// `normal`, `high` or `low`.
    pub flag: &'static str,
    /// Collection date.
    pub date: &'static str,
}

/// One current medication.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Medication {
    /// Drug name.
    pub drug: &'static str,
    /// Dose.
    pub dose: &'static str,
    /// How often.
    pub frequency: &'static str,
}

/// One billing line.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Charge {
    /// Date of service.
    pub date: &'static str,
    /// What was billed.
    pub description: &'static str,
    /// CPT code.
    pub cpt: &'static str,
    /// Charged, in dollars.
    pub charged: f64,
    /// Paid by the insurer.
    pub insurer_paid: f64,
    /// Still owed by the patient.
    pub patient_owes: f64,
}

/// Insurance coverage.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Insurance {
    /// The payer.
    pub payer: &'static str,
    /// The plan.
    pub plan: &'static str,
    /// Member number.
    pub member_id: &'static str,
    /// Copay per visit, dollars.
    pub copay: f64,
    /// Deductible left this year, dollars.
    pub deductible_remaining: f64,
}

/// A known interaction between two drugs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Interaction {
    /// One drug.
    pub a: &'static str,
    /// The other.
    pub b: &'static str,
    /// `major`, `moderate` or `minor`.
    pub severity: &'static str,
    /// What to watch for.
    pub note: &'static str,
}

/// The clinic's patients.
pub static PATIENTS: &[Patient] = &[
    Patient {
        id: "P-4107",
        name: "Ines Okafor",
        born: "1961-03-14",
        allergies: &["sulfonamides"],
        problems: &[
            ("I10", "Essential hypertension"),
            ("E11.9", "Type 2 diabetes mellitus without complications"),
        ],
        visits: &[
            (
                "2026-10-02",
                "Follow-up for blood pressure; home readings around 150/92. Discussed salt intake. Increase lisinopril considered.",
            ),
            (
                "2026-06-19",
                "Diabetes review. HbA1c improving on metformin. Foot exam normal.",
            ),
        ],
        vitals: Vitals {
            blood_pressure: "148/91",
            heart_rate: 78,
            weight_kg: 84.2,
            temperature_c: 36.7,
        },
        labs: &[
            Lab {
                test: "HbA1c",
                value: "7.1 %",
                range: "4.0-5.6 %",
                flag: "high",
                date: "2026-09-28",
            },
            Lab {
                test: "Potassium",
                value: "4.9 mmol/L",
                range: "3.5-5.1 mmol/L",
                flag: "normal",
                date: "2026-09-28",
            },
            Lab {
                test: "eGFR",
                value: "68 mL/min/1.73m2",
                range: ">60 mL/min/1.73m2",
                flag: "normal",
                date: "2026-09-28",
            },
        ],
        medications: &[
            Medication {
                drug: "Metformin",
                dose: "1000 mg",
                frequency: "twice daily",
            },
            Medication {
                drug: "Lisinopril",
                dose: "10 mg",
                frequency: "once daily",
            },
            Medication {
                drug: "Spironolactone",
                dose: "25 mg",
                frequency: "once daily",
            },
        ],
        billing: &[
            Charge {
                date: "2026-10-02",
                description: "Office visit, established patient, moderate",
                cpt: "99214",
                charged: 210.0,
                insurer_paid: 165.0,
                patient_owes: 45.0,
            },
            Charge {
                date: "2026-09-28",
                description: "Hemoglobin A1c",
                cpt: "83036",
                charged: 38.0,
                insurer_paid: 38.0,
                patient_owes: 0.0,
            },
        ],
        insurance: Insurance {
            payer: "Harbor Mutual Health",
            plan: "Silver PPO 2500",
            member_id: "HMH-220-4471",
            copay: 35.0,
            deductible_remaining: 1180.0,
        },
    },
    Patient {
        id: "P-5236",
        name: "Tomasz Lindqvist",
        born: "1948-11-02",
        allergies: &[],
        problems: &[
            ("I48.91", "Atrial fibrillation, unspecified"),
            ("J44.9", "Chronic obstructive pulmonary disease"),
        ],
        visits: &[(
            "2026-09-11",
            "INR stable at 2.4 on warfarin. Productive cough for a week, no fever. Chest clear on exam.",
        )],
        vitals: Vitals {
            blood_pressure: "132/80",
            heart_rate: 88,
            weight_kg: 71.5,
            temperature_c: 37.1,
        },
        labs: &[
            Lab {
                test: "INR",
                value: "2.4",
                range: "2.0-3.0 (on warfarin)",
                flag: "normal",
                date: "2026-09-10",
            },
            Lab {
                test: "Hemoglobin",
                value: "12.9 g/dL",
                range: "13.5-17.5 g/dL",
                flag: "low",
                date: "2026-09-10",
            },
        ],
        medications: &[
            Medication {
                drug: "Warfarin",
                dose: "5 mg",
                frequency: "once daily",
            },
            Medication {
                drug: "Tiotropium",
                dose: "18 mcg",
                frequency: "once daily, inhaled",
            },
        ],
        billing: &[Charge {
            date: "2026-09-11",
            description: "Office visit, established patient, moderate",
            cpt: "99214",
            charged: 210.0,
            insurer_paid: 190.0,
            patient_owes: 20.0,
        }],
        insurance: Insurance {
            payer: "Federal Senior Care",
            plan: "Part B + Supplement G",
            member_id: "FSC-7Q19-22",
            copay: 0.0,
            deductible_remaining: 0.0,
        },
    },
    Patient {
        id: "P-6318",
        name: "Amara Velez",
        born: "1990-07-23",
        allergies: &["penicillin"],
        problems: &[("F41.1", "Generalized anxiety disorder")],
        visits: &[(
            "2026-10-20",
            "Anxiety well controlled on sertraline. Sleeping better. Continue current dose.",
        )],
        vitals: Vitals {
            blood_pressure: "118/74",
            heart_rate: 70,
            weight_kg: 62.0,
            temperature_c: 36.6,
        },
        labs: &[Lab {
            test: "TSH",
            value: "2.1 mIU/L",
            range: "0.4-4.0 mIU/L",
            flag: "normal",
            date: "2026-08-30",
        }],
        medications: &[Medication {
            drug: "Sertraline",
            dose: "100 mg",
            frequency: "once daily",
        }],
        billing: &[Charge {
            date: "2026-10-20",
            description: "Office visit, established patient, low",
            cpt: "99213",
            charged: 150.0,
            insurer_paid: 105.0,
            patient_owes: 45.0,
        }],
        insurance: Insurance {
            payer: "Northwind Employee Plan",
            plan: "HDHP 3000",
            member_id: "NEP-55-0918",
            copay: 45.0,
            deductible_remaining: 2210.0,
        },
    },
];

/// Known drug interactions (both directions apply).
pub static INTERACTIONS: &[Interaction] = &[
    Interaction {
        a: "Lisinopril",
        b: "Spironolactone",
        severity: "major",
        note: "Both raise potassium; check potassium and kidney function within a week.",
    },
    Interaction {
        a: "Warfarin",
        b: "Amoxicillin",
        severity: "moderate",
        note: "Antibiotics can raise the INR; recheck INR within 3-5 days.",
    },
    Interaction {
        a: "Warfarin",
        b: "Ibuprofen",
        severity: "major",
        note: "Higher bleeding risk; prefer paracetamol for pain.",
    },
    Interaction {
        a: "Sertraline",
        b: "Tramadol",
        severity: "major",
        note: "Risk of serotonin syndrome and seizures.",
    },
    Interaction {
        a: "Metformin",
        b: "Prednisone",
        severity: "moderate",
        note: "Steroids raise blood glucose; monitor sugars closely.",
    },
];

/// The patient with this id, if the clinic has one.
#[must_use]
pub fn patient(id: &str) -> Option<&'static Patient> {
    PATIENTS.iter().find(|p| p.id.eq_ignore_ascii_case(id))
}

/// The interactions between `proposed` and any of `current`.
#[must_use]
pub fn interactions_with(proposed: &str, current: &[&str]) -> Vec<&'static Interaction> {
    INTERACTIONS
        .iter()
        .filter(|i| {
            current.iter().any(|c| {
                (i.a.eq_ignore_ascii_case(proposed) && i.b.eq_ignore_ascii_case(c))
                    || (i.b.eq_ignore_ascii_case(proposed) && i.a.eq_ignore_ascii_case(c))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_found_case_insensitively() {
        for p in PATIENTS {
            assert_eq!(PATIENTS.iter().filter(|q| q.id == p.id).count(), 1);
            assert_eq!(patient(&p.id.to_lowercase()).map(|q| q.id), Some(p.id));
        }
        assert!(patient("P-9999").is_none());
    }

    #[test]
    fn interactions_match_either_way_round() {
        let found = interactions_with("spironolactone", &["Metformin", "Lisinopril"]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, "major");
        assert!(interactions_with("Lisinopril", &["Metformin"]).is_empty());
    }
}
