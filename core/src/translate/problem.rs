//! What translation found wrong, attached to the object that caused it.

use std::fmt;

/// An object of a watched kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The kind (`Api`, `ApiGroup`, ...).
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The condition a problem sets to False.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionType {
    /// The object itself is invalid.
    Accepted,
    /// A reference is missing or not allowed.
    ResolvedRefs,
}

impl ConditionType {
    /// The condition's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::ResolvedRefs => "ResolvedRefs",
        }
    }
}

/// One thing wrong with one object; the object is left out of the gateway config.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The object at fault.
    pub object: ObjectRef,
    /// The condition it sets to False.
    pub condition: ConditionType,
    /// A CamelCase reason, such as `GroupNotFound`.
    pub reason: &'static str,
    /// What is wrong and what to do, for a person.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}=False ({}): {}", self.object, self.condition.as_str(), self.reason, self.message)
    }
}
