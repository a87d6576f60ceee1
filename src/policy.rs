//! What a dashboard hides and whom it holds back, beyond roles: the redaction of secrets in
//! args and results ([`DashboardBuilder::redact`](crate::DashboardBuilder::redact),
//! [`DashboardBuilder::secret_keys`](crate::DashboardBuilder::secret_keys)) and the hook that
//! narrows what a user may do ([`DashboardBuilder::authorize`](crate::DashboardBuilder::authorize)).
//!
//! Redaction happens where the dashboard reads a task or a run from its backend, before any
//! page, API answer or form is made from it: the scheduler and its store keep the real
//! values, and jobs get them. A hidden value is shown as [`MASK`]. A form that comes back
//! with [`MASK`] where the stored args had a value keeps the stored value there.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::auth::User;
use crate::scheduler::{RunRecord, Task, TaskInfo};

/// What a hidden value is shown as, on pages, in forms and in the JSON API.
pub const MASK: &str = "••••";

/// The key fragments the default redaction looks for: a value is hidden when its key,
/// lower-cased and without `_`, `-`, `.` and spaces, contains one of them (so `api_key`,
/// `X-Api-Key`, `apiKey`, `db_password` and `Authorization` all match).
pub const DEFAULT_SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "privatekey",
    "credential",
    "passphrase",
    "pwd",
    "cookie",
];

/// Which value of a task or run a redaction hook is handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// A task's args.
    TaskArgs,
    /// The args a run ran with.
    RunArgs,
    /// What a run returned.
    RunResult,
}

impl Field {
    /// `task_args`, `run_args` or `run_result`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::TaskArgs => "task_args",
            Field::RunArgs => "run_args",
            Field::RunResult => "run_result",
        }
    }
}

/// A redaction hook: the job's name, which value, and the value to change in place.
pub(crate) type RedactFn = dyn Fn(&str, Field, &mut Value) + Send + Sync;

/// What the dashboard hides: values under secret-looking keys, then the host's hook.
#[derive(Clone)]
pub(crate) struct Redaction {
    /// Normalised key fragments (see [`normalise`]); empty turns key matching off.
    keys: Arc<[Box<str>]>,
    hook: Option<Arc<RedactFn>>,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction::new(DEFAULT_SECRET_KEYS.iter().copied(), None)
    }
}

impl fmt::Debug for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redaction")
            .field("keys", &self.keys)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// What people put between the words of a key: left out when keys are compared.
fn separator(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b'.' | b' ')
}

/// A key lower-cased without the separators people put in names, into `buf`.
fn normalise<'b>(key: &str, buf: &'b mut Vec<u8>) -> &'b [u8] {
    buf.clear();
    buf.extend(
        key.bytes()
            .filter(|&b| !separator(b))
            .map(|b| b.to_ascii_lowercase()),
    );
    buf
}

