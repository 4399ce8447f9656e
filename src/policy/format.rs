//! Canonical formatting (being written on another branch).
