//! The Instances page: the scheduler processes sharing the schedule.

use maud::{html, Markup};

use super::components::when;
use super::View;
use crate::scheduler::InstanceInfo;

/// The instances body.
pub(crate) fn instances(v: &View<'_>, list: &[InstanceInfo]) -> Markup {
    let live = list.iter().filter(|i| !i.stale).count();
    html! {
        p.muted {
            @if list.len() == 1 && list[0].id == "local" {
                "One process, with a private in-memory store. Give each replica the same PostgreSQL store to share one schedule; they appear here."
            } @else {
                (live) " live of " (list.len()) ". A stale instance missed its heartbeats: it stopped, hangs or lost the database; its runs are recorded as interrupted once their leases lapse."
            }
        }
        div.table-wrap tabindex="0" role="region" aria-label="Instances" {
            @if list.is_empty() {
                div.empty.card { p { "No instance has reported yet. Instances appear once their scheduler starts." } }
            } @else {
                table.table {
                    thead { tr {
                        th scope="col" { "Instance" } th scope="col" { "Status" } th scope="col" { "Host" }
                        th scope="col" { "PID" } th scope="col" { "Started" } th scope="col" { "Last heartbeat" }
                        th scope="col" { "Running now" } th scope="col" { "Jobs" }
                    } }
                    tbody {
                        @for i in list {
                            tr {
                                td.mono.nowrap { (i.id) @if i.this { " " span.muted { "(this one)" } } }
                                td {
                                    @if i.stale { span.badge.b-failed { "stale" } }
                                    @else { span.badge.b-succeeded { "live" } }
                                }
                                td.mono { (i.host) }
                                td.mono { (i.pid) }
                                td { (when(v, Some(i.started_at))) }
                                td { (when(v, Some(i.heartbeat_at))) }
                                td { (i.running) }
                                td.mono.muted { (i.jobs.join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    }
}