impl Redaction {
    pub(crate) fn new<'k>(
        keys: impl IntoIterator<Item = &'k str>,
        hook: Option<Arc<RedactFn>>,
    ) -> Self {
        let mut buf = Vec::new();
        let keys = keys
            .into_iter()
            .filter_map(|k| {
                let n = normalise(k, &mut buf);
                (!n.is_empty()).then(|| String::from_utf8_lossy(n).into())
            })
            .collect();
        Redaction { keys, hook }
    }

    pub(crate) fn with_keys<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Self {
        Redaction::new(keys, self.hook.clone())
    }

    pub(crate) fn with_hook(&self, hook: Arc<RedactFn>) -> Self {
        Redaction {
            keys: self.keys.clone(),
            hook: Some(hook),
        }
    }

    /// True when `key` looks secret.
    pub(crate) fn secret_key(&self, key: &str) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        // Every listed task's args are scanned: keys that fit are normalised on the stack.
        let mut stack = [0u8; 64];
        let mut heap = Vec::new();
        let key: &[u8] = if key.len() <= stack.len() {
            let mut n = 0;
            for b in key.bytes().filter(|&b| !separator(b)) {
                stack[n] = b.to_ascii_lowercase();
                n += 1;
            }
            &stack[..n]
        } else {
            normalise(key, &mut heap)
        };
        self.keys
            .iter()
            .any(|k| key.windows(k.len()).any(|w| w == k.as_bytes()))
    }

    /// True when redaction would change something in `v` (always, with a hook: it is not
    /// known what the hook does until it ran).
    fn touches(&self, v: &Value) -> bool {
        self.hook.is_some() || self.has_secret_key(v)
    }

    fn has_secret_key(&self, v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| self.secret_key(k) || self.has_secret_key(v)),
            Value::Array(a) => a.iter().any(|v| self.has_secret_key(v)),
            _ => false,
        }
    }

    fn mask_keys(&self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if self.secret_key(k) {
                        if !v.is_null() {
                            *v = Value::String(MASK.into());
                        }
                    } else {
                        self.mask_keys(v);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.mask_keys(v)),
            _ => {}
        }
    }

    /// Hides what should be hidden in `v`, one of `job`'s values.
    pub(crate) fn apply(&self, job: &str, field: Field, v: &mut Value) {
        if !self.keys.is_empty() {
            self.mask_keys(v);
        }
        if let Some(hook) = &self.hook {
            hook(job, field, v);
        }
    }

    /// The task with its args redacted (copied only when something changes).
    pub(crate) fn task(&self, t: &mut Arc<Task>) {
        if self.touches(&t.args) {
            let mut args = t.args.clone();
            self.apply(&t.job, Field::TaskArgs, &mut args);
            if args != t.args {
                Arc::make_mut(t).args = args;
            }
        }
    }

    /// A listed task, redacted.
    pub(crate) fn info(&self, i: &mut TaskInfo) {
        self.task(&mut i.task);
    }

    /// A run's args and result, redacted.
    pub(crate) fn run(&self, r: &mut RunRecord) {
        if self.touches(&r.args) {
            self.apply(&r.job, Field::RunArgs, &mut r.args);
        }
        if let Some(result) = r.result.as_mut().filter(|v| self.touches(v)) {
            self.apply(&r.job, Field::RunResult, result);
        }
    }

    /// The run, redacted, for serialising in place.
    pub(crate) fn shown_run<'r>(&self, r: &'r mut RunRecord) -> &'r RunRecord {
        self.run(r);
        r
    }

    /// Every run of a list, redacted.
    pub(crate) fn runs<'r>(&self, runs: impl IntoIterator<Item = &'r mut RunRecord>) {
        runs.into_iter().for_each(|r| self.run(r));
    }
}

/// How many values of `v` are shown hidden (as [`MASK`]).
pub(crate) fn hidden(v: &Value) -> usize {
    match v {
        Value::String(s) => usize::from(s == MASK),
        Value::Object(m) => m.values().map(hidden).sum(),
        Value::Array(a) => a.iter().map(hidden).sum(),
        _ => 0,
    }
}

