//! Suites, dataset registry checks and the tamper-evident evidence bundle: manifest, predictions, metrics, verification.
