//! `stack.trace-store`: where Jaeger keeps spans. OpenSearch is started by gauntlet as a
//! process beside the native stack, so other providers refuse it rather than accept a setting
//! that would not be applied.

use super::{Validator, provider_name};
use crate::scenario::model::Provider;
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
}
