//! `stack.trace-store`: where Jaeger keeps spans. OpenSearch is started by gauntlet as a
//! process beside the native stack, so other providers refuse it rather than accept a setting
//! that would not be applied.

use super::{Validator, provider_name};
use crate::scenario::model::{Fault, FaultAction, Provider};
use crate::scenario::source::{join_index, join_key};
use crate::stack::TraceStore;

impl Validator {
    pub(super) fn trace_store(&mut self, raw: Option<&String>, provider: Provider) -> TraceStore {
        let Some(text) = raw else {
            return TraceStore::default();
        };
        let Some(store) = TraceStore::parse(text) else {
            self.error(
                "stack.trace-store",
                format!("unknown trace store {text:?}"),
                Some(format!(
                    "known trace stores: {}",
                    TraceStore::NAMES.join(", ")
                )),
            );
            return TraceStore::default();
        };
        if store != TraceStore::Memory && provider != Provider::Native {
            let hint = match provider {
                Provider::Compose => "no OpenSearch image can be built here; use provider `native`",
                _ => {
                    "a running stack keeps its own Jaeger storage: gauntlet queries whatever its Jaeger reads from; remove `trace-store`"
                }
            };
            self.error(
                "stack.trace-store",
                format!(
                    "`trace-store: {store}` only applies to provider `native` (gauntlet starts OpenSearch beside it), not `{}`",
                    provider_name(provider)
                ),
                Some(hint.into()),
            );
            return TraceStore::default();
        }
        store
    }

    /// A process fault on `trace-store` needs the OpenSearch the native stack then runs;
    /// with the memory store there is no such process and the fault could not be injected.
    pub(super) fn trace_store_faults(&mut self, faults: &[Fault], store: TraceStore) {
        if store == TraceStore::Opensearch {
            return;
        }
        for (i, f) in faults.iter().enumerate() {
            if let FaultAction::KillProcess { target, .. } | FaultAction::PauseProcess { target } =
                &f.action
                && target == "trace-store"
            {
                self.error(
                    &join_key(&join_index("faults", i), "target"),
                    "`trace-store` is a process only with `stack.trace-store: opensearch`",
                    Some("Jaeger's memory store lives in the `jaeger` process; target `jaeger`, or set `trace-store: opensearch`".into()),
                );
            }
        }
    }
}
