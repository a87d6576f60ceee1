//! The one way to make a URL: [`MountPrefix`] values and the per-request [`Urls`].
//!
//! This layer sits below both `views` and `web`: pages write links with it, the pipeline
//! builds redirects and cookie paths with it. It knows nothing of either.
//!
//! The external base path of a request is the trusted `X-Forwarded-Prefix` (a proxy's prefix)
//! followed by the mount prefix (configured, or reported by a framework adapter). Every link,
//! form action, asset URL, `Location`, `HX-Redirect` and cookie `Path` is made from it here.

use std::fmt;
use std::sync::Arc;

use std::borrow::Cow;

use maud::Render;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters escaped in a path segment: everything but unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':');

/// A validated URL path prefix: empty (the root) or `/a/b` — one leading `/`, no trailing `/`,
/// no empty, `.` or `..` segments, only unreserved characters.
///
/// ```
/// use taskdeck::MountPrefix;
/// assert_eq!(MountPrefix::new("/ops/jobs/").unwrap().as_str(), "/ops/jobs");
/// assert_eq!(MountPrefix::new("/").unwrap().as_str(), "");
/// assert!(MountPrefix::new("jobs").is_err());
/// assert!(MountPrefix::new("//evil.example").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MountPrefix(Option<Arc<str>>);

/// Why a prefix was refused.
#[derive(Clone, PartialEq, Eq)]
pub struct PrefixError {
    prefix: String,
    reason: &'static str,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid path prefix {:?}: {}; write it like \"/dashboard\" or \"/ops/jobs\"",
            self.prefix, self.reason
        )
    }
}

debug_is_display!(PrefixError);

impl std::error::Error for PrefixError {}

impl MountPrefix {
    /// Checks and normalizes `prefix`.
    pub fn new(prefix: &str) -> Result<MountPrefix, PrefixError> {
        let err = |reason| PrefixError {
            prefix: prefix.chars().take(100).collect(),
            reason,
        };
        if prefix.is_empty() || prefix == "/" {
            return Ok(MountPrefix::default());
        }
        if prefix.len() > 256 {
            return Err(err("longer than 256 bytes"));
        }
        if !prefix.starts_with('/') {
            return Err(err("it must start with '/'"));
        }
        let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
        for seg in trimmed[1..].split('/') {
            if seg.is_empty() {
                return Err(err("it must not contain '//'"));
            }
            if seg == "." || seg == ".." {
                return Err(err("it must not contain '.' or '..' segments"));
            }
            if !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
            {
                return Err(err(
                    "only letters, digits, '-', '_', '.', '~' and '/' are allowed",
                ));
            }
        }
        Ok(MountPrefix(
            (!trimmed.is_empty()).then(|| Arc::from(trimmed)),
        ))
    }

    /// The prefix: `""` for the root, else `/a/b`.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.0.is_none()
    }

    /// `self` followed by `inner`: `/ops` + `/jobs` = `/ops/jobs`. Shares, not copies, when
    /// either is the root (the common case: no forwarded prefix).
    pub fn join(&self, inner: &MountPrefix) -> MountPrefix {
        match (&self.0, &inner.0) {
            (None, _) => inner.clone(),
            (_, None) => self.clone(),
            (Some(a), Some(b)) => MountPrefix(Some(Arc::from(format!("{a}{b}")))),
        }
    }

    /// The rest of `path` after this prefix (`/tasks` for `/dashboard/tasks`), `Some("")` when
    /// `path` is exactly the prefix, `None` when it is not under it.
    pub(crate) fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
}

/// Where signing in and out live, relative to the base (`DashboardBuilder::login_path`):
/// `/login` and `/logout` unless configured. Interned, so copying them costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignPaths {
    pub(crate) login: &'static str,
    pub(crate) logout: &'static str,
    pub(crate) logout_all: &'static str,
}

/// The default places.
static DEFAULT_SIGN: SignPaths = SignPaths {
    login: "/login",
    logout: "/logout",
    logout_all: "/logout/all",
};

