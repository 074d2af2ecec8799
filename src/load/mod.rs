//! load stage (see ARCHITECTURE.md).
