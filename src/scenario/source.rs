//! Where each value of a YAML document sits: field path → line and column.
//!
//! serde's derived structs forget positions, so gauntlet walks the document once with
//! yaml-rust2's marked event parser and keeps a path index (`faults[0].service`) that the
//! validator uses to place every diagnostic.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Field path → position of its value (and of its key, for mapping entries).
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    values: HashMap<String, Position>,
    keys: HashMap<String, Position>,
}

impl SourceMap {
    /// Indexes `text`; a syntax error is returned with its position.
    pub fn parse(text: &str) -> Result<Self, (Position, String)> {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        parser.load(&mut builder, false).map_err(|e| {
            let m = e.marker();
            (
                Position {
                    line: m.line(),
                    column: m.col() + 1,
                },
                e.info().to_string(),
            )
        })?;
        Ok(builder.map)
    }

    /// Position of the value at `path`, or of the nearest ancestor that exists.
    pub fn locate(&self, path: &str) -> Position {
        let mut current = path;
        loop {
            if let Some(p) = self.values.get(current) {
                return *p;
            }
            match parent(current) {
                Some(up) => current = up,
                None => {
                    return self
                        .values
                        .get("")
                        .copied()
                        .unwrap_or(Position { line: 1, column: 1 });
                }
            }
        }
    }

    /// Position of the key of a mapping entry (falls back to [`Self::locate`]).
    pub fn locate_key(&self, path: &str) -> Position {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.locate(path))
    }

    /// Whether `path` is present in the document.
    pub fn contains(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → ``.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

pub(crate) fn join_key(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

pub(crate) fn join_index(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    map: SourceMap,
    stack: Vec<Frame>,
}

impl Builder {
    /// Path for a value starting now; advances the parent's cursor.
    /// Returns `None` when the event is a mapping key.
    fn value_path(&mut self, scalar_key: Option<&str>, mark: Marker) -> Option<String> {
        let pos = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = join_index(path, *next);
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(join_key(path, &key)),
                None => {
                    // This event is a key. Only scalar keys name fields.
                    let key = scalar_key.unwrap_or("?").to_string();
                    self.map.keys.insert(join_key(path, &key), pos);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(ref value, ..) => {
                if let Some(path) = self.value_path(Some(value), mark) {
                    self.map.values.entry(path).or_insert(pos);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.value_path(Some("*alias"), mark) {
                    self.map.values.entry(path).or_insert(pos);
                }
            }
            Event::MappingStart(..) => {
                let path = self.value_path(None, mark).unwrap_or_else(|| "?".into());
                self.map.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Map {
                    path,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(None, mark).unwrap_or_else(|| "?".into());
                self.map.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_paths() {
        let text =
            "name: x\nfaults:\n  - at: 5s\n    service: orders\n  - { at: 9s, service: cart }\n";
        let map = SourceMap::parse(text).expect("valid yaml");
        assert_eq!(map.locate("name"), Position { line: 1, column: 7 });
        assert_eq!(
            map.locate("faults[0].service"),
            Position {
                line: 4,
                column: 14
            }
        );
        assert_eq!(
            map.locate_key("faults[0].service"),
            Position { line: 4, column: 5 }
        );
        assert_eq!(map.locate("faults[1].service").line, 5);
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(map.locate("faults[1].nope"), map.locate("faults[1]"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = SourceMap::parse("a: [1, 2\nb: 3\n").expect_err("unterminated flow");
        assert!(err.0.line >= 1, "{err:?}");
    }
}
