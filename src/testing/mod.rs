//! The simulation harness: campaigns of seeded iterations, assertions and reports.
