//! The event bus and its SSE route: early, concurrent and late
//! subscribers all see the whole run, in order, and the stream ends after
//! `run_finished`.

use agentwrit_demo_kit::{Envelope, Event, Runs, run_routes};

async fn serve(runs: Runs) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, run_routes(runs)).await.unwrap() });
    base
}

async fn read_sse(url: &str) -> Vec<Envelope> {
    let mut response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn step(i: usize) -> Event {
    Event::Step {
        role: "test".into(),
        text: format!("step {i}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_before_during_and_after_the_run_see_every_event_in_order() {
    let runs = Runs::new();
    let base = serve(runs.clone()).await;
    let (id, bus) = runs.start();
    let url = format!("{base}/api/runs/{id}/events");

    // One subscriber from the start.
    let early = tokio::spawn({
        let url = url.clone();
        async move { read_sse(&url).await }
    });
    // Wait until it is subscribed? Not needed: replay covers it either way.
    for i in 0..200 {
        bus.emit(step(i));
        if i == 100 {
            // One that joins mid-run.
            let url = url.clone();
            let mid = tokio::spawn(async move { read_sse(&url).await });
            tokio::task::yield_now().await;
            for j in 101..200 {
                bus.emit(step(j));
            }
            bus.finish("done");
            let mid = mid.await.unwrap();
            assert_eq!(mid.len(), 201);
            break;
        }
    }
    let early = early.await.unwrap();
    let late = read_sse(&url).await;
    for got in [&early, &late] {
        assert_eq!(got.len(), 201);
        assert!(got.iter().enumerate().all(|(i, e)| e.seq == i as u64));
        assert_eq!(got[5].line, "test: step 5");
        assert_eq!(got[200].kind, "run_finished");
    }
    // Nothing is accepted after the end.
    assert_eq!(bus.emit(step(999)), None);

    let missing = reqwest::get(format!("{base}/api/runs/run-404/events"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(
        (
            problem["error_code"].as_str(),
            problem["detail"].as_str(),
            problem["instance"].as_str()
        ),
        (
            Some("not_found"),
            Some("no such run"),
            Some("/api/runs/run-404/events")
        )
    );
    let json: serde_json::Value = reqwest::get(format!("{base}/api/runs/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["finished"], true);
    assert_eq!(json["events"].as_array().unwrap().len(), 201);
}
