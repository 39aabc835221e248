//! A downstream service: it receives bearer tokens, validates each one at
//! the broker (pooled connection, no app credentials needed) and gates
//! every request with `scope_is_subset` on the verified claims.
//!
//! The example starts the service on a loopback port, creates an agent
//! scoped to one customer and one order, and calls the service as that
//! agent: allowed, blocked, and after release, rejected.
//!
//! ```text
//! cargo run --example downstream_service
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use agentwrit_blocking::{App, Validation, scope_is_subset, validate};
use agentwrit_examples::DevApp;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a request needs: `GET /customers/{id}` reads that customer,
/// `POST /orders/{id}` writes that order.
fn required_scope(method: &str, path: &str) -> Option<String> {
    match (method, path.split('/').collect::<Vec<_>>().as_slice()) {
        ("GET", ["", "customers", id]) => Some(format!("read:data:customer-{id}")),
        ("POST", ["", "orders", id]) => Some(format!("write:data:order-{id}")),
        _ => None,
    }
}

/// The service's whole authorization logic.
fn authorize(
    broker_url: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    let Some(required) = required_scope(method, path) else {
        return (404, "no such resource".into());
    };
    let Some(token) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return (401, "missing bearer token".into());
    };
    match validate(broker_url, token) {
        Ok(Validation::Valid(claims)) if scope_is_subset(&[required.as_str()], &claims.scope) => {
            (200, format!("ok for {}", claims.sub))
        }
        Ok(Validation::Valid(_)) => (403, format!("token lacks {required}")),
        Ok(_) => (401, "token is invalid or expired".into()),
        Err(e) => (503, format!("cannot reach the broker: {e}")),
    }
}

fn serve(listener: TcpListener, broker_url: String) {
    for stream in listener.incoming().flatten() {
        if handle(stream, &broker_url).is_err() {
            continue;
        }
    }
}

fn handle(mut stream: TcpStream, broker_url: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let (status, body) = authorize(broker_url, method, path, authorization.as_deref());
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn call(base: &str, method: &str, path: &str, bearer: &str) -> Result<(u16, String), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}{path}");
    let response = match method {
        "POST" => agent
            .post(&url)
            .header("authorization", bearer)
            .send_empty()?,
        _ => agent.get(&url).header("authorization", bearer).call()?,
    };
    let status = response.status().as_u16();
    Ok((status, response.into_body().read_to_string()?))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured broker and app, or else an embedded development broker.
    let dev = DevApp::unless_configured()?;
    let app = match &dev {
        None => App::from_env()?,
        Some(dev) => App::new(dev.url(), dev.client_id(), dev.client_secret())?,
    };
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let service = format!("http://{}", listener.local_addr()?);
    let broker_url = app.broker_url().to_owned();
    std::thread::spawn(move || serve(listener, broker_url));
    println!("Downstream service on {service}, validating at the broker");
    println!("{}", "=".repeat(55));
    println!();

    let agent = app
        .create_agent(
            "order-worker",
            "process-ord-4823",
            &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        )?
        .release_on_drop();
    let bearer = agent.bearer_header_value()?;
    let bearer = bearer.to_str()?;
    let requests = [
        ("GET", "/customers/cust-7291"),
        ("POST", "/orders/ord-4823"),
        ("GET", "/customers/cust-9999"),
        ("POST", "/orders/ord-0000"),
    ];
    for (method, path) in requests {
        let (status, body) = call(&service, method, path, bearer)?;
        println!("{method:<4} {path:<22} → {status} {body}");
    }
    agent.release()?;
    let (status, body) = call(&service, "GET", "/customers/cust-7291", bearer)?;
    println!(
        "{:<4} {:<22} → {status} {body}   (after release)",
        "GET", "/customers/cust-7291"
    );
    if status != 401 {
        return Err("a released token was accepted".into());
    }
    Ok(())
}
