//! The route table: every URL of the dashboard, with who may use it and what it leaves in the
//! audit log, in one place.
//!
//! Each [`Route`] names its method, path, handler, [`Access`] and [`Audit`]. Both policy
//! fields are required and have no default, so a route that forgets one does not compile. The
//! gate reads `access`, dispatch reads `handler`, the 405 answers read the methods, and the
//! audit step reads `audit`: nothing else decides any of these.
//!
//! Paths are relative to the base path. A matched path with no entry for the request's
//! method answers 405 with `Allow`; `HEAD` is accepted wherever `GET` is. The table is the
//! URL map of the crate docs (`src/url-map.md`), which a test keeps equal to it.

use http::Method;
use matchit::Router as Table;

use crate::auth::Role;
use crate::links::SignPaths;
use crate::seam::BulkAction;

/// What handles a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handler {
    Overview,
    Tasks,
    TaskNew,
    TaskCreate,
    TaskDetail,
    TaskEdit,
    TaskUpdate,
    /// The task form again, with the next fires of its trigger (the no-script preview).
    TaskPreview,
    TaskAction(BulkAction),
    /// "Run now with…": the form, and starting the run.
    RunWith,
    RunWithSubmit,
    Bulk(BulkAction),
    /// `true` pauses the scheduler, `false` resumes it.
    SchedulerPause(bool),
    Runs,
    RunDetail,
    /// Cancel or retry one run (a form).
    RunAction(RunAction),
    /// Retry the retryable runs a filter shows (a form).
    RunsRetry,
    Events,
    Jobs,
    /// The week ahead: upcoming fires per minute or hour.
    Timeline,
    ApiTimeline,
    /// `true` pauses every task of the job, `false` resumes them.
    JobPause(bool),
    ApiJobs,
    ApiTasks,
    ApiTaskCreate,
    ApiTask,
    ApiTaskUpdate,
    ApiTaskRuns,
    ApiTaskAction(BulkAction),
    ApiRunWith,
    ApiBulk(BulkAction),
    ApiRuns,
    ApiRun,
    ApiRunAction(RunAction),
    ApiStats,
    ApiSeries,
    ApiPreview,
    Health,
    Ready,
    Metrics,
    Asset,
    Login,
    LoginSubmit,
    Logout,
    LogoutAll,
    Audit,
    ApiAudit,
    Instances,
    ApiInstances,
    ApiAlerts,
    AuthRoute,
}

impl Handler {
    /// True when the handler may render a page (and so needs the scheduler's status first).
    /// No wildcard: a new handler must say.
    pub(crate) fn renders(self) -> bool {
        use Handler::*;
        match self {
            Overview | Tasks | TaskNew | TaskCreate | TaskDetail | TaskEdit | TaskUpdate
            | TaskPreview | TaskAction(_) | RunWith | RunWithSubmit | Bulk(_) | SchedulerPause(_) | Runs | RunDetail
            | RunAction(_) | RunsRetry | Login | LoginSubmit | Audit | Instances | AuthRoute
            // The jobs API counts the last 24 hours from the scheduler's clock.
            | Jobs | JobPause(_) | ApiJobs | Timeline => true,
            Events | ApiTasks | ApiTaskCreate | ApiTask | ApiTaskUpdate | ApiTaskRuns
            | ApiTaskAction(_) | ApiRunWith | ApiBulk(_) | ApiRuns | ApiRun | ApiRunAction(_) | ApiStats
            | ApiSeries | ApiPreview | ApiTimeline | ApiInstances | ApiAlerts | ApiAudit | Health | Ready | Metrics | Asset | Logout
            | LogoutAll => false,
        }
    }
}

/// What can be done to one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunAction {
    Cancel,
    Retry,
}

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone, signed in or not; the reason is part of the table.
    Public(&'static str),
    /// A signed-in user with at least this role (anyone when login is off, but no
    /// more than viewers when the dashboard is read-only).
    Role(Role),
}

/// Where an audit entry's target comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The `{id}` in the path (decoded).
    PathId,
    /// The form's `id` field.
    FormId,
    /// Every `id` field of the form, joined by commas.
    FormIds,
    /// The `id` member of the JSON body.
    JsonId,
    /// What the handler names: the targets of a bulk action and those it refused.
    Handler,
    /// No target.
    None,
}

