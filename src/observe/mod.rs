//! observe stage (see ARCHITECTURE.md).
