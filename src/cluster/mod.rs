//! Kubernetes mode: run against a cluster, inject faults through the Kubernetes API, and
//! distribute load as Jobs.
