//! What a diff is made of: the changes between two versions of a skill,
//! typed, with escalations and breaking changes marked.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::artifact::Entries;
use crate::manifest::Manifest;

/// One side of a diff: a manifest and the entries it came with.
pub struct Side<'a> {
    pub manifest: &'a Manifest,
    pub entries: &'a Entries,
}

/// Items of one kind that appear or disappear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl SetChange {
    pub(super) fn of<'a>(
        old: impl IntoIterator<Item = &'a String>,
        new: impl IntoIterator<Item = &'a String>,
    ) -> SetChange {
        let old: BTreeSet<&String> = old.into_iter().collect();
        let new: BTreeSet<&String> = new.into_iter().collect();
        SetChange {
            added: new.difference(&old).map(|s| (*s).clone()).collect(),
            removed: old.difference(&new).map(|s| (*s).clone()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange<T> {
    pub old: T,
    pub new: T,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CapabilityChanges {
    pub http_egress: SetChange,
    pub filesystem_read_roots: SetChange,
    pub filesystem_write_roots: SetChange,
    pub secrets: SetChange,
    pub device_capabilities: SetChange,
    pub node_capabilities: SetChange,
    /// Wildcard opt-ins turned on or off (`http_egress`, `secrets`, ...).
    pub wildcard_opt_in: SetChange,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QuotaChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_budget: Option<ValueChange<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<ValueChange<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_clock_timeout_ms: Option<ValueChange<u64>>,
}

/// One change to a tool, and why it breaks existing callers when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed (`name`, `description`, a schema detail).
    pub message: String,
    /// Why callers of the old version break, if they do.
    pub breaking: Option<String>,
}

impl Change {
    pub fn compatible(message: impl Into<String>) -> Change {
        Change { message: message.into(), breaking: None }
    }

    /// A breaking change whose reason is the change itself.
    pub fn breaking(message: impl Into<String>) -> Change {
        let message = message.into();
        Change { breaking: Some(message.clone()), message }
    }
}

/// Serialized as `{ id, changes: [message], breaking: [reason] }`.
#[derive(Debug, Clone)]
pub struct ToolChange {
    pub id: String,
    pub changes: Vec<Change>,
}

impl ToolChange {
    /// Why existing callers break, one reason per breaking change.
    pub fn breaking(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().filter_map(|c| c.breaking.as_deref())
    }
}

impl Serialize for ToolChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("ToolChange", 3)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("changes", &self.changes.iter().map(|c| &c.message).collect::<Vec<_>>())?;
        s.serialize_field("breaking", &self.breaking().collect::<Vec<_>>())?;
        s.end()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ToolChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ToolChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModuleChange {
    pub path: String,
    pub bytes: ValueChange<Option<u64>>,
    pub imports: SetChange,
    pub exports: SetChange,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DependencyChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `name: old -> new`.
    pub changed: Vec<(String, String, String)>,
}

/// A change that gives the new version more privilege than the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub skill_id: ValueChange<String>,
    pub version: ValueChange<String>,
    pub publisher: ValueChange<String>,
    /// The signing key ids, when both sides are signed.
    pub key_id: ValueChange<Option<String>>,
    pub key_changed: bool,
    pub capabilities: CapabilityChanges,
    pub quotas: QuotaChanges,
    pub tools: ToolChanges,
    pub modules: Vec<ModuleChange>,
    pub dependencies: DependencyChanges,
    pub escalations: Vec<Escalation>,
    /// Why callers of the old version may break.
    pub breaking: Vec<String>,
}
