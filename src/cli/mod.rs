//! Command-line interface: clap definitions and dispatch.
