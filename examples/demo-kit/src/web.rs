//! The web glue: SSE handler, run routes, the page shell and its script.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        None => (StatusCode::NOT_FOUND, "no such run").into_response(),
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
        None => (StatusCode::NOT_FOUND, "no such run").into_response(),
    }
}

async fn latest_run(State(runs): State<Runs>) -> Response {
    match runs.latest() {
        Some((id, bus)) => Json(run_body(&id, &bus)).into_response(),
        None => (StatusCode::NOT_FOUND, "no run yet").into_response(),
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

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attributes.
///
/// ```
/// assert_eq!(agentwrit_demo_kit::escape_html("<b a=\"1\">&"), "&lt;b a=&quot;1&quot;&gt;&amp;");
/// ```
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
/// any extra sections (MedAssist's audit tab). Server-rendered; the only
/// script is the kit's hand-written `/assets/demo.js`.
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
/// let html = PageShell::new("Support desk", "/api/tickets")
///     .tagline("Three agents, one customer each")
///     .scenario(Scenario::new("billing", "Billing", "I was double-charged"))
///     .render();
/// assert!(html.contains("data-scenario=\"billing\""));
/// assert!(html.contains("action=\"/api/tickets\""));
/// assert!(html.contains("/assets/demo.js"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct PageShell {
    title: String,
    tagline: String,
    intro_html: String,
    run_endpoint: String,
    scenarios: Vec<Scenario>,
    controls_html: String,
    sections_html: String,
    footer_html: String,
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

    /// Intro HTML above the scenarios (trusted: the app's own markup).
    #[must_use]
    pub fn intro_html(mut self, html: &str) -> PageShell {
        self.intro_html = html.to_owned();
        self
    }

    /// Adds a quick-fill button.
    #[must_use]
    pub fn scenario(mut self, scenario: Scenario) -> PageShell {
        self.scenarios.push(scenario);
        self
    }

    /// Extra form controls (trusted HTML; inputs with `data-option name=..`).
    #[must_use]
    pub fn controls_html(mut self, html: &str) -> PageShell {
        self.controls_html = html.to_owned();
        self
    }

    /// Extra sections after the trace (trusted HTML), e.g. an audit tab.
    #[must_use]
    pub fn sections_html(mut self, html: &str) -> PageShell {
        self.sections_html = html.to_owned();
        self
    }

    /// Footer HTML (trusted).
    #[must_use]
    pub fn footer_html(mut self, html: &str) -> PageShell {
        self.footer_html = html.to_owned();
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
    pub fn render(&self) -> String {
        let mut buttons = String::new();
        for s in &self.scenarios {
            let options = serde_json::to_string(&s.options).unwrap_or_else(|_| "{}".to_owned());
            buttons.push_str(&format!(
                "<button type=\"button\" class=\"scenario\" data-scenario=\"{}\" data-text=\"{}\" data-options=\"{}\">{}</button>\n",
                escape_html(&s.id),
                escape_html(&s.text),
                escape_html(&options),
                escape_html(&s.label),
            ));
        }
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/assets/demo.css">
</head>
<body>
<header><h1>{title}</h1><p class="tagline">{tagline}</p></header>
<main>
<section class="intro">{intro}</section>
<section class="scenarios"><h2>Scenarios</h2>
{buttons}</section>
<form id="run-form" action="{endpoint}" method="post">
<textarea id="run-text" name="text" rows="3" placeholder="{placeholder}"></textarea>
<div class="controls">{controls}<button type="submit" id="run-button">Run</button> <span id="run-status"></span></div>
</form>
<section class="trace-box"><h2>Live trace</h2>
<ol id="trace" data-state="idle"></ol>
<div id="answer"></div>
</section>
{sections}
</main>
<footer>{footer}</footer>
<script src="/assets/demo.js"></script>
</body>
</html>
"#,
            title = escape_html(&self.title),
            tagline = escape_html(&self.tagline),
            intro = self.intro_html,
            endpoint = escape_html(&self.run_endpoint),
            placeholder = escape_html(&self.placeholder),
            controls = self.controls_html,
            sections = self.sections_html,
            footer = self.footer_html,
        )
    }

    /// [`PageShell::render`] as an axum response.
    pub fn html(&self) -> Html<String> {
        Html(self.render())
    }
}

/// The page script, hand-written: quick-fill buttons, POST the run as
/// JSON, follow its SSE stream with `EventSource`, one `<li>` per event.
pub const PAGE_SCRIPT: &str = include_str!("demo.js");

/// The page style.
pub const PAGE_STYLE: &str = include_str!("demo.css");
