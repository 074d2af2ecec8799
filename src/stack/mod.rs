//! stack stage (see ARCHITECTURE.md).
