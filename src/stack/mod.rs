//! Stack providers: bring the observability stack up and take it down (native, compose,
//! external).

pub mod template;
