//! fault stage (see ARCHITECTURE.md).