impl SignPaths {
    /// `/login`, `/logout`, `/logout/all`.
    pub(crate) fn default_paths() -> &'static SignPaths {
        &DEFAULT_SIGN
    }

    /// The sign-in page at `login` (a clean path like `/signin` or `/account/signin`), with
    /// sign-out beside it (`/logout`, `/account/logout`) and `…/logout/all` below that.
    pub(crate) fn at(login: &str) -> Result<&'static SignPaths, String> {
        let ok = login.starts_with('/')
            && login.len() > 1
            && login.len() <= 64
            && !login.ends_with('/')
            && login.split('/').skip(1).all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if !ok {
            return Err(format!(
                "login_path {login:?} must be a path like \"/signin\": segments of letters, digits, '-', '_' or '.'"
            ));
        }
        let dir = &login[..login.rfind('/').unwrap_or(0)];
        let logout = format!("{dir}/logout");
        if logout == login {
            return Err(format!(
                "login_path {login:?} would be the sign-out path; choose another name"
            ));
        }
        if login == DEFAULT_SIGN.login {
            return Ok(&DEFAULT_SIGN);
        }
        // Interned, so that links hold one pointer (every request's future holds its links).
        static SEEN: std::sync::Mutex<Vec<&'static SignPaths>> = std::sync::Mutex::new(Vec::new());
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&known) = seen.iter().find(|s| s.login == login) {
            return Ok(known);
        }
        let paths: &'static SignPaths = Box::leak(Box::new(SignPaths {
            login: intern(login.to_string()),
            logout_all: intern(format!("{logout}/all")),
            logout: intern(logout),
        }));
        seen.push(paths);
        Ok(paths)
    }
}

/// `s` as a `'static` string, made once per distinct value in the process (the built-in files'
/// hashes, each theme, each configured sign-in path): headers and links made from static
/// strings cost no reference count that concurrent requests share.
pub(crate) fn intern(s: String) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = seen.get(s.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    seen.insert(leaked);
    leaked
}

/// Links for one request, all under its external base path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Urls {
    base: MountPrefix,
    sign: &'static SignPaths,
}

impl Urls {
    #[cfg(test)]
    pub(crate) fn new(base: MountPrefix) -> Urls {
        Urls {
            base,
            sign: &DEFAULT_SIGN,
        }
    }

    /// Links under `base`, with sign-in and sign-out at `sign`.
    pub(crate) fn with_sign(base: MountPrefix, sign: &'static SignPaths) -> Urls {
        Urls { base, sign }
    }

