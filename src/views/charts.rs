//! Runs and failures over time as server-drawn SVG: bars of runs with their failures on top,
//! an accessible name and summary, and the same numbers as a table for those who cannot see
//! the picture (in a `<details>`: no script needed). Colours come from the theme's variables,
//! so dark mode and the host's accent apply.

use std::fmt::Write as _;

use maud::{html, Markup, PreEscaped};

use super::components::absolute;
use super::View;
use crate::scheduler::{Series, SeriesWindow};

const W: f64 = 600.0;
const H: f64 = 120.0;

/// What a window is called in a chart's name.
fn span(w: SeriesWindow) -> &'static str {
    match w {
        SeriesWindow::Hour => "the last hour, per minute",
        SeriesWindow::Day => "the last 24 hours, per hour",
        SeriesWindow::Week => "the last 7 days, per hour",
    }
}

/// `s` with its first letter upper-cased.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What a chart shows, in words: "No runs.", "1 run, which failed; at most 1 in one hour.",
/// "12 runs, none failed; …", "12 runs, 3 of them failed; …".
pub(crate) fn summary(runs: u64, failures: u64, peak: u64, unit: &str) -> String {
    if runs == 0 {
        return "No runs.".into();
    }
    let failed = match (runs, failures) {
        (_, 0) => "none failed".to_string(),
        (1, _) => "which failed".to_string(),
        (_, f) => format!("{f} of them failed"),
    };
    let noun = if runs == 1 { "run" } else { "runs" };
    format!("{runs} {noun}, {failed}; at most {peak} in one {unit}.")
}

/// One chart, named `what` ("All runs", "Runs of nightly-report").
pub(crate) fn chart(v: &View<'_>, id: &str, what: &str, s: &Series) -> Markup {
    let runs: u64 = s.points.iter().map(|p| p.runs).sum();
    let failures: u64 = s.points.iter().map(|p| p.failures).sum();
    let peak = s.points.iter().map(|p| p.runs).max().unwrap_or(0).max(1);
    let name = format!("{what}: runs and failures over {}", span(s.window));
    let unit = if s.bucket_minutes == 1 {
        "minute"
    } else {
        "hour"
    };
    let summary = summary(runs, failures, peak, unit);
    // Only digits and fixed words go into the SVG text: built as a string, not escaped twice.
    let n = s.points.len().max(1) as f64;
    let bar = W / n;
    let mut bars = String::with_capacity(s.points.len() * 120);
    for (i, p) in s.points.iter().enumerate() {
        let x = i as f64 * bar;
        let h = p.runs as f64 / peak as f64 * (H - 4.0);
        let fh = p.failures as f64 / peak as f64 * (H - 4.0);
        if p.runs > 0 {
            let _ = write!(
                bars,
                r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"/>"#,
                H - h,
                (bar - 1.0).max(0.5)
            );
        }
        if p.failures > 0 {
            let _ = write!(
                bars,
                r#"<rect class="bar-fail" x="{x:.1}" y="{:.1}" width="{:.1}" height="{fh:.1}"/>"#,
                H - fh,
                (bar - 1.0).max(0.5)
            );
        }
    }
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        figure.chart-card {
            svg.chart.over-time viewBox={"0 0 " (W) " " (H)} preserveAspectRatio="none" role="img"
                aria-labelledby=(title_id) aria-describedby=(desc_id) {
                title id=(title_id) { (name) }
                desc id=(desc_id) { (summary) }
                line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
                (PreEscaped(bars))
            }
            // The time axis and the scale, in words under the bars (the SVG stretches).
            div.chart-axis aria-hidden="true" {
                span { (s.points.first().map(|p| absolute(v, p.start)).unwrap_or_default()) }
                span.muted { "top: " (peak) " per " (unit) }
                span { "now" }
            }
            // Short, to fit three charts side by side: the full name is the chart's own.
            figcaption {
                span.chart-when { (capitalized(span(s.window))) }
                span.muted { (summary) }
                span.legend aria-hidden="true" { span.swatch.ok {} "runs" span.swatch.fail {} "failures" }
            }
            details.chart-table {
                summary { "The numbers" }
                div.table-wrap {
                    table.table {
                        caption.sr-only { (name) }
                        thead { tr { th scope="col" { "From" } th scope="col" { "Runs" } th scope="col" { "Failures" } } }
                        tbody {
                            @for p in s.points.iter().filter(|p| p.runs > 0 || p.failures > 0) {
                                tr { td { (absolute(v, p.start)) } td { (p.runs) } td { (p.failures) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The overview's three charts (hour, day, week), as one piece of HTML.
pub(crate) fn overview_charts(v: &View<'_>, series: &[Series]) -> String {
    html! {
        @for s in series {
            (chart(v, &format!("chart-{}", s.window.as_str()), "All runs", s))
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn summaries_count_in_words() {
        use super::summary;
        assert_eq!(summary(0, 0, 1, "hour"), "No runs.");
        assert_eq!(
            summary(1, 1, 1, "hour"),
            "1 run, which failed; at most 1 in one hour."
        );
        assert_eq!(
            summary(1, 0, 1, "minute"),
            "1 run, none failed; at most 1 in one minute."
        );
        assert_eq!(
            summary(12, 3, 4, "hour"),
            "12 runs, 3 of them failed; at most 4 in one hour."
        );
    }
}
