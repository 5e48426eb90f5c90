//! Microsoft's built-in definitions, the two initiatives trustprint names, and the policy aliases, embedded in
//! the binary from `data/azure-policy/builtins/` (origin in its README).

use super::alias::Aliases;
use super::model::{Definition, Initiative};
use super::Error;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

const DEFINITIONS: &str = include_str!("../../data/azure-policy/builtins/definitions.json");
const ALIASES: &str = include_str!("../../data/azure-policy/builtins/aliases.csv");
const GROUPS: &str = include_str!("../../data/azure-policy/builtins/groups.json");
const UK_NHS: &str = include_str!("../../data/azure-policy/builtins/initiatives/uk-nhs.json");
const NCSC_CAF: &str = include_str!("../../data/azure-policy/builtins/initiatives/ncsc-caf.json");

/// The initiatives trustprint ships, by the name `--policy` takes.
pub const INITIATIVES: [(&str, &str); 2] = [("uk-nhs", UK_NHS), ("ncsc-caf", NCSC_CAF)];

/// Definitions by name and the alias table: what the engine evaluates with.
#[derive(Debug, Clone)]
pub struct Library {
    definitions: HashMap<String, Definition>,
    pub aliases: Aliases,
    titles: Map<String, Value>,
}

impl Library {
    /// The built-in library (parsed once).
    pub fn builtin() -> &'static Library {
        static LIB: OnceLock<Library> = OnceLock::new();
        LIB.get_or_init(|| {
            let defs: Vec<Value> =
                serde_json::from_str(DEFINITIONS).expect("embedded definitions are JSON");
            let mut definitions = HashMap::new();
            for d in &defs {
                let def = Definition::from_json(d).expect("embedded definitions parse");
                definitions.insert(def.name.to_ascii_lowercase(), def);
            }
            Library {
                definitions,
                aliases: Aliases::parse(ALIASES),
                titles: serde_json::from_str(GROUPS).expect("embedded group titles are JSON"),
            }
        })
    }

    /// A library of these definitions with the built-in aliases (for tests and user files).
    pub fn with_definitions(definitions: impl IntoIterator<Item = Definition>) -> Library {
        let builtin = Library::builtin();
        let mut all = builtin.definitions.clone();
        for d in definitions {
            all.insert(d.name.to_ascii_lowercase(), d);
        }
        Library {
            definitions: all,
            aliases: builtin.aliases.clone(),
            titles: builtin.titles.clone(),
        }
    }

    /// The titles of initiative groups Microsoft's JSON lacks (for [`Initiative::from_json`]).
    pub fn titles(&self) -> &Map<String, Value> {
        &self.titles
    }

    /// A definition by name (case-insensitive).
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(&name.to_ascii_lowercase())
    }

    /// Every definition, sorted by name.
    pub fn definitions(&self) -> Vec<&Definition> {
        let mut v: Vec<_> = self.definitions.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A shipped initiative by its short name (`uk-nhs`, `ncsc-caf`).
    pub fn initiative(&self, short: &str) -> Option<Initiative> {
        let (_, text) = INITIATIVES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(short))?;
        let value: Value = serde_json::from_str(text).expect("embedded initiatives are JSON");
        Some(Initiative::from_json(&value, &self.titles).expect("embedded initiatives parse"))
    }

    /// The shipped initiatives' JSON as Microsoft publishes them (for the local cloud).
    pub fn initiative_json(short: &str) -> Option<Value> {
        INITIATIVES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(short))
            .map(|(_, t)| serde_json::from_str(t).expect("embedded initiatives are JSON"))
    }

    /// The raw JSON of every embedded definition.
    pub fn definitions_json() -> Vec<Value> {
        serde_json::from_str(DEFINITIONS).expect("embedded definitions are JSON")
    }

    /// An initiative or a single definition from a user's file: a policy set definition (it has
    /// `policyDefinitions`) or a policy definition (it has `policyRule`). A set's member definitions must be
    /// built-ins or given in the same file as `definitions: [...]`.
    pub fn load_file(path: &std::path::Path) -> Result<(Library, Initiative), Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let props = value.get("properties").unwrap_or(&value);
        let builtin = Library::builtin();
        if props.get("policyRule").is_some() {
            let def = Definition::from_json(&value)?;
            let initiative = Initiative::single(&def);
            return Ok((Library::with_definitions([def]), initiative));
        }
        if props.get("policyDefinitions").is_none() {
            return Err(Error::Definition {
                definition: path.display().to_string(),
                member: "properties".into(),
                expected: "a policy definition (policyRule) or an initiative (policyDefinitions)"
                    .into(),
            });
        }
        let extra = value
            .get("definitions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(Definition::from_json)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let initiative = Initiative::from_json(&value, &builtin.titles)?;
        let lib = Library::with_definitions(extra);
        for r in &initiative.references {
            if lib.definition(&r.definition).is_none() {
                return Err(Error::UnknownDefinition {
                    initiative: initiative.name.clone(),
                    reference: r.reference_id.clone(),
                    definition: r.definition.clone(),
                });
            }
        }
        Ok((lib, initiative))
    }
}