/// Puts the stored value back wherever `given` (args from a form that showed `stored`
/// redacted) still holds [`MASK`], so saving a form does not overwrite a secret with its
/// mask. The caller makes sure `stored` is the same task's, under the same job.
///
/// Refused, with the place named (`a.b[2]`), when a mask has no stored value at its place
/// (the user cannot have meant to store the mask itself), or when a value beside a mask, in
/// the same object, differs from what is stored: a secret is kept only where it was, so a
/// form cannot send a stored token to a new URL, or move a password to another host by
/// reordering a list, without the secret being typed again.
pub(crate) fn restore(given: &mut Value, stored: Option<&Value>) -> Result<(), String> {
    fn masked(v: &Value) -> bool {
        v.as_str() == Some(MASK)
    }
    fn place(at: &str) -> String {
        if at.is_empty() {
            "the args".to_string()
        } else {
            at.to_string()
        }
    }
    fn walk(given: &mut Value, stored: Option<&Value>, at: &mut String) -> Result<(), String> {
        match given {
            Value::String(s) if s == MASK => match stored {
                Some(v) if !v.is_null() => {
                    *given = v.clone();
                    Ok(())
                }
                _ => Err(format!(
                    "{} shows {MASK}, a hidden value, but there is no stored value there to keep; type the value",
                    place(at)
                )),
            },
            Value::Object(m) => {
                if m.values().any(masked) {
                    let same = stored.and_then(Value::as_object).is_some_and(|s| {
                        s.len() == m.len()
                            && m.iter().all(|(k, v)| {
                                s.get(k).is_some_and(|sv| masked(v) || sv == v)
                            })
                    });
                    if !same {
                        return Err(format!(
                            "{} holds a hidden value ({MASK}) beside values that changed; type the hidden value again to keep it with them",
                            place(at)
                        ));
                    }
                }
                for (k, v) in m.iter_mut() {
                    let len = at.len();
                    if !at.is_empty() {
                        at.push('.');
                    }
                    at.push_str(k);
                    walk(v, stored.and_then(|s| s.get(k.as_str())), at)?;
                    at.truncate(len);
                }
                Ok(())
            }
            Value::Array(a) => {
                for (i, v) in a.iter_mut().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("[{i}]"));
                    walk(v, stored.and_then(|s| s.get(i)), at)?;
                    at.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(given, stored, &mut String::new())
}

/// What an action is done to, as the [`authorize`](crate::DashboardBuilder::authorize) hook
/// is told: the task, its job and the run, as far as the action concerns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ActionTarget<'a> {
    /// The task acted on (or the task a run belongs to).
    pub task: Option<&'a str>,
    /// Its job, or the job acted on (`job.pause`). For `task.create` and `task.update`, the
    /// job the task will have.
    pub job: Option<&'a str>,
    /// The run acted on (`run.cancel`, `run.retry`).
    pub run: Option<u64>,
}

impl<'a> ActionTarget<'a> {
    /// A task and its job.
    pub fn task(task: &'a str, job: &'a str) -> Self {
        ActionTarget {
            task: Some(task),
            job: Some(job),
            run: None,
        }
    }

    /// A job as a whole.
    pub fn job(job: &'a str) -> Self {
        ActionTarget {
            job: Some(job),
            ..ActionTarget::default()
        }
    }

    /// A run, its task and its job.
    pub fn run(run: u64, task: &'a str, job: &'a str) -> Self {
        ActionTarget {
            task: Some(task),
            job: Some(job),
            run: Some(run),
        }
    }
}

/// An authorization hook: the user, the action (as the audit log names it: `task.run`,
/// `job.pause`, …) and its target; `false` refuses.
pub(crate) type AuthorizeFn = dyn Fn(&User, &str, &ActionTarget<'_>) -> bool + Send + Sync;

/// The narrowing hook, when one is set.
#[derive(Clone, Default)]
pub(crate) struct Narrowing(pub(crate) Option<Arc<AuthorizeFn>>);

impl fmt::Debug for Narrowing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Narrowing(hook)"
        } else {
            "Narrowing(none)"
        })
    }
}

