//! verdict stage (see ARCHITECTURE.md).
