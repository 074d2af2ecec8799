//! The one list of fault kinds: name, fields, whether the fault needs `for`, which provider
//! it is limited to, and how it is rolled back. Validation reads it, and the README's fault
//! table is rendered from it (a test keeps the two equal), so a kind cannot be accepted by
//! one and missing from the other. Injection matches on the typed `FaultAction`, which the
//! compiler keeps exhaustive.

use super::Provider;

/// One fault kind as users write it.
#[derive(Debug, Clone, Copy)]
pub struct FaultKind {
    pub name: &'static str,
    /// The fields the kind reads, besides `name`, `at` and `for`.
    pub fields: &'static [&'static str],
    /// The README's fields cell: the fields with their values and defaults.
    pub fields_doc: &'static str,
    /// Whether a window (`for`) is required.
    pub needs_for: bool,
    /// The provider the kind needs, when it is not available on every provider.
    pub provider: Option<Provider>,
    /// How the fault is undone.
    pub rolled_back_by: &'static str,
}

const ADMIN_API: &str = "service admin API (a TTL as a backstop)";
const ADMIN_API_OR_PROXY: &str = "service admin API (a TTL as a backstop); for a service under `services.fault-proxy`, the HTTP fault proxy's effect is switched off";

pub const FAULT_KINDS: &[FaultKind] = &[
    FaultKind {
        name: "http-errors",
        fields: &["service", "rate", "status", "route", "replica"],
        fields_doc: "`service`, `rate` (0–1], `status` (default 500), `route`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API_OR_PROXY,
    },
    FaultKind {
        name: "latency",
        fields: &["service", "delay", "jitter", "rate", "replica"],
        fields_doc: "`service`, `delay`, `jitter`, `rate`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API_OR_PROXY,
    },
    FaultKind {
        name: "http-abort",
        fields: &["service", "rate"],
        fields_doc: "`service` (one under `services.fault-proxy`), `rate` (0–1]: the proxy forwards the request, then closes the connection without a response",
        needs_for: true,
        provider: None,
        rolled_back_by: "the HTTP fault proxy's effect is switched off",
    },
    FaultKind {
        name: "hang",
        fields: &["service", "rate", "replica"],
        fields_doc: "`service`, `rate`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API,
    },
    FaultKind {
        name: "crash",
        fields: &["service", "exit-code", "replica"],
        fields_doc: "`service`, `exit-code`, `replica`",
        needs_for: false,
        provider: None,
        rolled_back_by: "restarting the process",
    },
    FaultKind {
        name: "cpu-burn",
        fields: &["service", "threads", "replica"],
        fields_doc: "`service`, `threads`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API,
    },
    FaultKind {
        name: "memory-growth",
        fields: &["service", "mb-per-second", "max-mb", "replica"],
        fields_doc: "`service`, `mb-per-second`, `max-mb`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API,
    },
    FaultKind {
        name: "dependency-failure",
        fields: &["service", "dependency", "rate", "status", "replica"],
        fields_doc: "`service`, `dependency`, `rate`, `status` (default 503), `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API,
    },
    FaultKind {
        name: "queue-stall",
        fields: &["service", "replica"],
        fields_doc: "`service: worker`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: ADMIN_API,
    },
    FaultKind {
        name: "kill-process",
        fields: &["target", "signal", "replica"],
        fields_doc: "`target` (a service, or a stack component: `prometheus`, `alertmanager`, `collector`, `jaeger`, `log-store`, `trace-store` with `stack.trace-store: opensearch`), `signal` (kill, term), `replica`",
        needs_for: false,
        provider: None,
        rolled_back_by: "a restart when `for` is set (stack components: the same command, ports and data dir; compose: `docker start`)",
    },
    FaultKind {
        name: "pause-process",
        fields: &["target", "replica"],
        fields_doc: "`target`, `replica`",
        needs_for: true,
        provider: None,
        rolled_back_by: "SIGCONT (compose stack components: `docker unpause`)",
    },
    FaultKind {
        name: "container-stop",
        fields: &["container"],
        fields_doc: "`container`",
        needs_for: false,
        provider: Some(Provider::Compose),
        rolled_back_by: "`docker start` when `for` is set",
    },
    FaultKind {
        name: "container-pause",
        fields: &["container"],
        fields_doc: "`container`",
        needs_for: true,
        provider: Some(Provider::Compose),
        rolled_back_by: "`docker unpause`",
    },
    FaultKind {
        name: "container-kill",
        fields: &["container"],
        fields_doc: "`container`",
        needs_for: false,
        provider: Some(Provider::Compose),
        rolled_back_by: "`docker start` when `for` is set",
    },
    FaultKind {
        name: "network-delay",
        fields: &["from", "to", "delay", "jitter"],
        fields_doc: "`from`, `to`, `delay`, `jitter`",
        needs_for: true,
        provider: None,
        rolled_back_by: "the fault proxy is cleared",
    },
    FaultKind {
        name: "network-bandwidth",
        fields: &["from", "to", "bytes-per-second"],
        fields_doc: "`from`, `to`, `bytes-per-second`",
        needs_for: true,
        provider: None,
        rolled_back_by: "the fault proxy is cleared",
    },
    FaultKind {
        name: "network-blackhole",
        fields: &["from", "to"],
        fields_doc: "`from`, `to`",
        needs_for: true,
        provider: None,
        rolled_back_by: "the fault proxy is cleared",
    },
    FaultKind {
        name: "network-reset",
        fields: &["from", "to"],
        fields_doc: "`from`, `to`",
        needs_for: true,
        provider: None,
        rolled_back_by: "the fault proxy is cleared",
    },
    FaultKind {
        name: "pod-kill",
        fields: &["selector", "namespace"],
        fields_doc: "`selector`, `namespace`",
        needs_for: false,
        provider: Some(Provider::Kubernetes),
        rolled_back_by: "— (the controller recreates the pod)",
    },
    FaultKind {
        name: "scale-to-zero",
        fields: &["workload", "namespace"],
        fields_doc: "`workload` (`deployment/NAME`), `namespace`",
        needs_for: true,
        provider: Some(Provider::Kubernetes),
        rolled_back_by: "scaling back to the old replica count",
    },
    FaultKind {
        name: "rollout-restart",
        fields: &["workload", "namespace"],
        fields_doc: "`workload`, `namespace`",
        needs_for: false,
        provider: Some(Provider::Kubernetes),
        rolled_back_by: "—",
    },
    FaultKind {
        name: "network-partition",
        fields: &["selector", "namespace"],
        fields_doc: "`selector`, `namespace`",
        needs_for: true,
        provider: Some(Provider::Kubernetes),
        rolled_back_by: "deleting the NetworkPolicy",
    },
];

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static FaultKind> {
    FAULT_KINDS.iter().find(|k| k.name == name)
}

/// Every kind's name, for hints.
pub fn names() -> Vec<&'static str> {
    FAULT_KINDS.iter().map(|k| k.name).collect()
}

/// The README's fault table.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| kind | fields | needs `for` | providers | rolled back by |\n|---|---|---|---|---|\n",
    );
    for k in FAULT_KINDS {
        let providers = match k.provider {
            Some(p) => format!("{p:?}").to_lowercase(),
            None => "all".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {providers} | {} |\n",
            k.name,
            k.fields_doc,
            if k.needs_for { "yes" } else { "no" },
            k.rolled_back_by
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_field_is_documented() {
        let mut names = names();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate fault kind");
        for k in FAULT_KINDS {
            for f in k.fields {
                assert!(
                    k.fields_doc.contains(&format!("`{f}")),
                    "{}: field {f} missing from its README cell {:?}",
                    k.name,
                    k.fields_doc
                );
            }
        }
    }

    /// The README's table is this list, rendered: regenerate it from the panic message.
    #[test]
    fn the_readme_fault_table_is_rendered_from_the_list() {
        let readme = include_str!("../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's fault table differs from scenario::fault_kinds; replace it with:\n{table}"
        );
    }
}