/// What a route leaves in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audit {
    /// One entry after the handler answers, with its outcome.
    Change {
        action: &'static str,
        target: Target,
    },
    /// As [`Audit::Change`], but a page post without `confirm=yes` that answers 200 only
    /// asked for confirmation and leaves nothing.
    Confirmed {
        action: &'static str,
        target: Target,
    },
    /// The handler records its own entries (named here), since only it knows the outcome.
    ByHandler(&'static str),
    /// Nothing, and why.
    Not(&'static str),
}

/// One entry of the table.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) handler: Handler,
    pub(crate) access: Access,
    pub(crate) audit: Audit,
}

const READ: Audit = Audit::Not("reads only");
const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

/// The URL map: a documented, stable contract.
pub(crate) static ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/",
        handler: Handler::Overview,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/tasks",
        handler: Handler::Tasks,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/tasks",
        handler: Handler::TaskCreate,
        access: ADMIN,
        audit: Audit::Change {
            action: "task.create",
            target: Target::FormId,
        },
    },
    Route {
        method: Method::GET,
        path: "/tasks/new",
        handler: Handler::TaskNew,
        access: ADMIN,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/tasks/bulk/run",
        handler: Handler::Bulk(BulkAction::Run),
        access: OPERATOR,
        audit: Audit::Change {
            action: "bulk.run",
            target: Target::FormIds,
        },
    },
    Route {
        method: Method::POST,
        path: "/tasks/bulk/pause",
        handler: Handler::Bulk(BulkAction::Pause),
        access: OPERATOR,
        audit: Audit::Change {
            action: "bulk.pause",
            target: Target::FormIds,
        },
    },
    Route {
        method: Method::POST,
        path: "/tasks/bulk/resume",
        handler: Handler::Bulk(BulkAction::Resume),
        access: OPERATOR,
        audit: Audit::Change {
            action: "bulk.resume",
            target: Target::FormIds,
        },
    },
    Route {
        method: Method::POST,
        path: "/tasks/bulk/remove",
        handler: Handler::Bulk(BulkAction::Remove),
        access: ADMIN,
        audit: Audit::Confirmed {
            action: "bulk.remove",
            target: Target::FormIds,
        },
    },
    Route {
        method: Method::GET,
        path: "/tasks/{id}",
        handler: Handler::TaskDetail,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/tasks/{id}",
        handler: Handler::TaskUpdate,
        access: ADMIN,
        audit: Audit::Change {
            action: "task.update",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::GET,
        path: "/tasks/{id}/edit",
        handler: Handler::TaskEdit,
        access: ADMIN,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/tasks/{id}/run",
        handler: Handler::TaskAction(BulkAction::Run),
        access: OPERATOR,
        audit: Audit::Change {
            action: "task.run",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::GET,
        path: "/tasks/{id}/run-with",
        handler: Handler::RunWith,
        access: ADMIN,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/tasks/{id}/run-with",
        handler: Handler::RunWithSubmit,
        access: ADMIN,
        audit: Audit::Change {
            action: "task.run_with",
            target: Target::Handler,
        },
    },
    Route {
        method: Method::POST,
        path: "/tasks/{id}/pause",
        handler: Handler::TaskAction(BulkAction::Pause),
        access: OPERATOR,
        audit: Audit::Change {
            action: "task.pause",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/tasks/{id}/resume",
        handler: Handler::TaskAction(BulkAction::Resume),
        access: OPERATOR,
        audit: Audit::Change {
            action: "task.resume",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/tasks/{id}/remove",
        handler: Handler::TaskAction(BulkAction::Remove),
        access: ADMIN,
        audit: Audit::Confirmed {
            action: "task.remove",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/scheduler/pause",
        handler: Handler::SchedulerPause(true),
        access: OPERATOR,
        audit: Audit::Change {
            action: "scheduler.pause",
            target: Target::None,
        },
    },
    Route {
        method: Method::POST,
        path: "/scheduler/resume",
        handler: Handler::SchedulerPause(false),
        access: OPERATOR,
        audit: Audit::Change {
            action: "scheduler.resume",
            target: Target::None,
        },
    },
    Route {
        method: Method::GET,
        path: "/runs",
        handler: Handler::Runs,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/runs/{id}",
        handler: Handler::RunDetail,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/runs/{id}/cancel",
        handler: Handler::RunAction(RunAction::Cancel),
        access: OPERATOR,
        audit: Audit::Change {
            action: "run.cancel",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/runs/{id}/retry",
        handler: Handler::RunAction(RunAction::Retry),
        access: OPERATOR,
        audit: Audit::Change {
            action: "run.retry",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/runs/retry",
        handler: Handler::RunsRetry,
        access: OPERATOR,
        audit: Audit::Change {
            action: "runs.retry",
            target: Target::Handler,
        },
    },
    Route {
        method: Method::GET,
        path: "/jobs",
        handler: Handler::Jobs,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/timeline",
        handler: Handler::Timeline,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/jobs/{id}/pause",
        handler: Handler::JobPause(true),
        access: OPERATOR,
        audit: Audit::Change {
            action: "job.pause",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/jobs/{id}/resume",
        handler: Handler::JobPause(false),
        access: OPERATOR,
        audit: Audit::Change {
            action: "job.resume",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::GET,
        path: "/instances",
        handler: Handler::Instances,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/audit",
        handler: Handler::Audit,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/events",
        handler: Handler::Events,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/tasks",
        handler: Handler::ApiTasks,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/api/tasks",
        handler: Handler::ApiTaskCreate,
        access: ADMIN,
        audit: Audit::Change {
            action: "task.create",
            target: Target::JsonId,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/bulk/run",
        handler: Handler::ApiBulk(BulkAction::Run),
        access: OPERATOR,
        audit: Audit::Change {
            action: "bulk.run",
            target: Target::None,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/bulk/pause",
        handler: Handler::ApiBulk(BulkAction::Pause),
        access: OPERATOR,
        audit: Audit::Change {
            action: "bulk.pause",
            target: Target::None,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/bulk/resume",
        handler: Handler::ApiBulk(BulkAction::Resume),
        access: OPERATOR,
        audit: Audit::Change {
            action: "bulk.resume",
            target: Target::None,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/bulk/remove",
        handler: Handler::ApiBulk(BulkAction::Remove),
        access: ADMIN,
        audit: Audit::Change {
            action: "bulk.remove",
            target: Target::None,
        },
    },
    Route {
        method: Method::GET,
        path: "/api/tasks/{id}",
        handler: Handler::ApiTask,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::PUT,
        path: "/api/tasks/{id}",
        handler: Handler::ApiTaskUpdate,
        access: ADMIN,
        audit: Audit::Change {
            action: "task.update",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::GET,
        path: "/api/tasks/{id}/runs",
        handler: Handler::ApiTaskRuns,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/{id}/run",
        handler: Handler::ApiTaskAction(BulkAction::Run),
        access: OPERATOR,
        audit: Audit::Change {
            action: "task.run",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/{id}/run-with",
        handler: Handler::ApiRunWith,
        access: ADMIN,
        audit: Audit::Change {
            action: "task.run_with",
            target: Target::Handler,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/{id}/pause",
        handler: Handler::ApiTaskAction(BulkAction::Pause),
        access: OPERATOR,
        audit: Audit::Change {
            action: "task.pause",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/{id}/resume",
        handler: Handler::ApiTaskAction(BulkAction::Resume),
        access: OPERATOR,
        audit: Audit::Change {
            action: "task.resume",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/tasks/{id}/remove",
        handler: Handler::ApiTaskAction(BulkAction::Remove),
        access: ADMIN,
        audit: Audit::Change {
            action: "task.remove",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::GET,
        path: "/api/runs",
        handler: Handler::ApiRuns,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/runs/{id}",
        handler: Handler::ApiRun,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/api/runs/{id}/cancel",
        handler: Handler::ApiRunAction(RunAction::Cancel),
        access: OPERATOR,
        audit: Audit::Change {
            action: "run.cancel",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::POST,
        path: "/api/runs/{id}/retry",
        handler: Handler::ApiRunAction(RunAction::Retry),
        access: OPERATOR,
        audit: Audit::Change {
            action: "run.retry",
            target: Target::PathId,
        },
    },
    Route {
        method: Method::GET,
        path: "/api/stats",
        handler: Handler::ApiStats,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/stats/series",
        handler: Handler::ApiSeries,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/tasks/preview",
        handler: Handler::TaskPreview,
        access: VIEWER,
        audit: Audit::Not("shows the form again with its trigger's next fires; changes nothing"),
    },
    Route {
        method: Method::POST,
        path: "/api/preview",
        handler: Handler::ApiPreview,
        access: VIEWER,
        audit: Audit::Not("describes a trigger the form holds; changes nothing"),
    },
    Route {
        method: Method::GET,
        path: "/api/jobs",
        handler: Handler::ApiJobs,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/timeline",
        handler: Handler::ApiTimeline,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/instances",
        handler: Handler::ApiInstances,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/alerts",
        handler: Handler::ApiAlerts,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/api/audit",
        handler: Handler::ApiAudit,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/health",
        handler: Handler::Health,
        access: Access::Public("liveness probes carry no credentials"),
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/health/ready",
        handler: Handler::Ready,
        access: Access::Public(
            "readiness probes carry no credentials; answers are reused for a second",
        ),
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/metrics",
        handler: Handler::Metrics,
        access: VIEWER,
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/assets/{name}",
        handler: Handler::Asset,
        access: Access::Public("the login page needs its CSS and script"),
        audit: READ,
    },
    Route {
        method: Method::GET,
        path: "/login",
        handler: Handler::Login,
        access: Access::Public("the way in"),
        audit: READ,
    },
    Route {
        method: Method::POST,
        path: "/login",
        handler: Handler::LoginSubmit,
        access: Access::Public("the way in"),
        audit: Audit::ByHandler("login, login_failed, login_throttled"),
    },
    Route {
        method: Method::POST,
        path: "/logout",
        handler: Handler::Logout,
        access: Access::Public("signing out must work with an expired session"),
        audit: Audit::ByHandler("logout"),
    },
    Route {
        method: Method::POST,
        path: "/logout/all",
        handler: Handler::LogoutAll,
        access: VIEWER,
        audit: Audit::Change {
            action: "logout.all",
            target: Target::None,
        },
    },
    Route {
        method: Method::GET,
        path: "/auth/{*rest}",
        handler: Handler::AuthRoute,
        access: Access::Public("the login backend's own routes (e.g. a provider's callback)"),
        audit: Audit::ByHandler("login, when the backend signs a user in"),
    },
    Route {
        method: Method::POST,
        path: "/auth/{*rest}",
        handler: Handler::AuthRoute,
        access: Access::Public("the login backend's own routes (e.g. a provider's callback)"),
        audit: Audit::ByHandler("login, when the backend signs a user in"),
    },
];

/// A matched route and its path parameters.
#[derive(Debug)]
pub(crate) struct Found<'p> {
    pub(crate) route: &'static Route,
    pub(crate) id: Option<&'p str>,
    pub(crate) name: Option<&'p str>,
}

/// Why no route was found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    NotFound,
    /// The path exists; these methods are allowed.
    Method(String),
}

/// The table indexed by path.
#[derive(Debug)]
pub(crate) struct Router {
    table: Table<Vec<&'static Route>>,
}

impl Router {
    /// The table's routes, with signing in and out at `sign`, and `public` paths answered by
    /// the login backends as `/auth/…` is. A clash (a public path the dashboard serves) is an
    /// error naming it.
    pub(crate) fn new(sign: &SignPaths, public: &[String]) -> Result<Router, String> {
        let mut paths: Vec<(String, Vec<&'static Route>)> = Vec::new();
        let placed = |r: &Route| match r.path {
            "/login" => sign.login,
            "/logout" => sign.logout,
            "/logout/all" => sign.logout_all,
            p => p,
        };
        for r in ROUTES {
            let path = placed(r);
            if path != r.path {
                if let Some(other) = ROUTES.iter().find(|o| o.path == path) {
                    return Err(format!(
                        "{path} (for {}) clashes with the dashboard's own {}",
                        r.path, other.path
                    ));
                }
            }
            match paths.iter_mut().find(|(p, _)| p == path) {
                Some((_, rs)) => rs.push(r),
                None => paths.push((path.to_string(), vec![r])),
            }
        }
        let mut table = Table::new();
        for (path, routes) in paths {
            table
                .insert(path.clone(), routes)
                .map_err(|e| format!("{path} clashes with another route: {e}"))?;
        }
        for p in public {
            if !p.starts_with('/') || p.len() > 200 {
                return Err(format!(
                    "public path {p:?} must start with '/' (at most 200 bytes)"
                ));
            }
            let routes: Vec<&'static Route> = ROUTES
                .iter()
                .filter(|r| matches!(r.handler, Handler::AuthRoute))
                .collect();
            table
                .insert(p.clone(), routes)
                .map_err(|e| format!("public path {p} clashes with a dashboard route: {e}"))?;
        }
        Ok(Router { table })
    }

    pub(crate) fn find<'p>(&self, method: &Method, path: &'p str) -> Result<Found<'p>, Miss> {
        let m = self.table.at(path).map_err(|_| Miss::NotFound)?;
        let wanted = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let Some(route) = m.value.iter().find(|r| r.method == wanted) else {
            return Err(Miss::Method(allow(m.value)));
        };
        Ok(Found {
            route,
            id: m.params.get("id"),
            name: m.params.get("name"),
        })
    }
}

/// The `Allow` header for a path served by `routes`.
fn allow(routes: &[&Route]) -> String {
    let mut allow: Vec<&str> = routes.iter().map(|r| r.method.as_str()).collect();
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    allow.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_inserts_once() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method.clone(), r.path)),
                "{} {}",
                r.method,
                r.path
            );
        }
        let mut t = Table::new();
        let router = Router::new(SignPaths::default_paths(), &[]).unwrap();
        for r in ROUTES {
            let _ = t.insert(r.path, ());
            // Each path routes back to its own entry.
            let sample = r.path.replace("{id}", "x").replace("{name}", "app.css");
            let sample = sample.replace("{*rest}", "cb");
            let found = router.find(&r.method, &sample).unwrap();
            assert!(std::ptr::eq(found.route, r), "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn unsafe_routes_need_an_operator_and_are_audited() {
        // Unsafe routes below the operator role, each for the reason its entry gives.
        let open: &[(&str, &str)] = &[
            ("POST", "/api/preview"),
            ("POST", "/tasks/preview"),
            ("POST", "/login"),
            ("POST", "/logout"),
            ("POST", "/logout/all"),
            ("POST", "/auth/{*rest}"),
        ];
        for r in ROUTES {
            let safe = r.method == Method::GET || r.method == Method::HEAD;
            if safe {
                assert!(
                    matches!(r.audit, Audit::Not(_) | Audit::ByHandler(_)),
                    "{} {}: a read changes nothing to audit",
                    r.method,
                    r.path
                );
                continue;
            }
            let key = (r.method.as_str(), r.path);
            match r.access {
                Access::Role(role) if role >= Role::Operator => assert!(
                    matches!(r.audit, Audit::Change { .. } | Audit::Confirmed { .. }),
                    "{} {} changes state and must be audited",
                    r.method,
                    r.path
                ),
                _ => assert!(
                    open.contains(&key),
                    "{} {} is unsafe: it needs at least the operator role",
                    r.method,
                    r.path
                ),
            }
        }
        for (m, p) in open {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.method.as_str() == *m && r.path == *p),
                "{m} {p} is listed as open but has no route"
            );
        }
    }

    #[test]
    fn creating_editing_and_removing_need_an_admin() {
        for r in ROUTES {
            let admin_only = matches!(
                r.handler,
                Handler::TaskAction(BulkAction::Remove)
                    | Handler::Bulk(BulkAction::Remove)
                    | Handler::ApiTaskAction(BulkAction::Remove)
                    | Handler::ApiBulk(BulkAction::Remove)
                    | Handler::TaskCreate
                    | Handler::TaskUpdate
                    | Handler::ApiTaskCreate
                    | Handler::ApiTaskUpdate
            );
            if admin_only {
                assert_eq!(r.access, ADMIN, "{} {}", r.method, r.path);
            }
        }
    }

    /// The URL map in the crate docs lists exactly the table's routes, each with the role it
    /// needs and the action it is audited as.
    #[test]
    fn the_documented_url_map_is_the_table() {
        let doc = include_str!("../url-map.md");
        let mut documented = Vec::new();
        for line in doc.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert!(cells.len() >= 5, "a URL map row has five cells: {line}");
            let method = cells[0].trim_matches('`');
            let path = cells[1].trim_matches('`');
            let route = ROUTES
                .iter()
                .find(|r| r.method.as_str() == method && r.path == path)
                .unwrap_or_else(|| panic!("the URL map lists {method} {path}, which is no route"));
            let who = match route.access {
                Access::Public(_) => "anyone",
                Access::Role(r) => r.as_str(),
            };
            assert_eq!(cells[2], who, "{method} {path}: who may use it");
            let audited = cells[3];
            match route.audit {
                Audit::Change { action, .. } => {
                    assert_eq!(audited, format!("`{action}`"), "{method} {path}")
                }
                Audit::Confirmed { action, .. } => assert_eq!(
                    audited,
                    format!("`{action}` (once confirmed)"),
                    "{method} {path}"
                ),
                Audit::ByHandler(_) => assert!(audited != "—", "{method} {path}: audited"),
                Audit::Not(_) => assert_eq!(audited, "—", "{method} {path}: not audited"),
            }
            documented.push((method, path));
        }
        for r in ROUTES {
            assert!(
                documented.contains(&(r.method.as_str(), r.path)),
                "{} {} is missing from the URL map (src/url-map.md)",
                r.method,
                r.path
            );
        }
        assert_eq!(documented.len(), ROUTES.len(), "each route is listed once");
    }

    struct Case {
        method: Method,
        path: &'static str,
        want: Result<(Handler, Option<&'static str>), Miss>,
    }

    #[test]
    fn table() {
        let r = Router::new(SignPaths::default_paths(), &[]).unwrap();
        let cases = [
            Case {
                method: Method::GET,
                path: "/",
                want: Ok((Handler::Overview, None)),
            },
            Case {
                method: Method::HEAD,
                path: "/tasks",
                want: Ok((Handler::Tasks, None)),
            },
            Case {
                method: Method::GET,
                path: "/tasks/new",
                want: Ok((Handler::TaskNew, None)),
            },
            Case {
                method: Method::GET,
                path: "/tasks/abc",
                want: Ok((Handler::TaskDetail, Some("abc"))),
            },
            Case {
                method: Method::POST,
                path: "/tasks/abc/pause",
                want: Ok((Handler::TaskAction(BulkAction::Pause), Some("abc"))),
            },
            Case {
                method: Method::POST,
                path: "/tasks/bulk/run",
                want: Ok((Handler::Bulk(BulkAction::Run), None)),
            },
            Case {
                method: Method::GET,
                path: "/api/tasks/x/runs",
                want: Ok((Handler::ApiTaskRuns, Some("x"))),
            },
            Case {
                method: Method::DELETE,
                path: "/tasks/abc",
                want: Err(Miss::Method("GET, POST, HEAD".into())),
            },
            Case {
                method: Method::GET,
                path: "/tasks/abc/pause",
                want: Err(Miss::Method("POST".into())),
            },
            Case {
                method: Method::POST,
                path: "/tasks/abc/explode",
                want: Err(Miss::NotFound),
            },
            Case {
                method: Method::GET,
                path: "/nope",
                want: Err(Miss::NotFound),
            },
            Case {
                method: Method::GET,
                path: "/tasks/a/b/c",
                want: Err(Miss::NotFound),
            },
        ];
        for c in cases {
            let got = r.find(&c.method, c.path).map(|f| (f.route.handler, f.id));
            assert_eq!(got, c.want, "{} {}", c.method, c.path);
        }
    }
}
