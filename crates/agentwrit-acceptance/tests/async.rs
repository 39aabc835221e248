//! The acceptance matrix, on agentwrit-async.

agentwrit_acceptance::acceptance_matrix!(agentwrit_acceptance::Async);
