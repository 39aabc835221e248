//! The acceptance matrix, on agentwrit-blocking, over HTTPS and mutual TLS.

mod https {
    agentwrit_acceptance::acceptance_matrix!(
        agentwrit_acceptance::Blocking,
        agentwrit_acceptance::Scheme::Https
    );
}

mod mtls {
    agentwrit_acceptance::acceptance_matrix!(
        agentwrit_acceptance::Blocking,
        agentwrit_acceptance::Scheme::Mtls
    );
}
