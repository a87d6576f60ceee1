//! The audit log page.

use maud::{html, Markup};

use super::components::pager;
use super::View;
use crate::audit::AuditEntry;

/// The audit body.
pub(crate) fn audit(
    v: &View<'_>,
    entries: &[AuditEntry],
    page: u32,
    pages: u32,
    total: usize,
) -> Markup {
    html! {
        // Scrolls sideways on a phone: focusable, so a keyboard can scroll it too.
        div.table-wrap tabindex="0" role="region" aria-label="Audit log" {
            @if entries.is_empty() {
                div.empty.card { p { "Nothing audited yet: sign-ins and every change appear here." } }
            } @else {
                table.table {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "From" }
                        th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Outcome" }
                    } }
                    tbody {
                        @for e in entries {
                            tr {
                                td.nowrap { (super::components::Abs(v, e.at)) }
                                td.mono { (e.actor) }
                                td.mono.muted { (e.address.as_deref().unwrap_or("")) }
                                td.mono { (e.action) }
                                td.mono { (e.target.as_deref().unwrap_or("")) }
                                td { @if e.outcome == "ok" { span.badge.b-succeeded { "ok" } } @else { span.badge.b-failed { (e.outcome) } } }
                            }
                        }
                    }
                }
            }
        }
        (pager(v, "/audit", &[], page, pages, total, false, &Default::default()))
    }
}
