//! Error and confirmation pages.

use super::components::Esc;
use http::StatusCode;
use maud::{html, Markup};

use super::View;

/// A page saying what went wrong, with a way back.
pub(crate) fn error(v: &View<'_>, status: StatusCode, message: &str) -> Markup {
    html! {
        section.card.empty {
            h2 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p { (message) }
            p { a.btn href=(v.urls.root()) { "Back to the overview" } }
        }
    }
}

/// The server-side confirmation for destructive actions when the script did not ask.
pub(crate) fn confirm(
    v: &View<'_>,
    question: &str,
    action: &str,
    hidden: &[(&str, &str)],
    back: &str,
) -> Markup {
    html! {
        section.card.confirm {
            h2 { "Please confirm" }
            p { (question) }
            form method="post" action=(action) {
                (v.csrf_field())
                @for (k, val) in hidden {
                    input type="hidden" name=(k) value=(val);
                }
                input type="hidden" name="confirm" value="yes";
                input type="hidden" name="back" value=(back);
                button.btn.btn-danger type="submit" { "Yes, remove" }
                " "
                a.btn href=(Esc(v.urls.at(back))) { "Cancel" }
            }
        }
    }
}

/// The page for a URL no route has: the frame of the sign-in page (brand, one box), without
/// the navigation or the scheduler's state, which a stranger must not see.
pub(crate) fn not_found(v: &View<'_>) -> Markup {
    let content = html! {
        h1 { "Not found" }
        p { "There is no page at this address." }
        p { a.btn.btn-primary href=(v.urls.root()) { "Go to the dashboard" } }
    };
    super::layout::boxed(v, "Not found", content)
}