impl Narrowing {
    /// May `user` do `action` to `target`, as far as the hook is concerned? With no hook,
    /// or nobody signed in (login off), the role check alone decides.
    pub(crate) fn allows(
        &self,
        user: Option<&User>,
        action: &str,
        target: &ActionTarget<'_>,
    ) -> bool {
        match (&self.0, user) {
            (Some(hook), Some(user)) => hook(user, action, target),
            _ => true,
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_found_whatever_their_spelling_and_depth() {
        let r = Redaction::default();
        for k in [
            "password",
            "DB_Password",
            "X-Api-Key",
            "apiKey",
            "api_key",
            "Authorization",
            "client_secret",
            "accessToken",
            "private-key",
            "aws.credentials",
        ] {
            assert!(r.secret_key(k), "{k}");
        }
        for k in ["user", "to", "pass", "key", "api", "auth", "count"] {
            assert!(!r.secret_key(k), "{k}");
        }
        let mut v = json!({
            "to": "ops",
            "password": "hunter2",
            "nested": {"list": [{"api_key": {"deep": 1}}, {"ok": "x", "Token": 7}]},
            "empty_secret": null
        });
        r.apply("j", Field::TaskArgs, &mut v);
        assert_eq!(
            v,
            json!({
                "to": "ops",
                "password": MASK,
                "nested": {"list": [{"api_key": MASK}, {"ok": "x", "Token": MASK}]},
                "empty_secret": null
            })
        );
        assert_eq!(hidden(&v), 3);
    }

    #[test]
    fn keys_can_be_replaced_or_turned_off_and_the_hook_runs_after_them() {
        let mut v = json!({"password": "a", "pin": "1234"});
        Redaction::new(["pin"], None).apply("j", Field::RunArgs, &mut v);
        assert_eq!(v, json!({"password": "a", "pin": MASK}));
        let mut v = json!({"password": "a"});
        Redaction::new([], None).apply("j", Field::RunArgs, &mut v);
        assert_eq!(v, json!({"password": "a"}));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let hook: Arc<RedactFn> = Arc::new(move |job: &str, field: Field, v: &mut Value| {
            s.lock().unwrap().push((job.to_string(), field, v.clone()));
            if job == "billing" {
                *v = Value::String(MASK.into());
            }
        });
        let r = Redaction::default().with_hook(hook);
        let mut rec: RunRecord = serde_json::from_value(json!({
            "id": 1, "task_id": "t", "job": "billing", "cause": "manual",
            "scheduled_at": "2026-03-01T10:00:00Z", "started_at": null, "finished_at": null,
            "status": "succeeded", "error": null, "attempt": 1, "logs": [], "logs_dropped": 0,
            "args": {"card": "4111", "token": "x"}, "result": {"charged": 12}
        }))
        .unwrap();
        r.run(&mut rec);
        assert_eq!(rec.args, json!(MASK));
        assert_eq!(rec.result, Some(json!(MASK)));
        let seen = seen.lock().unwrap();
        // The hook saw the args after the default masking.
        assert_eq!(
            seen[0],
            (
                "billing".into(),
                Field::RunArgs,
                json!({"card": "4111", "token": MASK})
            )
        );
        assert_eq!(seen[1].1, Field::RunResult);
    }

    #[test]
    fn a_task_is_copied_only_when_something_is_hidden() {
        let r = Redaction::default();
        let plain = Arc::new(Task::new("a", "j").args(json!({"to": "ops"})));
        let mut t = plain.clone();
        r.task(&mut t);
        assert!(Arc::ptr_eq(&t, &plain));
        let secret = Arc::new(Task::new("b", "j").args(json!({"token": "s3"})));
        let mut t = secret.clone();
        r.task(&mut t);
        assert!(!Arc::ptr_eq(&t, &secret));
        assert_eq!(t.args, json!({"token": MASK}));
        assert_eq!(secret.args, json!({"token": "s3"}));
    }

    #[test]
    fn masks_left_in_a_form_are_put_back_from_the_stored_args() {
        let stored = json!({
            "to": "ops",
            "db": {"host": "a", "password": "hunter2"},
            "list": [{"token": "a"}, {"token": "b"}]
        });
        let mut given = json!({
            "to": "dev",
            "db": {"host": "a", "password": MASK},
            "list": [{"token": MASK}, {"token": "new"}]
        });
        restore(&mut given, Some(&stored)).unwrap();
        assert_eq!(
            given,
            json!({
                "to": "dev",
                "db": {"host": "a", "password": "hunter2"},
                "list": [{"token": "a"}, {"token": "new"}]
            })
        );
        // A mask where nothing was stored is refused, naming the place.
        let mut given = json!({"list": [{"token": "a"}, {"token": "b"}, {"token": MASK}]});
        let e = restore(&mut given, Some(&stored)).unwrap_err();
        assert!(e.starts_with("list[2] holds"), "{e}");
        let mut given = json!({"secret": MASK});
        assert!(restore(&mut given, None)
            .unwrap_err()
            .starts_with("the args holds"));
        let mut given = json!(MASK);
        assert!(restore(&mut given, Some(&json!(null)))
            .unwrap_err()
            .starts_with("the args shows"));
        // A secret stays where it was: not beside a changed or added value, not in a
        // reordered list.
        let mut given = json!({"db": {"host": "attacker.example", "password": MASK}});
        let e = restore(&mut given, Some(&stored)).unwrap_err();
        assert!(e.starts_with("db holds a hidden value"), "{e}");
        let mut given = json!({"db": {"host": "a", "password": MASK, "port": 1}});
        assert!(restore(&mut given, Some(&stored)).is_err());
        let hosts = json!({"hosts": [{"name": "a", "pw": "1"}, {"name": "b", "pw": "2"}]});
        let mut given = json!({"hosts": [{"name": "b", "pw": MASK}]});
        let e = restore(&mut given, Some(&hosts)).unwrap_err();
        assert!(e.starts_with("hosts[0] holds"), "{e}");
    }
}
