//! The web glue: SSE handler, run routes, the page shell and its script,
//! and the one error shape of the demos' JSON endpoints.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{Stream, StreamExt};
use maud::{DOCTYPE, Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Problem;
use crate::bus::{EventBus, Runs};

/// The SSE response for a run: every envelope as one `message` event
/// (`id` = its sequence number, `data` = the envelope JSON), replayed from
/// the start, live after that, closed after `run_finished`. Keep-alive
/// comments every 15 s.
pub fn sse_response(
    bus: &EventBus,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>> + Send + 'static> {
    let stream = bus.stream().map(|envelope| {
        let data = serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".to_owned());
        Ok(sse::Event::default()
            .id(envelope.seq.to_string())
            .data(data))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The routes every demo shares, on its [`Runs`]:
///
/// - `GET /api/runs/{id}/events`: the run's SSE stream ([`sse_response`]);
/// - `GET /api/runs/{id}`: the run so far as JSON (`{"run_id", "finished",
///   "events": [...]}`);
/// - `GET /api/runs/latest`: the same for the newest run;
/// - `GET /assets/demo.js` and `GET /assets/demo.css`: the page's script
///   and style.
///
/// Merge it into the app's router (`app_router.merge(run_routes(runs))`).
///
/// ```
/// let router: axum::Router = agentwrit_demo_kit::run_routes(agentwrit_demo_kit::Runs::new());
/// # drop(router);
/// ```
pub fn run_routes(runs: Runs) -> Router {
    Router::new()
        .route("/api/runs/latest", get(latest_run))
        .route("/api/runs/{id}", get(run_json))
        .route("/api/runs/{id}/events", get(run_events))
        .route("/assets/demo.js", get(script))
        .route("/assets/demo.css", get(style))
        .with_state(runs)
}

/// What `POST` to a demo's run endpoint carries (the page script sends
/// it as JSON).
///
/// ```
/// let req: agentwrit_demo_kit::RunRequest = serde_json::from_str(
///     r#"{"scenario":"expiry","text":"no rush","options":{"natural_expiry":true}}"#)?;
/// assert!(req.flag("natural_expiry"));
/// assert!(!req.flag("other"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The quick-fill scenario id, or `"free-text"`.
    #[serde(default)]
    pub scenario: String,
    /// The user's text.
    #[serde(default)]
    pub text: String,
    /// The form's checkboxes and selects by name.
    #[serde(default)]
    pub options: BTreeMap<String, Value>,
}

impl RunRequest {
    /// Whether option `name` is `true`.
    #[must_use]
    pub fn flag(&self, name: &str) -> bool {
        self.options
            .get(name)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Option `name` as a string.
    #[must_use]
    pub fn option_str(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(Value::as_str)
    }
}

/// The answer to a run `POST`: where to listen.
///
/// ```
/// let s = agentwrit_demo_kit::RunStarted::new("run-3");
/// assert_eq!(s.events_url, "/api/runs/run-3/events");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// The run id.
    pub run_id: String,
    /// Its SSE stream.
    pub events_url: String,
}

impl RunStarted {
    /// For run `run_id`.
    #[must_use]
    pub fn new(run_id: &str) -> RunStarted {
        RunStarted {
            run_id: run_id.to_owned(),
            events_url: format!("/api/runs/{run_id}/events"),
        }
    }
}

async fn run_events(State(runs): State<Runs>, Path(id): Path<String>) -> Response {
    match runs.get(&id) {
        Some(bus) => sse_response(&bus).into_response(),
        None => Problem::not_found("no such run")
            .at(format!("/api/runs/{id}/events"))
            .into_response(),
    }
}

fn run_body(id: &str, bus: &EventBus) -> Value {
    serde_json::json!({
        "run_id": id,
        "finished": bus.is_finished(),
        "events": bus.snapshot(),
    })
}

async fn run_json(State(runs): State<Runs>, Path(id): Path<String>) -> Response {
    match runs.get(&id) {
        Some(bus) => Json(run_body(&id, &bus)).into_response(),
        None => Problem::not_found("no such run")
            .at(format!("/api/runs/{id}"))
            .into_response(),
    }
}

async fn latest_run(State(runs): State<Runs>) -> Response {
    match runs.latest() {
        Some((id, bus)) => Json(run_body(&id, &bus)).into_response(),
        None => Problem::not_found("no run yet")
            .at("/api/runs/latest")
            .into_response(),
    }
}

async fn script() -> Response {
    (
        [("content-type", "text/javascript; charset=utf-8")],
        PAGE_SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([("content-type", "text/css; charset=utf-8")], PAGE_STYLE).into_response()
}

/// A scenario quick-fill button: fills the text box (and options) and,
/// with `?scenario=<id>&autorun=1` in the page URL, starts by itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Id sent as `scenario` (`"cross-customer"`).
    pub id: String,
    /// Button label.
    pub label: String,
    /// The text it fills in.
    pub text: String,
    /// Options it sets (checkbox names to values).
    pub options: BTreeMap<String, Value>,
}

impl Scenario {
    /// A quick-fill with no options.
    ///
    /// ```
    /// let s = agentwrit_demo_kit::Scenario::new("anonymous", "Anonymous ticket", "What are your hours?")
    ///     .option("natural_expiry", false);
    /// assert_eq!(s.id, "anonymous");
    /// ```
    #[must_use]
    pub fn new(id: &str, label: &str, text: &str) -> Scenario {
        Scenario {
            id: id.to_owned(),
            label: label.to_owned(),
            text: text.to_owned(),
            options: BTreeMap::new(),
        }
    }

    /// Sets option `name` when the button is pressed.
    #[must_use]
    pub fn option(mut self, name: &str, value: impl Into<Value>) -> Scenario {
        self.options.insert(name.to_owned(), value.into());
        self
    }
}

/// The page every demo serves: a header, an intro, the scenario buttons,
/// the form (text box, the app's extra controls, Run), the live trace and
/// any extra sections (MedAssist's audit tab). Server-rendered with
/// [maud](https://maud.lambda.xyz/): every piece is either plain text
/// (escaped when rendered) or [`Markup`] built with `maud::html!` (whose
/// own text is escaped the same way), so no string is trusted as HTML.
/// The only script is the kit's hand-written `/assets/demo.js`.
///
/// Element contract of the script: `form#run-form` (its `action` is the
/// run endpoint), `textarea#run-text`, buttons `[data-scenario]`, inputs
/// with `data-option` (sent in `options` by name), `ol#trace` (gets
/// `data-state="running"|"finished"` and `data-run`), `#run-status`,
/// `#answer`. When a run finishes the script dispatches a
/// `demo:run-finished` event on `document` (detail: the last envelope)
/// for the app's own sections to refresh.
///
/// ```
/// use agentwrit_demo_kit::{PageShell, Scenario};
/// let html = PageShell::new("Support desk <3", "/api/tickets")
///     .tagline("Three agents, one customer each")
///     .intro(maud::html! { p { "Submit a " b { "ticket" } "." } })
///     .scenario(Scenario::new("billing", "Billing", "I was double-charged"))
///     .render()
///     .into_string();
/// assert!(html.contains("data-scenario=\"billing\""));
/// assert!(html.contains("action=\"/api/tickets\""));
/// assert!(html.contains("<p>Submit a <b>ticket</b>.</p>"));
/// assert!(html.contains("<title>Support desk &lt;3</title>"));
/// assert!(html.contains("/assets/demo.js"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct PageShell {
    title: String,
    tagline: String,
    intro: Markup,
    run_endpoint: String,
    scenarios: Vec<Scenario>,
    controls: Markup,
    sections: Markup,
    footer: Markup,
    placeholder: String,
}

impl PageShell {
    /// A page titled `title` whose form posts to `run_endpoint`.
    #[must_use]
    pub fn new(title: &str, run_endpoint: &str) -> PageShell {
        PageShell {
            title: title.to_owned(),
            run_endpoint: run_endpoint.to_owned(),
            placeholder: "Type a request, or pick a scenario above".to_owned(),
            ..PageShell::default()
        }
    }

    /// One line under the title (plain text).
    #[must_use]
    pub fn tagline(mut self, text: &str) -> PageShell {
        self.tagline = text.to_owned();
        self
    }

    /// The intro above the scenarios.
    #[must_use]
    pub fn intro(mut self, markup: Markup) -> PageShell {
        self.intro = markup;
        self
    }

    /// Adds a quick-fill button.
    #[must_use]
    pub fn scenario(mut self, scenario: Scenario) -> PageShell {
        self.scenarios.push(scenario);
        self
    }

    /// Extra form controls (inputs with `data-option name=..`), before
    /// the Run button.
    #[must_use]
    pub fn controls(mut self, markup: Markup) -> PageShell {
        self.controls = markup;
        self
    }

    /// Extra sections after the trace, e.g. an audit tab.
    #[must_use]
    pub fn sections(mut self, markup: Markup) -> PageShell {
        self.sections = markup;
        self
    }

    /// The footer.
    #[must_use]
    pub fn footer(mut self, markup: Markup) -> PageShell {
        self.footer = markup;
        self
    }

    /// The text box's placeholder.
    #[must_use]
    pub fn placeholder(mut self, text: &str) -> PageShell {
        self.placeholder = text.to_owned();
        self
    }

    /// The whole HTML document.
    #[must_use]
    pub fn render(&self) -> Markup {
        let body = html! {
            header {
                h1 { (self.title) }
                p.tagline { (self.tagline) }
            }
            main {
                section.intro { (self.intro) }
                section.scenarios {
                    h2 { "Scenarios" }
                    @for s in &self.scenarios {
                        // The space between buttons, as between inline
                        // elements on separate lines.
                        (scenario_button(s)) " "
                    }
                }
                form #run-form action=(self.run_endpoint) method="post" {
                    textarea #run-text name="text" rows="3" placeholder=(self.placeholder) {}
                    div.controls {
                        (self.controls)
                        button type="submit" #run-button { "Run" }
                        " "
                        span #run-status {}
                    }
                }
                // Filled by the script from the run's `usage` event.
                section.usage-box {
                    h2 { "Scope usage: granted vs used vs denied" }
                    div #usage {}
                }
                section.trace-box {
                    h2 { "Live trace" }
                    ol #trace data-state="idle" {}
                    div #answer {}
                }
                (self.sections)
            }
            footer { (self.footer) }
            script src="/assets/demo.js" {}
        };
        document(&self.title, body)
    }

    /// [`PageShell::render`] as an axum response.
    pub fn html(&self) -> Html<String> {
        Html(self.render().into_string())
    }
}

fn scenario_button(s: &Scenario) -> Markup {
    let options = serde_json::to_string(&s.options).unwrap_or_else(|_| "{}".to_owned());
    html! {
        button type="button" class="scenario" data-scenario=(s.id) data-text=(s.text) data-options=(options) {
            (s.label)
        }
    }
}

/// A whole HTML document in the demos' style: `<!doctype html>`, the
/// head (charset, viewport, `title`, `/assets/demo.css`) and `body`.
///
/// ```
/// let page = agentwrit_demo_kit::document("Audit & trail", maud::html! { main { "hello" } });
/// let html = page.into_string();
/// assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
/// assert!(html.contains("<title>Audit &amp; trail</title>"));
/// assert!(html.contains("<body><main>hello</main></body>"));
/// ```
#[must_use]
pub fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/assets/demo.css";
            }
            body { (body) }
        }
    }
}

