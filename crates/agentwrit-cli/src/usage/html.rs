//! The report as one self-contained HTML page: inline style, an inline
//! SVG chart of granted vs used vs denied scopes per task kind, the
//! tables, and a few lines of script that mark the chart as rendered
//! (the browser check reads that mark). Every text from the records or
//! the broker is escaped by maud.

use agentwrit_usage::{KindReport, Recommendation, Report, ScopeCount, TaskReport};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#556;margin:0 0 4px}.note{background:#fff7e0;border:1px solid #ecd9a0;padding:8px 10px;border-radius:6px;max-width:900px}
table{border-collapse:collapse;margin:6px 0 14px;min-width:600px}
th,td{border-bottom:1px solid #e3e6ea;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12.5px ui-monospace,monospace;background:#f3f5f8;padding:1px 4px;border-radius:3px}
.unused code{background:#fde8e8;color:#8a1f1f}.denied code{background:#fdebd3;color:#8a4b00}
.used code{background:#e3f4e6;color:#1e5e2c}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
";

const SCRIPT: &str = "
(function () {
  var chart = document.getElementById('chart');
  if (!chart) { return; }
  var bars = chart.querySelectorAll('rect.bar');
  var drawn = 0;
  for (var i = 0; i < bars.length; i++) {
    var box = bars[i].getBBox();
    if (Number(bars[i].getAttribute('data-value')) > 0 && box.width > 0 && box.height > 0) { drawn++; }
  }
  chart.setAttribute('data-rendered', String(drawn));
  document.body.setAttribute('data-state', 'ready');
})();
";

const GRANTED: &str = "#8aa4c8";
const USED: &str = "#3f9b57";
const DENIED: &str = "#e08a1e";

fn codes(list: &[String], class: &str) -> Markup {
    html! {
        span class=(class) {
            @if list.is_empty() { "–" }
            @for (i, s) in list.iter().enumerate() {
                @if i > 0 { " " }
                code { (s) }
            }
        }
    }
}

fn counts(list: &[ScopeCount], class: &str) -> Markup {
    html! {
        span class=(class) {
            @if list.is_empty() { "–" }
            @for (i, c) in list.iter().enumerate() {
                @if i > 0 { " " }
                code { (c.scope) } " ×" (c.count)
            }
        }
    }
}

fn recommended(list: &[Recommendation]) -> Markup {
    html! {
        @if list.is_empty() { "–" }
        @for (i, r) in list.iter().enumerate() {
            @if i > 0 { " " }
            code { (r.scope) }
            @if !r.matched.is_empty() { " (matched " (r.matched.join(", ")) ")" }
        }
    }
}

/// Distinct granted scopes, those used, distinct denied scopes.
fn figures(k: &KindReport) -> [(usize, &'static str, &'static str); 3] {
    [
        (k.scopes.len(), "granted", GRANTED),
        (
            k.scopes.iter().filter(|s| s.used_in > 0).count(),
            "used",
            USED,
        ),
        (k.denied.len(), "denied", DENIED),
    ]
}

fn chart(report: &Report) -> Markup {
    let label_w = 260.0;
    let bar_w = 420.0;
    let row_h = 16.0;
    let group_h = row_h * 3.0 + 14.0;
    let max = report
        .kinds
        .iter()
        .flat_map(|k| figures(k).map(|f| f.0))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let height = group_h * report.kinds.len().max(1) as f64 + 10.0;
    let width = label_w + bar_w + 120.0;
    html! {
        svg id="chart" role="img" aria-label="granted vs used vs denied scopes per task kind"
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
            @for (i, k) in report.kinds.iter().enumerate() {
                @let y0 = 6.0 + group_h * i as f64;
                text x="0" y=(y0 + row_h * 1.7) {
                    (k.orch_id.as_deref().unwrap_or("?")) "/" (k.kind)
                }
                @for (j, (value, what, colour)) in figures(k).into_iter().enumerate() {
                    @let y = y0 + row_h * j as f64;
                    @let w = bar_w * value as f64 / max;
                    rect class="bar" data-kind=(k.kind) data-what=(what) data-value=(value)
                        x=(label_w) y=(y) width=(format!("{w:.1}")) height=(row_h - 3.0) fill=(colour) {}
                    text x=(label_w + w + 6.0) y=(y + row_h - 5.0) { (value) " " (what) }
                }
            }
        }
    }
}

fn task_row(t: &TaskReport) -> Markup {
    html! {
        tr data-task=(t.task_id.as_deref().unwrap_or("")) {
            td {
                (t.orch_id.as_deref().unwrap_or("?")) "/" (t.task_id.as_deref().unwrap_or("?"))
                br; small { (t.agent) }
                @if t.delegation_depth > 0 { br; small { "delegated (depth " (t.delegation_depth) ")" } }
                @if !t.observed { br; small { "not seen by a reporting service: use unknown" } }
            }
            td { (codes(&t.granted, "granted")) }
            td { (counts(&t.used, "used")) }
            td { @if t.observed { (codes(&t.unused, "unused")) } @else { "unknown" } }
            td { (counts(&t.denied, "denied")) }
            td class="n" { (t.requests) }
            td {
                @match (t.lifetime_used_seconds, t.ttl_seconds) {
                    (Some(used), Some(ttl)) => { (used) " s of " (ttl) " s" }
                    (None, Some(ttl)) => { "TTL " (ttl) " s" }
                    _ => { "–" }
                }
                @if let Some(r) = t.renewals { br; small { (r) " renewal(s)" } }
            }
            td { (t.ended_by) }
            td { (recommended(&t.recommended)) }
        }
    }
}

fn kind_table(k: &KindReport) -> Markup {
    html! {
        h3 { (k.orch_id.as_deref().unwrap_or("?")) "/" (k.kind) " — " (k.tasks) " task(s), " (k.requests) " request(s)" }
        table class="kind" {
            tr { th { "granted scope" } th { "in tasks" } th { "used in" } th { "uses" } th { "matched identifiers" } }
            @for s in &k.scopes {
                tr {
                    td { code { (s.scope) } }
                    td class="n" { (s.granted_in) }
                    td class="n" { (s.used_in) }
                    td class="n" { (s.uses) }
                    td { (s.matched.join(", ")) }
                }
            }
        }
        @if !k.denied.is_empty() {
            p class="denied" { "Denied: "
                @for d in &k.denied { code { (d.scope) } " ×" (d.count) " (" (d.tasks) " task(s)) " }
            }
        }
        p { strong { "Recommended minimal scope set: " } (recommended(&k.recommended)) }
    }
}

/// The page.
pub fn render(report: &Report) -> String {
    let services: Vec<String> = report
        .services
        .iter()
        .map(|s| format!("{} ({} instance(s))", s.service, s.instances.len()))
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "AgentWrit scope usage" }
                style { (PreEscaped(STYLE)) }
            }
            body data-state="static" {
                h1 { "Scope usage: granted vs used vs denied" }
                p class="meta" {
                    (report.tasks.len()) " task agent(s) from " (report.inputs.records_in_window)
                    " record(s) in " (report.inputs.files) " file(s); generated " (report.generated_at)
                    @if let Some(since) = &report.since { "; since " (since) }
                    @if let Some(events) = report.audit_events { "; broker audit trail joined (" (events) " events)" }
                }
                p class="note" {
                    "Reporting services: "
                    @if services.is_empty() { "none" } @else { (services.join(", ")) }
                    ". Only requests these services checked are evidence: a scope used at a service that does not report is "
                    strong { "unknown, not unused" } "."
                    @if !report.inputs.errors.is_empty() {
                        " " (report.inputs.errors.len()) " line(s) could not be read: "
                        @for e in report.inputs.errors.iter().take(5) { br; code { (e.to_string()) } }
                    }
                }
                h2 { "Per task kind" }
                p class="legend" {
                    span { span class="sw" style=(format!("background:{GRANTED}")) {} "distinct scopes granted" }
                    span { span class="sw" style=(format!("background:{USED}")) {} "of those, used" }
                    span { span class="sw" style=(format!("background:{DENIED}")) {} "distinct scopes denied" }
                }
                (chart(report))
                @for k in &report.kinds { (kind_table(k)) }
                h2 { "Per task" }
                table id="tasks" {
                    tr {
                        th { "task / agent" } th { "granted" } th { "used" } th { "unused" } th { "denied" }
                        th { "requests" } th { "lifetime" } th { "ended" } th { "recommended" }
                    }
                    @for t in &report.tasks { (task_row(t)) }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}
