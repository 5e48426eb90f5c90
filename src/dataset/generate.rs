//! Generation: a fictional population of one trust as FHIR R4 NDJSON, one file per resource type, and a
//! manifest.
//!
//! Contract: [`generate`] takes a [`GenerateConfig`] and writes `<Type>.ndjson` for each of
//! [`RESOURCE_TYPES`] plus `manifest.json` into the output folder, returning the [`Manifest`]. Output is a
//! pure function of (seed, patients, trust): each patient's records come from its own ChaCha8 stream (the
//! seed, stream = patient index), so patients can be generated on several threads and written in index order
//! with byte-identical results. Patients are generated in fixed-size batches, a window of batches at a time,
//! so memory stays bounded whatever N is. Files appear atomically (temporary file, then rename), the manifest
//! last.

use super::manifest::{FileEntry, Manifest, TrustSummary};
use super::nhs;
use super::trust::{Trust, TrustKind};
use super::vocab::{self, Concept};
use super::DatasetError;
use md5::Md5;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The resource types generated, in file order.
pub const RESOURCE_TYPES: [&str; 5] = [
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
];

/// The tag every record carries in `meta.tag`: HL7's "test health data" purpose of use, which FHIR servers
/// and downstream systems already understand as "not a real patient".
pub const SYNTHETIC_TAG_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
/// See [`SYNTHETIC_TAG_SYSTEM`].
pub const SYNTHETIC_TAG_CODE: &str = "HTEST";

const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const UK_CORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";
const SNOMED: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const DMD: &str = "https://dmd.nhs.uk";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// Patients per batch: one unit of work for a thread.
const BATCH: u64 = 512;

/// The day every generated date is relative to, so a seed gives the same dates whenever it runs.
fn epoch() -> time::Date {
    time::macros::date!(2026 - 01 - 01)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// Number of patients (at least 1).
    pub patients: u64,
    pub seed: u64,
    pub trust: Trust,
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Worker threads (0: one per available core).
    pub threads: usize,
}

/// One patient's NDJSON lines, per resource type, and how many records each holds.
#[derive(Default)]
struct Chunk {
    bytes: [Vec<u8>; 5],
    counts: [u64; 5],
}

impl Chunk {
    fn push(&mut self, kind: usize, resource: &Value) {
        // Writing a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.bytes[kind], resource);
        self.bytes[kind].push(b'\n');
        self.counts[kind] += 1;
    }
}

/// One output file being written: a temporary file beside its final name, hashed as it goes.
struct FileSink {
    kind: &'static str,
    path: PathBuf,
    tmp: std::io::BufWriter<tempfile::NamedTempFile>,
    sha256: Sha256,
    md5: Md5,
    count: u64,
    bytes: u64,
}

