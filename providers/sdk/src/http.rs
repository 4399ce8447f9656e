//! Shared HTTP behaviour for every HTTP provider (being written; see the engine issue).
