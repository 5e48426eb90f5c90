//! The generator's vocabulary: names, streets, and the clinical codes it draws from, each with a weight for
//! acute and for community trusts. Kept apart from the generator so the lists can be read (and reviewed by a
//! clinician) on their own.

/// Given names (female, male): common in England and Wales birth registrations; any real person who shares
/// one shares it with tens of thousands of others.
pub const GIVEN_FEMALE: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Sophie", "Emily", "Ella",
    "Poppy", "Evie", "Ruby", "Jessica", "Chloe", "Hannah", "Margaret", "Patricia", "Susan",
    "Janet", "Linda", "Barbara", "Helen", "Sarah", "Rachel", "Fatima", "Aisha", "Priya", "Zara",
];
pub const GIVEN_MALE: &[&str] = &[
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Charlie", "Jacob",
    "Thomas", "James", "William", "Henry", "Alfie", "Joshua", "David", "John", "Michael", "Peter",
    "Paul", "Robert", "Stephen", "Mark", "Andrew", "Richard", "Mohammed", "Ali", "Arjun", "Kwame",
];
/// Family names: the most frequent in England and Wales.
pub const FAMILY: &[&str] = &[
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes",
    "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin",
    "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison",
    "Morgan", "Allen", "Khan", "Ahmed", "Begum", "Singh", "Okafor", "Nowak",
];
/// Street names; combined with a house number they are addresses, not anyone's address.
pub const STREETS: &[&str] = &[
    "Station Road",
    "High Street",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Road",
    "Queens Road",
    "Mill Lane",
    "Kings Road",
    "New Road",
    "Grange Road",
    "Chester Road",
    "Elm Grove",
    "Oak Avenue",
    "Albert Street",
    "Moorland Drive",
    "Brook Close",
    "Orchard Way",
    "Willow Crescent",
];
/// Letters allowed in the last two characters of a UK postcode's inward code.
pub const POSTCODE_UNIT_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// A coded concept: system-specific code and its display.
#[derive(Debug, Clone, Copy)]
pub struct Concept {
    pub code: &'static str,
    pub display: &'static str,
}

const fn c(code: &'static str, display: &'static str) -> Concept {
    Concept { code, display }
}

/// A condition (SNOMED CT clinical finding or disorder), how often acute and community trusts see it (relative
/// weights), whether it is long-term, and the medicine (dm+d VMP) usually prescribed for it.
#[derive(Debug, Clone, Copy)]
pub struct ConditionDef {
    pub snomed: Concept,
    pub acute_weight: u32,
    pub community_weight: u32,
    pub chronic: bool,
    pub medicine: Option<Concept>,
}

const fn cond(
    snomed: Concept,
    acute_weight: u32,
    community_weight: u32,
    chronic: bool,
    medicine: Option<Concept>,
) -> ConditionDef {
    ConditionDef {
        snomed,
        acute_weight,
        community_weight,
        chronic,
        medicine,
    }
}

const AMLODIPINE: Concept = c("319283006", "Amlodipine 5mg tablets");
const METFORMIN: Concept = c("325278007", "Metformin 500mg tablets");
const SALBUTAMOL: Concept = c(
    "320176004",
    "Salbutamol 100micrograms/dose inhaler CFC free",
);
const AMOXICILLIN: Concept = c("323509004", "Amoxicillin 500mg capsules");
const PARACETAMOL: Concept = c("322236009", "Paracetamol 500mg tablets");
const ATORVASTATIN: Concept = c("320000009", "Atorvastatin 20mg tablets");
const SERTRALINE: Concept = c("321949002", "Sertraline 50mg tablets");
const APIXABAN: Concept = c("703907002", "Apixaban 5mg tablets");
const FUROSEMIDE: Concept = c("317971007", "Furosemide 40mg tablets");
const FLUCLOXACILLIN: Concept = c("323567008", "Flucloxacillin 500mg capsules");