impl FileSink {
    fn write(&mut self, data: &[u8], count: u64) -> Result<(), DatasetError> {
        self.tmp
            .write_all(data)
            .map_err(|e| DatasetError::io(&self.path, e))?;
        self.sha256.update(data);
        self.md5.update(data);
        self.count += count;
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn finish(self) -> Result<FileEntry, DatasetError> {
        let tmp = self
            .tmp
            .into_inner()
            .map_err(|e| DatasetError::io(&self.path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| DatasetError::io(&self.path, e))?;
        tmp.persist(&self.path)
            .map_err(|e| DatasetError::io(&self.path, e.error))?;
        use base64::Engine;
        Ok(FileEntry {
            resource_type: self.kind.to_owned(),
            file: file_name(self.kind),
            count: self.count,
            bytes: self.bytes,
            sha256: hex::encode(self.sha256.finalize()),
            md5: base64::engine::general_purpose::STANDARD.encode(self.md5.finalize()),
        })
    }
}

/// The file a resource type is written to (`Patient.ndjson`).
pub fn file_name(resource_type: &str) -> String {
    format!("{resource_type}.ndjson")
}

fn check_out_dir(out: &Path) -> Result<(), DatasetError> {
    if out.exists() && !out.is_dir() {
        return Err(DatasetError::OutDir {
            path: out.to_path_buf(),
            message: "exists and is not a folder".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| DatasetError::OutDir {
        path: out.to_path_buf(),
        message: format!("cannot be created: {e}"),
    })
}

/// Generate the dataset described by `config`; see the module docs for the contract.
pub fn generate(config: &GenerateConfig) -> Result<Manifest, DatasetError> {
    if config.patients == 0 {
        return Err(DatasetError::Invalid {
            what: "--patients".into(),
            message: "must be at least 1".into(),
        });
    }
    check_out_dir(&config.out)?;
    let mut sinks = Vec::with_capacity(RESOURCE_TYPES.len());
    for kind in RESOURCE_TYPES {
        let path = config.out.join(file_name(kind));
        let tmp =
            tempfile::NamedTempFile::new_in(&config.out).map_err(|e| DatasetError::OutDir {
                path: config.out.clone(),
                message: format!("cannot be written: {e}"),
            })?;
        sinks.push(FileSink {
            kind,
            path,
            tmp: std::io::BufWriter::with_capacity(1 << 20, tmp),
            sha256: Sha256::new(),
            md5: Md5::new(),
            count: 0,
            bytes: 0,
        });
    }
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        config.threads
    };
    let practices = gp_practices(config.seed, &config.trust);
    let batches = config.patients.div_ceil(BATCH);
    let mut next = 0u64;
    while next < batches {
        let window: Vec<u64> = (next..batches.min(next + threads as u64)).collect();
        next += window.len() as u64;
        let chunks: Vec<Chunk> = std::thread::scope(|scope| {
            let handles: Vec<_> = window
                .iter()
                .map(|&b| {
                    let (trust, practices) = (&config.trust, &practices);
                    let range = b * BATCH..((b + 1) * BATCH).min(config.patients);
                    scope.spawn(move || {
                        let mut chunk = Chunk::default();
                        for index in range {
                            patient(&mut chunk, config.seed, index, trust, practices);
                        }
                        chunk
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    // A worker that panicked is a bug; losing its batch silently would be worse.
                    h.join().map_err(|_| DatasetError::Internal {
                        message: "a generator thread panicked".into(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        for chunk in chunks {
            for (i, sink) in sinks.iter_mut().enumerate() {
                sink.write(&chunk.bytes[i], chunk.counts[i])?;
            }
        }
    }
    let files = sinks
        .into_iter()
        .map(FileSink::finish)
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = Manifest {
        generator: format!("trustprint {}", env!("CARGO_PKG_VERSION")),
        seed: config.seed,
        patients: config.patients,
        trust: TrustSummary::from(&config.trust),
        files,
    };
    manifest.write(&config.out)?;
    Ok(manifest)
}

/// The GP practices patients register with: format-valid ODS practice codes (a letter and five digits) from
/// the seed, standing for practices near the trust. They are references only; nothing looks them up.
fn gp_practices(seed: u64, trust: &Trust) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    let letter = trust
        .district
        .chars()
        .next()
        .filter(char::is_ascii_uppercase)
        .unwrap_or('Y');
    (0..12)
        .map(|_| format!("{letter}{:05}", rng.random_range(80_000..90_000u32)))
        .collect()
}

fn meta(profile: &str) -> Value {
    json!({
        "profile": [format!("{UK_CORE}{profile}")],
        "tag": [{"system": SYNTHETIC_TAG_SYSTEM, "code": SYNTHETIC_TAG_CODE, "display": "test health data"}],
    })
}

fn coding(system: &str, concept: Concept) -> Value {
    json!({"system": system, "code": concept.code, "display": concept.display})
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if roll < w {
            return item;
        }
        roll -= w;
    }
    &items[items.len() - 1]
}

/// `2025-03-14T09:30:00Z`.
fn instant(day: time::Date, minutes: u32) -> String {
    format!("{day}T{:02}:{:02}:00Z", (minutes / 60) % 24, minutes % 60)
}

/// An approximately normal draw (sum of uniforms), clamped to plausible bounds around the mean.
fn normal(rng: &mut ChaCha8Rng, mean: f64, spread: f64) -> f64 {
    let z: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
    mean + z * spread * 1.7
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut cs = w.chars();
            cs.next().map_or(String::new(), |f| {
                f.to_string() + &cs.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One patient and everything recorded about them, appended to `chunk`.
fn patient(chunk: &mut Chunk, seed: u64, index: u64, trust: &Trust, practices: &[String]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let community = trust.kind == TrustKind::Community;

    let id = uuid(&mut rng);
    let female = rng.random_bool(0.51);
    let age_band: (u32, u32) = {
        let roll = rng.random_range(0..100);
        match (community, roll) {
            (false, 0..15) | (true, 0..10) => (0, 18),
            (false, 15..65) | (true, 10..45) => (18, 65),
            _ => (65, 100),
        }
    };
    let age_days = rng.random_range(age_band.0 * 365..age_band.1 * 365 + 364);
    let birth = epoch() - time::Duration::days(i64::from(age_days));
    let given = if female {
        pick(&mut rng, vocab::GIVEN_FEMALE)
    } else {
        pick(&mut rng, vocab::GIVEN_MALE)
    };
    let family = pick(&mut rng, vocab::FAMILY);
    let nhs_number = nhs::patient_number(seed, index);
    let postcode = format!(
        "{} {}{}{}",
        trust.district,
        rng.random_range(0..10u8),
        char::from(*pick(&mut rng, vocab::POSTCODE_UNIT_LETTERS)),
        char::from(*pick(&mut rng, vocab::POSTCODE_UNIT_LETTERS)),
    );
    let street = format!(
        "{} {}",
        rng.random_range(1..200u32),
        pick(&mut rng, vocab::STREETS)
    );
    let practice = pick(&mut rng, practices);
    let patient_ref = format!("Patient/{id}");
    let trust_ref = json!({"identifier": {"system": ODS_SYSTEM, "value": trust.ods_code}});
    chunk.push(
        0,
        &json!({
            "resourceType": "Patient",
            "id": id,
            "meta": meta("Patient"),
            "identifier": [{
                "extension": [{
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
                    "valueCodeableConcept": {"coding": [{
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
                        "code": "01",
                        "display": "Number present and verified",
                    }]},
                }],
                "system": NHS_NUMBER_SYSTEM,
                "value": nhs_number,
            }],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": if female { "female" } else { "male" },
            "birthDate": birth.to_string(),
            "address": [{
                "use": "home",
                "line": [street],
                "city": title_case(&trust.town),
                "postalCode": postcode,
                "country": "GB",
            }],
            "generalPractitioner": [{"identifier": {"system": ODS_SYSTEM, "value": practice}}],
            "managingOrganization": trust_ref,
        }),
    );

    let encounters = if community {
        rng.random_range(2..=6)
    } else {
        rng.random_range(1..=4)
    };
    let old = age_band.0 >= 65;
    for _ in 0..encounters {
        let class = weighted(&mut rng, vocab::ENCOUNTER_CLASSES, |c| {
            if community {
                c.community_weight
            } else {
                c.acute_weight
            }
        });
        let enc_id = uuid(&mut rng);
        let start_day = epoch() - time::Duration::days(rng.random_range(1..3 * 365));
        let start_min = rng.random_range(7 * 60..20 * 60);
        let (end_day, end_min) = if class.code.code == "IMP" {
            let stay = rng.random_range(1..if old { 21 } else { 8 });
            (
                start_day + time::Duration::days(stay),
                rng.random_range(9 * 60..18 * 60),
            )
        } else {
            (start_day, start_min + rng.random_range(20..240))
        };
        let enc_ref = format!("Encounter/{enc_id}");
        let start = instant(start_day, start_min);
        chunk.push(
            1,
            &json!({
                "resourceType": "Encounter",
                "id": enc_id,
                "meta": meta("Encounter"),
                "status": "finished",
                "class": coding(ACT_CODE, class.code),
                "subject": {"reference": patient_ref},
                "period": {"start": start, "end": instant(end_day, end_min.min(23 * 60 + 59))},
                "serviceProvider": trust_ref,
            }),
        );

        for vital in vocab::VITALS {
            // Weight is taken at clinic and home visits, not in an emergency.
            if vital.ucum == "kg" && class.code.code == "EMER" {
                continue;
            }
            let scale = 10f64.powi(i32::try_from(vital.decimals).unwrap_or(0));
            let mut value = normal(&mut rng, vital.mean, vital.spread);
            if vital.ucum == "%" {
                value = value.min(100.0);
            }
            if age_band.0 == 0 && vital.ucum == "kg" {
                value *= f64::from(age_days) / (18.0 * 365.0) * 0.8 + 0.1;
            }
            let value = (value * scale).round() / scale;
            chunk.push(
                3,
                &json!({
                    "resourceType": "Observation",
                    "id": uuid(&mut rng),
                    "meta": meta("Observation"),
                    "status": "final",
                    "category": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }]}],
                    "code": {"coding": [coding(LOINC, vital.loinc), coding(SNOMED, vital.snomed)]},
                    "subject": {"reference": patient_ref},
                    "encounter": {"reference": enc_ref},
                    "effectiveDateTime": start,
                    "valueQuantity": {"value": value, "unit": vital.unit, "system": UCUM, "code": vital.ucum},
                }),
            );
        }

        let max_conditions = if old { 3 } else { 2 };
        for _ in 0..rng.random_range(0..=max_conditions) {
            let def = weighted(&mut rng, vocab::CONDITIONS, |d| {
                if community {
                    d.community_weight
                } else {
                    d.acute_weight
                }
            });
            let (status, category) = if def.chronic {
                ("active", ("problem-list-item", "Problem List Item"))
            } else {
                ("resolved", ("encounter-diagnosis", "Encounter Diagnosis"))
            };
            chunk.push(
                2,
                &json!({
                    "resourceType": "Condition",
                    "id": uuid(&mut rng),
                    "meta": meta("Condition"),
                    "clinicalStatus": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": status,
                    }]},
                    "verificationStatus": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }]},
                    "category": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": category.0,
                        "display": category.1,
                    }]}],
                    "code": {"coding": [coding(SNOMED, def.snomed)]},
                    "subject": {"reference": patient_ref},
                    "encounter": {"reference": enc_ref},
                    "onsetDateTime": start,
                    "recordedDate": start,
                }),
            );
            let Some(medicine) = def.medicine else {
                continue;
            };
            chunk.push(
                4,
                &json!({
                    "resourceType": "MedicationRequest",
                    "id": uuid(&mut rng),
                    "meta": meta("MedicationRequest"),
                    "status": if def.chronic { "active" } else { "completed" },
                    "intent": "order",
                    "medicationCodeableConcept": {"coding": [coding(DMD, medicine)]},
                    "subject": {"reference": patient_ref},
                    "encounter": {"reference": enc_ref},
                    "authoredOn": start,
                    "dosageInstruction": [{"text": if def.chronic {
                        "One to be taken each day"
                    } else {
                        "One to be taken three times a day for 7 days"
                    }}],
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(seed: u64, index: u64, ods: &str) -> Chunk {
        let trust = Trust::lookup(ods).unwrap();
        let practices = gp_practices(seed, &trust);
        let mut chunk = Chunk::default();
        patient(&mut chunk, seed, index, &trust, &practices);
        chunk
    }

    #[test]
    fn a_patient_depends_only_on_seed_and_index() {
        let a = one(7, 42, "RM3");
        let b = one(7, 42, "RM3");
        assert_eq!(a.bytes, b.bytes);
        assert_ne!(a.bytes[0], one(7, 43, "RM3").bytes[0]);
        assert_ne!(a.bytes[0], one(8, 42, "RM3").bytes[0]);
    }

    #[test]
    fn patients_live_in_the_trusts_district() {
        for index in 0..50 {
            let chunk = one(1, index, "RY6");
            let p: Value = serde_json::from_slice(&chunk.bytes[0]).unwrap();
            let postcode = p["address"][0]["postalCode"].as_str().unwrap();
            assert!(postcode.starts_with("LS11 "), "{postcode}");
            assert!(nhs::is_test_number(
                p["identifier"][0]["value"].as_str().unwrap()
            ));
        }
    }

    #[test]
    fn community_trusts_visit_at_home_and_acute_ones_do_not() {
        let classes = |ods| {
            (0..200)
                .flat_map(|i| {
                    let chunk = one(3, i, ods);
                    String::from_utf8(chunk.bytes[1].clone())
                        .unwrap()
                        .lines()
                        .map(|l| {
                            serde_json::from_str::<Value>(l).unwrap()["class"]["code"]
                                .as_str()
                                .unwrap()
                                .to_owned()
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        let acute = classes("RM3");
        let community = classes("RY6");
        assert!(acute.iter().any(|c| c == "EMER") && !acute.iter().any(|c| c == "HH"));
        assert!(community.iter().any(|c| c == "HH") && !community.iter().any(|c| c == "EMER"));
    }
}
