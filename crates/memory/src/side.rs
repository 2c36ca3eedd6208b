//! One person's part of the simulated identity side, the unit local mode saves after a change:
//! a grant changes only its person's container, assignments and role (and, for a database
//! grant, that grant's record), so saving costs what the person holds, not what everyone does.

use std::collections::{BTreeMap, BTreeSet};

use jit_core::plan::PolicyDocument;
use jit_core::types::{AccountId, Email, RequestId};
use serde::{Deserialize, Serialize};

use crate::{lock, IdentitySide, MemoryGrantor, SimulatedDbGrant};

/// What one person holds on the identity side.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSide {
    /// Their container's inline policy, if they have a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<PolicyDocument>,
    /// The accounts their container is assigned in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_accounts: Option<BTreeSet<AccountId>>,
    /// Their temporary assignments ("person account permission-set" → the grants holding it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assignments: BTreeMap<String, BTreeSet<RequestId>>,
    /// Their role's inline policies, if they have a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_policies: Option<BTreeMap<String, PolicyDocument>>,
}

impl PersonSide {
    /// Whether they hold nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The assignment keys of `person` start with this (an email holds no space).
fn assignment_prefix(person: &Email) -> String {
    format!("{person} ")
}

impl IdentitySide {
    /// `person`'s part.
    pub fn person(&self, person: &Email) -> PersonSide {
        let prefix = assignment_prefix(person);
        PersonSide {
            container: self.containers.get(person).cloned(),
            container_accounts: self.container_accounts.get(person).cloned(),
            assignments: self
                .assignments
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            role_policies: self.role_policies.get(person).cloned(),
        }
    }

    /// Puts `part` in place of whatever `person` held.
    pub fn set_person(&mut self, person: &Email, part: PersonSide) {
        let prefix = assignment_prefix(person);
        self.assignments.retain(|k, _| !k.starts_with(&prefix));
        self.assignments.extend(
            part.assignments
                .into_iter()
                .filter(|(k, _)| k.starts_with(&prefix)),
        );
        match part.container {
            Some(doc) => self.containers.insert(person.clone(), doc),
            None => self.containers.remove(person),
        };
        match part.container_accounts {
            Some(accounts) => self.container_accounts.insert(person.clone(), accounts),
            None => self.container_accounts.remove(person),
        };
        match part.role_policies {
            Some(policies) => self.role_policies.insert(person.clone(), policies),
            None => self.role_policies.remove(person),
        };
    }

    /// Everyone who holds something here.
    pub fn people(&self) -> BTreeSet<Email> {
        let mut people: BTreeSet<Email> = self.containers.keys().cloned().collect();
        people.extend(self.container_accounts.keys().cloned());
        people.extend(self.role_policies.keys().cloned());
        people.extend(
            self.assignments
                .keys()
                .filter_map(|k| k.split(' ').next())
                .filter_map(|p| Email::parse(p).ok()),
        );
        people
    }
}

impl MemoryGrantor {
    /// A copy of `person`'s part of the identity side.
    pub fn person_part(&self, person: &Email) -> PersonSide {
        lock(&self.side).person(person)
    }

    /// A copy of database grant `id`'s record, if it is held.
    pub fn db_grant(&self, id: &RequestId) -> Option<SimulatedDbGrant> {
        lock(&self.side).database_grants.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(s: &str) -> Email {
        Email::parse(&format!("{s}@example.com")).unwrap()
    }

    /// Taken apart person by person and put together again, the same side; one person's part
    /// never carries another's assignments (a prefix of an email is not that email).
    #[test]
    fn a_side_is_the_sum_of_its_people() {
        let mut side = IdentitySide::default();
        let (al, alice) = (who("al"), who("alice"));
        let id = RequestId::parse("grant0000001").unwrap();
        side.containers
            .insert(alice.clone(), PolicyDocument::default());
        side.container_accounts.insert(
            alice.clone(),
            BTreeSet::from([AccountId::parse("111111111111").unwrap()]),
        );
        for p in [&al, &alice] {
            side.assignments.insert(
                format!("{p} 111111111111 arn:ps"),
                BTreeSet::from([id.clone()]),
            );
        }
        side.role_policies.insert(al.clone(), BTreeMap::new());
        assert_eq!(side.person(&al).assignments.len(), 1);
        let mut rebuilt = IdentitySide::default();
        for p in side.people() {
            rebuilt.set_person(&p, side.person(&p));
        }
        assert_eq!(
            serde_json::to_value(&rebuilt).unwrap(),
            serde_json::to_value(&side).unwrap()
        );
        // Emptied, a person leaves nothing behind.
        rebuilt.set_person(&alice, PersonSide::default());
        assert!(rebuilt.person(&alice).is_empty());
        assert_eq!(rebuilt.person(&al), side.person(&al));
    }
}
