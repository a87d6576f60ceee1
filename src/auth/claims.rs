//! From a verified token's claims to a [`User`]: which claims hold the id, the name and the
//! roles, how role names map to [`Role`]s, and the least role that gets in.

use serde_json::Value;

use super::{Role, User};

/// How a token's claims become a user. Claim names may be dotted paths into nested objects
/// (`realm_access.roles`).
#[derive(Clone, Debug)]
pub(crate) struct ClaimMap {
    pub(crate) user: String,
    pub(crate) name: String,
    pub(crate) roles: String,
    /// Values of the roles claim and the role each grants (besides `viewer`, `operator` and
    /// `admin`, which always mean themselves unless `names_only` is off).
    pub(crate) map: Vec<(String, Role)>,
    /// Let `viewer` / `operator` / `admin` in the roles claim stand for themselves.
    pub(crate) plain_names: bool,
    /// The role of a token whose roles claim grants none; `None` refuses it.
    pub(crate) default_role: Option<Role>,
    /// The least role that gets in at all.
    pub(crate) require: Option<Role>,
}

/// Why claims do not make a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NoUser {
    /// The user claim is missing or not a string.
    NoId(String),
    /// No role, or less than the required one.
    NoRole,
}

impl ClaimMap {
    pub(crate) fn new(roles_claim: &str, default_role: Option<Role>) -> ClaimMap {
        ClaimMap {
            user: "sub".into(),
            name: "name".into(),
            roles: roles_claim.into(),
            map: Vec::new(),
            plain_names: true,
            default_role,
            require: None,
        }
    }

    /// True when `claims` lack the name or the roles claim: what a provider's userinfo
    /// endpoint may add (OIDC Core 5.3).
    #[cfg(feature = "oidc")]
    pub(crate) fn lacks_any(&self, claims: &Value) -> bool {
        lookup(claims, &self.name).is_none() || lookup(claims, &self.roles).is_none()
    }

    pub(crate) fn user_of(&self, claims: &Value) -> Result<User, NoUser> {
        let id = lookup(claims, &self.user)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| NoUser::NoId(self.user.clone()))?
            .to_string();
        let name = lookup(claims, &self.name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .unwrap_or(&id)
            .to_string();
        let granted = |value: &str| -> Option<Role> {
            let mapped = self
                .map
                .iter()
                .filter(|(v, _)| v == value)
                .map(|(_, r)| *r)
                .max();
            let plain = if self.plain_names {
                value.parse().ok()
            } else {
                None
            };
            mapped.max(plain)
        };
        let mut roles: Vec<Role> = match lookup(claims, &self.roles) {
            Some(Value::Array(a)) => a
                .iter()
                .take(256)
                .filter_map(Value::as_str)
                .filter_map(granted)
                .collect(),
            Some(Value::String(s)) => s
                .split([',', ' '])
                .take(256)
                .filter(|r| !r.is_empty())
                .filter_map(granted)
                .collect(),
            _ => Vec::new(),
        };
        if roles.is_empty() {
            roles.extend(self.default_role);
        }
        roles.sort();
        roles.dedup();
        let user = User { id, name, roles };
        match (user.role(), self.require) {
            (None, _) => Err(NoUser::NoRole),
            (Some(_), Some(least)) if !user.has(least) => Err(NoUser::NoRole),
            _ => Ok(user),
        }
    }
}

/// The value at a dotted path (`a.b.c`); a claim whose own name has a dot is found first.
fn lookup<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(claims, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_map_to_users() {
        let mut m = ClaimMap::new("groups", None);
        m.map.push(("ops".into(), Role::Operator));
        m.map.push(("platform-admins".into(), Role::Admin));
        let u = m
            .user_of(&json!({"sub": "u1", "name": "Ada", "groups": ["x", "ops"]}))
            .unwrap();
        assert_eq!((u.id.as_str(), u.role()), ("u1", Some(Role::Operator)));
        assert_eq!(
            m.user_of(&json!({"sub": "u1", "groups": ["x"]})),
            Err(NoUser::NoRole),
            "deny by default"
        );
        assert!(matches!(
            m.user_of(&json!({"groups": ["ops"]})),
            Err(NoUser::NoId(_))
        ));
        m.user = "email".into();
        m.roles = "realm_access.roles".into();
        let u = m
            .user_of(&json!({"email": "a@x", "realm_access": {"roles": ["platform-admins"]}}))
            .unwrap();
        assert_eq!(
            (u.id.as_str(), u.name.as_str(), u.role()),
            ("a@x", "a@x", Some(Role::Admin))
        );
        m.require = Some(Role::Admin);
        assert_eq!(
            m.user_of(&json!({"email": "a@x", "realm_access": {"roles": "ops"}})),
            Err(NoUser::NoRole)
        );
    }
}