    /// Where signing in and out live.
    pub(crate) fn sign(&self) -> &'static SignPaths {
        self.sign
    }

    /// The base path: empty at the root, else `/…` without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base.as_str()
    }

    /// `base` + `rel`, where `rel` starts with `/`.
    pub(crate) fn at(&self, rel: &str) -> String {
        let mut s = String::with_capacity(self.base.as_str().len() + rel.len());
        s.push_str(self.base.as_str());
        s.push_str(rel);
        s
    }

    /// The dashboard root, with its trailing slash.
    pub(crate) fn root(&self) -> String {
        self.at("/")
    }

    /// A task's page, or one under it (`suffix` like `/edit`).
    pub(crate) fn task(&self, id: &str, suffix: &str) -> String {
        let mut s = String::with_capacity(self.base.as_str().len() + id.len() + suffix.len() + 8);
        self.push_task(&mut s, id, suffix);
        s
    }

    /// [`Urls::task`], appended to `out`. The result has only unreserved characters and
    /// percent escapes (the base is validated, the id encoded), so it is safe in an HTML
    /// attribute as it is.
    pub(crate) fn push_task(&self, out: &mut String, id: &str, suffix: &str) {
        out.push_str(self.base.as_str());
        out.push_str("/tasks/");
        push_segment(out, id);
        out.push_str(suffix);
    }

    /// A run's page.
    pub(crate) fn run(&self, id: u64) -> String {
        let mut s = String::with_capacity(self.base.as_str().len() + 26);
        self.push_run(&mut s, id);
        s
    }

    /// [`Urls::run`], appended to `out` (as safe in HTML as [`Urls::push_task`]).
    pub(crate) fn push_run(&self, out: &mut String, id: u64) {
        use std::fmt::Write as _;
        out.push_str(self.base.as_str());
        let _ = write!(out, "/runs/{id}");
    }

    /// `base` + `rel` + `?query` built from pairs (empty values left out).
    pub(crate) fn with_query<'a>(
        &self,
        rel: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        let q = q.finish();
        if q.is_empty() {
            self.at(rel)
        } else {
            format!("{}?{q}", self.at(rel))
        }
    }

    /// The sign-in page with `next` set to `rel?query` under the base, built in one buffer.
    pub(crate) fn login_for(&self, rel: &str, query: &str) -> String {
        let base = self.base.as_str();
        let mut s = String::with_capacity(
            2 * (base.len() + rel.len() + query.len()) + self.sign.login.len() + 18,
        );
        s.push_str(base);
        s.push_str(self.sign.login);
        s.push_str("?next=");
        s.extend(form_urlencoded::byte_serialize(base.as_bytes()));
        s.extend(form_urlencoded::byte_serialize(rel.as_bytes()));
        if !query.is_empty() {
            s.push_str("%3F");
            s.extend(form_urlencoded::byte_serialize(query.as_bytes()));
        }
        s
    }

    /// [`Href`] to `rel`.
    pub(crate) fn href<'a>(&'a self, rel: &'a str) -> Href<'a> {
        Href(self.base(), Cow::Borrowed(rel))
    }

    /// [`HrefQuery`] to `rel` with `pairs`.
    pub(crate) fn href_query<'a>(
        &'a self,
        rel: &'a str,
        pairs: &'a [(&'a str, &'a str)],
    ) -> HrefQuery<'a> {
        HrefQuery(self.base(), rel, pairs)
    }

    /// A task's page relative to the base (`/tasks/{id}` + `suffix`), for `back` fields and
    /// pager links that add the base themselves.
    pub(crate) fn task_rel(id: &str, suffix: &str) -> String {
        let mut rel = String::with_capacity(id.len() + suffix.len() + 8);
        rel.push_str("/tasks/");
        push_segment(&mut rel, id);
        rel.push_str(suffix);
        rel
    }

    /// A run's page relative to the base (`/runs/{id}` + `suffix`), for `back` fields.
    pub(crate) fn run_rel(id: u64, suffix: &str) -> String {
        format!("/runs/{id}{suffix}")
    }

    /// A job's route under the base (`/jobs/{name}` + `suffix`), the name encoded.
    pub(crate) fn job(&self, name: &str, suffix: &str) -> String {
        let mut s = String::with_capacity(self.base.as_str().len() + name.len() + suffix.len() + 8);
        s.push_str(self.base.as_str());
        s.push_str("/jobs/");
        push_segment(&mut s, name);
        s.push_str(suffix);
        s
    }

    /// The cookie `Path`: the base path, or `/` at the root.
    pub(crate) fn cookie_path(&self) -> &str {
        if self.base.is_root() {
            "/"
        } else {
            self.base.as_str()
        }
    }
}

/// True for an absolute `http://` or `https://` URL with a host and no whitespace or control
/// characters: what may be handed out as a link or a redirect off the dashboard.
pub(crate) fn is_absolute_http(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host = rest.map_or("", |r| r.split(['/', '?', '#']).next().unwrap_or(""));
    !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A link under the base path, `base + rel`, written straight into the page (no URL string
/// is built first).
pub(crate) struct Href<'a>(pub(crate) &'a str, pub(crate) Cow<'a, str>);

impl Render for Href<'_> {
    fn render_to(&self, out: &mut String) {
        escape_into(out, self.0);
        escape_into(out, &self.1);
    }
}

/// [`Urls::with_query`], written straight into the page: pairs with an empty value are left
/// out, and the `&` between pairs is written as `&amp;`.
pub(crate) struct HrefQuery<'a>(&'a str, &'a str, &'a [(&'a str, &'a str)]);

impl Render for HrefQuery<'_> {
    fn render_to(&self, out: &mut String) {
        escape_into(out, self.0);
        escape_into(out, self.1);
        let mut sep = "?";
        for (k, v) in self.2.iter().filter(|(_, v)| !v.is_empty()) {
            out.push_str(sep);
            sep = "&amp;";
            // Form encoding leaves only letters, digits, `*-._+%`: nothing to escape.
            out.extend(form_urlencoded::byte_serialize(k.as_bytes()));
            out.push('=');
            out.extend(form_urlencoded::byte_serialize(v.as_bytes()));
        }
    }
}

