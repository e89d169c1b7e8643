//! Fixed-key script maps built by filling a blank copy of their keys.
//!
//! rhai's object map is a `BTreeMap` keyed by small strings. Inserting the 26 keys of a
//! `fleet` entry one at a time costs two to three times as much as cloning a finished tree
//! of those keys and overwriting its values in place (an insert searches, shifts node
//! contents and splits nodes; a clone copies whole nodes), and the host builds one such map
//! per miner, per slot or per sample on every call. A [`Shape`] remembers the keys of the
//! first map of its kind, so the builders stay plain lists of `set(map, key, value)` calls.

use std::sync::OnceLock;

use rhai::{Dynamic, Map};

/// The keys of one kind of map (a `fleet` entry, a sample, a slot), learnt from the first
/// map of that kind the host finishes.
///
/// Every map of one shape must set the same keys, which the host's builders do: a missing
/// reading is `()`, never an absent key.
pub(crate) struct Shape {
    blank: OnceLock<Map>,
}

impl Shape {
    /// A shape whose keys are not known yet.
    pub(crate) const fn new() -> Shape {
        Shape {
            blank: OnceLock::new(),
        }
    }

    /// A map to fill with [`set`]: a copy of the shape's keys with `()` values once the
    /// first map has been finished, an empty map before that.
    pub(crate) fn start(&self) -> Map {
        self.blank.get().cloned().unwrap_or_default()
    }

    /// Hands a filled map back, remembering its keys the first time.
    pub(crate) fn finish(&self, map: Map) -> Map {
        self.blank
            .get_or_init(|| map.keys().map(|k| (k.clone(), Dynamic::UNIT)).collect());
        map
    }
}

/// Sets `key` to `value`: in place when the map already has the key (a copy of its shape),
/// else by inserting it.
pub(crate) fn set(map: &mut Map, key: &str, value: Dynamic) {
    match map.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            map.insert(key.into(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(shape: &Shape, n: i64) -> Map {
        let mut map = shape.start();
        set(&mut map, "b", Dynamic::from_int(n));
        set(&mut map, "a", Dynamic::UNIT);
        set(&mut map, "c", Dynamic::from(format!("x{n}")));
        shape.finish(map)
    }

    #[test]
    fn maps_built_from_the_shape_equal_maps_built_by_inserting() {
        let shape = Shape::new();
        for n in 0..3 {
            let map = build(&shape, n);
            let mut want = Map::new();
            want.insert("a".into(), Dynamic::UNIT);
            want.insert("b".into(), Dynamic::from_int(n));
            want.insert("c".into(), Dynamic::from(format!("x{n}")));
            assert_eq!(format!("{map:?}"), format!("{want:?}"));
        }
    }

    #[test]
    fn the_blank_copy_holds_no_values_of_the_first_map() {
        let shape = Shape::new();
        build(&shape, 7);
        let blank = shape.start();
        assert_eq!(blank.len(), 3);
        assert!(blank.values().all(Dynamic::is_unit));
    }
}
