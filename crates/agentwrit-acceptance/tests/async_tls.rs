//! The acceptance matrix, on agentwrit-async, over HTTPS and mutual TLS.

mod https {
    agentwrit_acceptance::acceptance_matrix!(
        agentwrit_acceptance::Async,
        agentwrit_acceptance::Scheme::Https
    );
}

mod mtls {
    agentwrit_acceptance::acceptance_matrix!(
        agentwrit_acceptance::Async,
        agentwrit_acceptance::Scheme::Mtls
    );
}
