//! services stage (see ARCHITECTURE.md).
