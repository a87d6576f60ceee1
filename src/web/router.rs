//! The route table: every URL of the dashboard, in one place, method-aware.
//!
//! Paths are relative to the base path. A matched path with no entry for the request's
//! method answers 405 with `Allow`; `HEAD` is accepted wherever `GET` is.

use http::Method;
use matchit::Router as Table;

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
    TaskAction,
    Bulk,
    SchedulerAction,
    Runs,
    RunDetail,
    Events,
    ApiTasks,
    ApiTaskCreate,
    ApiTask,
    ApiTaskUpdate,
    ApiTaskRuns,
    ApiTaskAction,
    ApiBulk,
    ApiRuns,
    ApiRun,
    ApiStats,
    ApiPreview,
    Health,
    Metrics,
    Asset,
    Login,
    LoginSubmit,
    Logout,
    Audit,
    ApiAudit,
    Instances,
    ApiInstances,
    AuthRoute,
}

type Methods = &'static [(Method, Handler)];

/// The URL map: a documented, stable contract (see the crate docs).
const ROUTES: &[(&str, Methods)] = &[
    ("/", &[(Method::GET, Handler::Overview)]),
    (
        "/tasks",
        &[
            (Method::GET, Handler::Tasks),
            (Method::POST, Handler::TaskCreate),
        ],
    ),
    ("/tasks/new", &[(Method::GET, Handler::TaskNew)]),
    ("/tasks/bulk/{action}", &[(Method::POST, Handler::Bulk)]),
    (
        "/tasks/{id}",
        &[
            (Method::GET, Handler::TaskDetail),
            (Method::POST, Handler::TaskUpdate),
        ],
    ),
    ("/tasks/{id}/edit", &[(Method::GET, Handler::TaskEdit)]),
    (
        "/tasks/{id}/{action}",
        &[(Method::POST, Handler::TaskAction)],
    ),
    (
        "/scheduler/{action}",
        &[(Method::POST, Handler::SchedulerAction)],
    ),
    ("/runs", &[(Method::GET, Handler::Runs)]),
    ("/runs/{id}", &[(Method::GET, Handler::RunDetail)]),
    ("/events", &[(Method::GET, Handler::Events)]),
    (
        "/api/tasks",
        &[
            (Method::GET, Handler::ApiTasks),
            (Method::POST, Handler::ApiTaskCreate),
        ],
    ),
    (
        "/api/tasks/bulk/{action}",
        &[(Method::POST, Handler::ApiBulk)],
    ),
    (
        "/api/tasks/{id}",
        &[
            (Method::GET, Handler::ApiTask),
            (Method::PUT, Handler::ApiTaskUpdate),
        ],
    ),
    (
        "/api/tasks/{id}/runs",
        &[(Method::GET, Handler::ApiTaskRuns)],
    ),
    (
        "/api/tasks/{id}/{action}",
        &[(Method::POST, Handler::ApiTaskAction)],
    ),
    ("/api/runs", &[(Method::GET, Handler::ApiRuns)]),
    ("/api/runs/{id}", &[(Method::GET, Handler::ApiRun)]),
    ("/api/stats", &[(Method::GET, Handler::ApiStats)]),
    ("/api/preview", &[(Method::POST, Handler::ApiPreview)]),
    ("/health", &[(Method::GET, Handler::Health)]),
    ("/metrics", &[(Method::GET, Handler::Metrics)]),
    ("/assets/{name}", &[(Method::GET, Handler::Asset)]),
    (
        "/login",
        &[
            (Method::GET, Handler::Login),
            (Method::POST, Handler::LoginSubmit),
        ],
    ),
    ("/logout", &[(Method::POST, Handler::Logout)]),
    ("/audit", &[(Method::GET, Handler::Audit)]),
    ("/instances", &[(Method::GET, Handler::Instances)]),
    ("/api/instances", &[(Method::GET, Handler::ApiInstances)]),
    ("/api/audit", &[(Method::GET, Handler::ApiAudit)]),
    (
        "/auth/{*rest}",
        &[
            (Method::GET, Handler::AuthRoute),
            (Method::POST, Handler::AuthRoute),
        ],
    ),
];

/// A matched route: its handler and path parameters.
#[derive(Debug)]
pub(crate) struct Found<'p> {
    pub(crate) handler: Handler,
    pub(crate) id: Option<&'p str>,
    pub(crate) action: Option<&'p str>,
    pub(crate) name: Option<&'p str>,
}

/// Why no handler was found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    NotFound,
    /// The path exists; these methods are allowed.
    Method(String),
}

#[derive(Debug)]
pub(crate) struct Router {
    table: Table<Methods>,
}

impl Router {
    pub(crate) fn new() -> Router {
        let mut table = Table::new();
        for (path, methods) in ROUTES {
            // The table is a constant checked by the tests below, so inserting cannot fail.
            if let Err(e) = table.insert(*path, *methods) {
                tracing::error!(path, error = %e, "route conflict");
            }
        }
        Router { table }
    }

    pub(crate) fn find<'p>(&self, method: &Method, path: &'p str) -> Result<Found<'p>, Miss> {
        let m = self.table.at(path).map_err(|_| Miss::NotFound)?;
        let wanted = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let Some((_, handler)) = m.value.iter().find(|(meth, _)| meth == wanted) else {
            let mut allow: Vec<&str> = m.value.iter().map(|(m, _)| m.as_str()).collect();
            if allow.contains(&"GET") {
                allow.push("HEAD");
            }
            return Err(Miss::Method(allow.join(", ")));
        };
        Ok(Found {
            handler: *handler,
            id: m.params.get("id"),
            action: m.params.get("action"),
            name: m.params.get("name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_inserts() {
        let mut t = Table::new();
        for (path, m) in ROUTES {
            t.insert(*path, *m).unwrap();
        }
    }

    struct Case {
        method: Method,
        path: &'static str,
        want: Result<(Handler, Option<&'static str>, Option<&'static str>), Miss>,
    }

    #[test]
    fn table() {
        let r = Router::new();
        let cases = [
            Case {
                method: Method::GET,
                path: "/",
                want: Ok((Handler::Overview, None, None)),
            },
            Case {
                method: Method::HEAD,
                path: "/tasks",
                want: Ok((Handler::Tasks, None, None)),
            },
            Case {
                method: Method::GET,
                path: "/tasks/new",
                want: Ok((Handler::TaskNew, None, None)),
            },
            Case {
                method: Method::GET,
                path: "/tasks/abc",
                want: Ok((Handler::TaskDetail, Some("abc"), None)),
            },
            Case {
                method: Method::POST,
                path: "/tasks/abc/pause",
                want: Ok((Handler::TaskAction, Some("abc"), Some("pause"))),
            },
            Case {
                method: Method::POST,
                path: "/tasks/bulk/run",
                want: Ok((Handler::Bulk, None, Some("run"))),
            },
            Case {
                method: Method::GET,
                path: "/api/tasks/x/runs",
                want: Ok((Handler::ApiTaskRuns, Some("x"), None)),
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
            let got = r
                .find(&c.method, c.path)
                .map(|f| (f.handler, f.id, f.action));
            assert_eq!(got, c.want, "{} {}", c.method, c.path);
        }
    }
}
