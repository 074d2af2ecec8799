//! Sample services: an instrumented microservice fleet (frontend → api-gateway → users /
//! products / orders → worker) with fault hooks.

pub mod hooks;
