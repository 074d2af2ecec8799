//! W3C Trace Context `traceparent` headers (<https://www.w3.org/TR/trace-context/>).
//!
//! Every request gauntlet sends starts a fresh trace: version `00`, a random non-zero 16-byte
//! trace id, a random non-zero 8-byte parent (span) id and flags `01` (sampled), so the
//! services' tracers keep the trace and a failed request can be looked up in Jaeger by id.

use rand::Rng;
use serde::{Serialize, Serializer};
use std::fmt;

/// The header name.
pub const TRACEPARENT: &str = "traceparent";

/// A 16-byte W3C trace id (never zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An 8-byte W3C span (parent) id (never zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub u64);

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for SpanId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The ids of one outgoing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl TraceContext {
    /// Fresh random ids; all-zero ids are invalid in W3C, so they are redrawn.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut trace = rng.random::<u128>();
        while trace == 0 {
            trace = rng.random();
        }
        let mut span = rng.random::<u64>();
        while span == 0 {
            span = rng.random();
        }
        TraceContext {
            trace_id: TraceId(trace),
            span_id: SpanId(span),
        }
    }

    /// The `traceparent` header value: `00-<trace id>-<span id>-01`.
    pub fn header_value(&self) -> String {
        String::from_utf8_lossy(&self.encode()).into_owned()
    }

    /// The same value as a header, formatted without going through `fmt` (this runs for
    /// every request the generator sends).
    pub fn header(&self) -> http::HeaderValue {
        http::HeaderValue::from_bytes(&self.encode())
            .expect("lowercase hex and dashes are valid header bytes")
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-01";
        hex_into(&mut out[3..35], self.trace_id.0);
        hex_into(&mut out[36..52], u128::from(self.span_id.0));
        out
    }
}

/// Length of `00-<32 hex>-<16 hex>-01`.
const HEADER_LEN: usize = 55;

/// Writes the low `out.len()` hex digits of `v` into `out`, most significant first.
fn hex_into(out: &mut [u8], mut v: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_w3c_shape_and_fresh_ids() {
        let mut rng = rand::rng();
        let a = TraceContext::random(&mut rng);
        let b = TraceContext::random(&mut rng);
        assert_ne!(a.trace_id, b.trace_id);
        let h = a.header_value();
        let parts: Vec<&str> = h.split('-').collect();
        assert_eq!(parts.len(), 4, "{h}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1].len(), 32);
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01");
        assert!(parts[1..3].iter().all(|p| {
            p.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        }));
        assert_eq!(u128::from_str_radix(parts[1], 16).ok(), Some(a.trace_id.0));
        assert_eq!(u64::from_str_radix(parts[2], 16).ok(), Some(a.span_id.0));
        assert_eq!(a.header().to_str().ok(), Some(h.as_str()));
        assert_eq!(
            h,
            format!("00-{:032x}-{:016x}-01", a.trace_id.0, a.span_id.0)
        );
    }

    #[test]
    fn small_ids_are_zero_padded() {
        let ctx = TraceContext {
            trace_id: TraceId(1),
            span_id: SpanId(2),
        };
        assert_eq!(
            ctx.header_value(),
            "00-00000000000000000000000000000001-0000000000000002-01"
        );
        let max = TraceContext {
            trace_id: TraceId(u128::MAX),
            span_id: SpanId(u64::MAX),
        };
        assert_eq!(
            max.header_value(),
            "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"
        );
    }
}
