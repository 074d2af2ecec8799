//! runner stage (see ARCHITECTURE.md).
