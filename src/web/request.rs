//! Reading requests: bounded bodies, query strings and forms, with errors that name the field.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};

/// What is wrong with a request, before any handler logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadRequest {
    /// The body is over the limit (413).
    TooLarge { limit: usize },
    /// The body could not be read.
    Unreadable,
    /// A field is malformed (400).
    Field { field: String, message: String },
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::TooLarge { limit } => {
                write!(f, "request body is larger than the {limit}-byte limit")
            }
            BadRequest::Unreadable => write!(f, "request body could not be read"),
            BadRequest::Field { field, message } => write!(f, "{field}: {message}"),
        }
    }
}

pub(crate) fn field_error(field: &str, message: impl Into<String>) -> BadRequest {
    BadRequest::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Collects a body of at most `limit` bytes, refusing early on a larger `Content-Length`.
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BadRequest>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(BadRequest::TooLarge { limit });
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BadRequest::TooLarge { limit }),
        Err(_) => Err(BadRequest::Unreadable),
    }
}

/// Decoded `name=value` pairs of a query string or urlencoded form.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Params {
        Params {
            pairs: form_urlencoded::parse(raw).into_owned().collect(),
        }
    }

    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name` untrimmed (for text areas), `""` when absent.
    pub(crate) fn raw(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `name`.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when a checkbox named `name` was sent checked.
    pub(crate) fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("on" | "true" | "1" | "yes"))
    }

    /// `name` parsed as `T`; absent is `Ok(None)`, unparsable a 400 naming the field.
    pub(crate) fn parse_opt<T>(&self, name: &str) -> Result<Option<T>, BadRequest>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<T>()
                .map(Some)
                .map_err(|e| field_error(name, format!("{v:?} is not valid: {e}"))),
        }
    }
}

/// The search text `q`, trimmed; `None` when empty. Longer than
/// [`MAX_SEARCH_BYTES`](crate::scheduler::MAX_SEARCH_BYTES) is refused, for tasks and runs
/// alike.
pub(crate) fn search_text(p: &Params) -> Result<Option<&str>, BadRequest> {
    let text = p.get("q").map(str::trim).filter(|q| !q.is_empty());
    let most = crate::scheduler::MAX_SEARCH_BYTES;
    match text {
        Some(t) if t.len() > most => Err(field_error(
            "q",
            format!("the search text is {} bytes; at most {most}", t.len()),
        )),
        _ => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn params_decode_and_type() {
        let p = Params::parse(b"q=a+b%26c&page=2&page=3&empty=&flag=on&bad=x");
        assert_eq!(p.get("q"), Some("a b&c"));
        assert_eq!(p.get("empty"), None);
        assert_eq!(p.parse_opt::<u32>("page").unwrap(), Some(2));
        assert_eq!(p.all("page").collect::<Vec<_>>(), ["2", "3"]);
        assert!(p.flag("flag"));
        assert!(!p.flag("missing"));
        let err = p.parse_opt::<u32>("bad").unwrap_err();
        assert!(err.to_string().starts_with("bad: "), "{err}");
    }

    #[tokio::test]
    async fn body_limit_by_header_and_by_content() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, "100".parse().unwrap());
        let big = Full::new(Bytes::from(vec![b'x'; 100]));
        assert_eq!(
            read_body(&h, big, 10).await,
            Err(BadRequest::TooLarge { limit: 10 })
        );
        let lying = Full::new(Bytes::from(vec![b'x'; 100]));
        assert_eq!(
            read_body(&HeaderMap::new(), lying, 10).await,
            Err(BadRequest::TooLarge { limit: 10 })
        );
        let ok = Full::new(Bytes::from_static(b"a=1"));
        assert_eq!(read_body(&HeaderMap::new(), ok, 10).await.unwrap(), "a=1");
    }
}
