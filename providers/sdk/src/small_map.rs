//! A map for the few entries a resource has: a sorted vector, not a B-tree.
//!
//! A `BTreeMap` allocates a node of eleven slots for even one entry: ~630 bytes for a map of
//! three attributes, which at 100,000 objects held three times over (state, live, desired) is
//! most of a large plan's memory. A sorted vector holds exactly its entries, and for a handful
//! of them finds a key as fast. The order is the keys' order, as a `BTreeMap`'s, so iteration,
//! JSON and digests are the same.

use litemap::LiteMap;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Index};

/// A small ordered map: entries sorted by key in one vector. Reads as a map everywhere (JSON,
/// `Debug`); `Deref`s to [`LiteMap`] for lookups, `insert`, `remove`, `entry` and iteration.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmallMap<K, V>(LiteMap<K, V>);

impl<K, V> SmallMap<K, V> {
    /// An empty map (no allocation until the first insert).
    pub const fn new() -> Self {
        Self(LiteMap::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(LiteMap::with_capacity(capacity))
    }
}

impl<K, V> SmallMap<K, V> {
    /// The entries, in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter(self.0.as_slice().iter())
    }
}

/// Lookups by any string (`&str`, `&String`, a name): what attribute maps are keyed by.
impl<V> SmallMap<compact_str::CompactString, V> {
    /// The value of `key`.
    pub fn get(&self, key: &(impl AsRef<str> + ?Sized)) -> Option<&V> {
        self.0.get(key.as_ref())
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &(impl AsRef<str> + ?Sized)) -> Option<&mut V> {
        self.0.get_mut(key.as_ref())
    }

    /// Whether there is a value for `key`.
    pub fn contains_key(&self, key: &(impl AsRef<str> + ?Sized)) -> bool {
        self.0.contains_key(key.as_ref())
    }

    /// Takes the value of `key` out.
    pub fn remove(&mut self, key: &(impl AsRef<str> + ?Sized)) -> Option<V> {
        self.0.remove(key.as_ref())
    }
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Deref for SmallMap<K, V> {
    type Target = LiteMap<K, V>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<K, V> DerefMut for SmallMap<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<K, V, Q> Index<&Q> for SmallMap<K, V>
where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = V;

    /// The value of `key`; panics when there is none, as `BTreeMap`'s index does.
    fn index(&self, key: &Q) -> &V {
        self.0.get(key).expect("no entry found for key")
    }
}

impl<K: Ord, V, Q: Into<K>> FromIterator<(Q, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (Q, V)>>(entries: I) -> Self {
        Self(entries.into_iter().map(|(key, value)| (key.into(), value)).collect())
    }
}

impl<K: Ord, V, Q: Into<K>> Extend<(Q, V)> for SmallMap<K, V> {
    fn extend<I: IntoIterator<Item = (Q, V)>>(&mut self, entries: I) {
        self.0.extend(entries.into_iter().map(|(key, value)| (key.into(), value)));
    }
}

impl<K, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_tuple_vec().into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The entries of a [`SmallMap`], in key order.
#[derive(Debug, Clone)]
pub struct Iter<'a, K, V>(std::slice::Iter<'a, (K, V)>);

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(key, value)| (key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(key, value)| (key, value))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<K, V, Q, const N: usize> From<[(Q, V); N]> for SmallMap<K, V>
where
    K: Ord,
    Q: Into<K>,
{
    fn from(entries: [(Q, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Always a map (`LiteMap`'s own impl writes an empty map as a list).
impl<K: Serialize, V: Serialize> Serialize for SmallMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, K, V> Deserialize<'de> for SmallMap<K, V>
where
    K: Ord + Deserialize<'de>,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Ord + Deserialize<'de>,
            V: Deserialize<'de>,
        {
            type Value = SmallMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = SmallMap::with_capacity(access.size_hint().unwrap_or(0));
                while let Some((key, value)) = access.next_entry::<K, V>()? {
                    map.insert(key, value);
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_like_an_ordered_map() {
        let mut map: SmallMap<String, i32> = SmallMap::new();
        assert_eq!(serde_json::to_string(&map).unwrap(), "{}");
        map.insert("b".into(), 2);
        map.insert("a".into(), 1);
        assert_eq!(map.insert("b".into(), 3), Some(2));
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"a":1,"b":3}"#);
        assert_eq!(format!("{map:?}"), r#"{"a": 1, "b": 3}"#);
        assert_eq!(map["a"], 1);
        let keys: Vec<&String> = map.keys().collect();
        assert_eq!(keys, ["a", "b"]);
        let back: SmallMap<String, i32> = serde_json::from_value(json!({"z": 1, "y": 2})).unwrap();
        assert_eq!(back.into_iter().collect::<Vec<_>>(), [("y".into(), 2), ("z".into(), 1)]);
        assert!(serde_json::from_value::<SmallMap<String, i32>>(json!([1])).is_err());
    }
}
