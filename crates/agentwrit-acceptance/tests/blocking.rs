//! The acceptance matrix, on agentwrit-blocking.

agentwrit_acceptance::acceptance_matrix!(agentwrit_acceptance::Blocking);