/// Appends `s` escaped for HTML, like maud's own escaping (`&`, `<`, `>`, `"`), but copied in
/// runs between special characters instead of byte by byte: the tasks table escapes a few
/// hundred strings per page, and maud's escaper was a quarter of its cost.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(entity);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Appends `s` percent-encoded as a path segment; ids in the safe alphabet are copied as is.
fn push_segment(out: &mut String, s: &str) {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':'));
    if plain {
        out.push_str(s);
    } else {
        out.extend(utf8_percent_encode(s, SEGMENT));
    }
}

/// A path (with optional query) relative to the base, safe to follow after a form post:
/// it must start with a single `/`, contain no backslash, control character or scheme, and not
/// be protocol-relative. Anything else is refused (the caller falls back to a safe page).
pub(crate) fn safe_relative(target: &str) -> Option<&str> {
    let decoded = percent_encoding::percent_decode_str(target).decode_utf8_lossy();
    let ok = |s: &str| {
        s.starts_with('/')
            && !s.starts_with("//")
            && !s.contains('\\')
            && !s.chars().any(|c| c.is_control())
            && !s.split(['?', '#']).next().unwrap_or("").contains("/..")
    };
    (target.len() <= 2048 && ok(target) && ok(&decoded)).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", Some("")),
            ("/", Some("")),
            ("/dashboard", Some("/dashboard")),
            ("/dashboard/", Some("/dashboard")),
            ("/ops/jobs", Some("/ops/jobs")),
            ("dashboard", None),
            ("//evil.example", None),
            ("/a//b", None),
            ("/a/../b", None),
            ("/a b", None),
            ("/a\r\nSet-Cookie:x", None),
            ("/\"quoted\"", None),
            ("https://evil.example", None),
            ("/ok/%2e%2e", None),
        ];
        for (input, want) in cases {
            let got = MountPrefix::new(input).ok();
            assert_eq!(got.as_ref().map(MountPrefix::as_str), *want, "{input:?}");
        }
    }

    #[test]
    fn strip_only_at_segment_boundaries() {
        let p = MountPrefix::new("/dashboard").unwrap();
        assert_eq!(p.strip("/dashboard/tasks"), Some("/tasks"));
        assert_eq!(p.strip("/dashboard"), Some(""));
        assert_eq!(p.strip("/dashboardx"), None);
        assert_eq!(p.strip("/other"), None);
        assert_eq!(MountPrefix::default().strip("/tasks"), Some("/tasks"));
    }

    #[test]
    fn urls_stack_and_encode() {
        let base = MountPrefix::new("/ops")
            .unwrap()
            .join(&MountPrefix::new("/jobs").unwrap());
        let u = Urls::new(base);
        assert_eq!(u.root(), "/ops/jobs/");
        assert_eq!(u.task("a b/c", "/edit"), "/ops/jobs/tasks/a%20b%2Fc/edit");
        assert_eq!(
            u.with_query("/tasks", [("q", "x&y"), ("state", "")]),
            "/ops/jobs/tasks?q=x%26y"
        );
        assert_eq!(u.cookie_path(), "/ops/jobs");
        assert_eq!(Urls::new(MountPrefix::default()).cookie_path(), "/");
    }

    #[test]
    fn safe_relative_table() {
        let cases: &[(&str, bool)] = &[
            ("/tasks?page=2", true),
            ("/", true),
            ("//evil.example", false),
            ("/\\evil.example", false),
            ("https://evil.example", false),
            ("%2F%2Fevil.example", false),
            ("/%2F/evil.example", false),
            ("/%5Cevil", false),
            ("/tasks\r\nX: y", false),
            ("/tasks%0d%0aX:y", false),
            ("/../etc", false),
            ("tasks", false),
            ("", false),
        ];
        for (t, ok) in cases {
            assert_eq!(safe_relative(t).is_some(), *ok, "{t:?}");
        }
    }
}