/// The page script, hand-written: quick-fill buttons, POST the run as
/// JSON, follow its SSE stream with `EventSource`, one `<li>` per event.
pub const PAGE_SCRIPT: &str = include_str!("demo.js");

/// The page style.
pub const PAGE_STYLE: &str = include_str!("demo.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_markup_is_kept() {
        let html = PageShell::new("A <b>title</b>", "/api/run?a=1&b=2")
            .tagline("\"quoted\" & <tagged>")
            .placeholder("say \"hi\"")
            .scenario(
                Scenario::new("x\"y", "<script>alert(1)</script>", "it's <here>")
                    .option("note", "</button><script>"),
            )
            .controls(html! { label { "Patient " input name="patient" data-option; } })
            .footer(html! { "by " code { "<the kit>" } })
            .render()
            .into_string();
        assert!(
            html.contains("<title>A &lt;b&gt;title&lt;/b&gt;</title>"),
            "{html}"
        );
        assert!(html.contains(r#"action="/api/run?a=1&amp;b=2""#));
        assert!(html.contains("&quot;quoted&quot; &amp; &lt;tagged&gt;"));
        assert!(html.contains(r#"placeholder="say &quot;hi&quot;""#));
        assert!(html.contains(r#"data-scenario="x&quot;y""#));
        assert!(html.contains(r#"data-text="it's &lt;here&gt;""#));
        assert!(html.contains(
            r#"data-options="{&quot;note&quot;:&quot;&lt;/button&gt;&lt;script&gt;&quot;}""#
        ));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;</button>"));
        // Markup passes through as markup.
        assert!(html.contains(r#"<label>Patient <input name="patient" data-option></label>"#));
        assert!(html.contains("<footer>by <code>&lt;the kit&gt;</code></footer>"));
        // The only scripts are the kit's own.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<script src="/assets/demo.js"></script>"#));
    }
}