/// The conditions drawn, with weights: acute trusts see emergencies and admissions, community trusts
/// long-term conditions, wounds and frailty.
pub const CONDITIONS: &[ConditionDef] = &[
    cond(
        c("59621000", "Essential hypertension"),
        10,
        16,
        true,
        Some(AMLODIPINE),
    ),
    cond(
        c("44054006", "Type 2 diabetes mellitus"),
        7,
        14,
        true,
        Some(METFORMIN),
    ),
    cond(c("195967001", "Asthma"), 5, 6, true, Some(SALBUTAMOL)),
    cond(
        c("13645005", "Chronic obstructive lung disease"),
        5,
        9,
        true,
        Some(SALBUTAMOL),
    ),
    cond(
        c("49436004", "Atrial fibrillation"),
        5,
        5,
        true,
        Some(APIXABAN),
    ),
    cond(c("84114007", "Heart failure"), 4, 6, true, Some(FUROSEMIDE)),
    cond(
        c("55822004", "Hyperlipidemia"),
        4,
        8,
        true,
        Some(ATORVASTATIN),
    ),
    cond(
        c("35489007", "Depressive disorder"),
        3,
        10,
        true,
        Some(SERTRALINE),
    ),
    cond(c("52448006", "Dementia"), 2, 8, true, None),
    cond(
        c("396275006", "Osteoarthritis"),
        3,
        8,
        true,
        Some(PARACETAMOL),
    ),
    cond(c("399912005", "Pressure ulcer"), 1, 7, false, None),
    cond(c("233604007", "Pneumonia"), 8, 1, false, Some(AMOXICILLIN)),
    cond(
        c("68566005", "Urinary tract infectious disease"),
        6,
        4,
        false,
        Some(AMOXICILLIN),
    ),
    cond(
        c("128045006", "Cellulitis"),
        5,
        4,
        false,
        Some(FLUCLOXACILLIN),
    ),
    cond(
        c("5913000", "Fracture of neck of femur"),
        4,
        0,
        false,
        Some(PARACETAMOL),
    ),
    cond(
        c("230690007", "Cerebrovascular accident"),
        4,
        1,
        false,
        None,
    ),
    cond(
        c("22298006", "Myocardial infarction"),
        4,
        0,
        false,
        Some(ATORVASTATIN),
    ),
    cond(
        c("21522001", "Abdominal pain"),
        6,
        0,
        false,
        Some(PARACETAMOL),
    ),
];

/// An encounter class (HL7 v3 ActCode) with acute and community weights.
#[derive(Debug, Clone, Copy)]
pub struct EncounterClass {
    pub code: Concept,
    pub acute_weight: u32,
    pub community_weight: u32,
}

pub const ENCOUNTER_CLASSES: &[EncounterClass] = &[
    EncounterClass {
        code: c("EMER", "emergency"),
        acute_weight: 30,
        community_weight: 0,
    },
    EncounterClass {
        code: c("IMP", "inpatient encounter"),
        acute_weight: 25,
        community_weight: 5,
    },
    EncounterClass {
        code: c("AMB", "ambulatory"),
        acute_weight: 45,
        community_weight: 40,
    },
    EncounterClass {
        code: c("HH", "home health"),
        acute_weight: 0,
        community_weight: 55,
    },
];

/// A vital sign: LOINC and SNOMED CT codes, the UCUM unit, and a normal adult mean and spread.
#[derive(Debug, Clone, Copy)]
pub struct Vital {
    pub loinc: Concept,
    pub snomed: Concept,
    pub unit: &'static str,
    pub ucum: &'static str,
    pub mean: f64,
    pub spread: f64,
    /// Decimal places the value is recorded with.
    pub decimals: u32,
}

pub const VITALS: &[Vital] = &[
    Vital {
        loinc: c("8867-4", "Heart rate"),
        snomed: c("364075005", "Heart rate"),
        unit: "beats/minute",
        ucum: "/min",
        mean: 78.0,
        spread: 14.0,
        decimals: 0,
    },
    Vital {
        loinc: c("9279-1", "Respiratory rate"),
        snomed: c("86290005", "Respiratory rate"),
        unit: "breaths/minute",
        ucum: "/min",
        mean: 16.0,
        spread: 3.0,
        decimals: 0,
    },
    Vital {
        loinc: c("8310-5", "Body temperature"),
        snomed: c("386725007", "Body temperature"),
        unit: "degrees C",
        ucum: "Cel",
        mean: 36.9,
        spread: 0.5,
        decimals: 1,
    },
    Vital {
        loinc: c("8480-6", "Systolic blood pressure"),
        snomed: c("271649006", "Systolic blood pressure"),
        unit: "mmHg",
        ucum: "mm[Hg]",
        mean: 128.0,
        spread: 16.0,
        decimals: 0,
    },
    Vital {
        loinc: c(
            "59408-5",
            "Oxygen saturation in Arterial blood by Pulse oximetry",
        ),
        snomed: c("431314004", "Peripheral oxygen saturation"),
        unit: "%",
        ucum: "%",
        mean: 96.5,
        spread: 1.8,
        decimals: 0,
    },
    Vital {
        loinc: c("29463-7", "Body weight"),
        snomed: c("27113001", "Body weight"),
        unit: "kg",
        ucum: "kg",
        mean: 78.0,
        spread: 15.0,
        decimals: 1,
    },
];
