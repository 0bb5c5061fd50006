//! The in-process layer in front of Redis, for the reads every authenticated request makes
//! (its session and its user's profile): without it, each request pays two Redis round trips
//! before its handler starts.
//!
//! What keeps it honest:
//! - **Bounded**: at most [`CAPACITY`] keys (`moka` evicts by recency and frequency).
//! - **A short TTL as a backstop**: an entry lives at most its type's [`CacheType::local_ttl`]
//!   (1 s for users: a suspension or logout is refused on every instance within a second even
//!   if an invalidation message were lost).
//! - **Invalidated across instances**: every invalidation that names a locally cached type
//!   is published by the invalidation script itself (`PUBLISH`, in the same round trip), and
//!   each instance's subscriber (`subscriber`) forgets those keys. While the subscription is
//!   down the layer is off and empty, and it is emptied again when the subscription is back,
//!   since messages sent meanwhile are lost.
//! - **No old value put back**: a reader notes the [`Local::epoch`] before it reads Redis or
//!   the database, and its value enters the layer only if no invalidation happened since (the
//!   same guard the Redis versions give the shared layer, coarser: any invalidation counts).
//!
//! Only this instance's own invalidations are synchronous; other instances forget within the
//! time a published message takes to arrive (well under a millisecond on one network).

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache as Moka;
use moka::Expiry;
use serde::de::DeserializeOwned;

use crate::keys::{CacheType, Key};

/// Keys held at most: sessions and profiles of the users active right now are a few hundred
/// bytes each, so 50,000 of them stay in the tens of megabytes.
pub(crate) const CAPACITY: u64 = 50_000;

/// One cached variant of a key. Shared: `moka` hands out a clone on every read.
type Entry = Arc<Held>;

struct Held {
    field: Box<str>,
    bytes: Bytes,
    ttl: Duration,
    /// The value decoded, by the first [`Local::get_shared`]: every authenticated request
    /// reads its session and profile, and decoding their JSON each time cost more than the
    /// rest of the lookup.
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
}

/// Each entry lives its type's local TTL from when it was inserted.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(crate) struct Local {
    entries: Moka<String, Entry>,
    /// Bumped by every invalidation this instance applies (its own or a published one) and
    /// every clear; see the module documentation.
    epoch: AtomicU64,
    /// Off until the subscription is up, and whenever it is lost.
    enabled: AtomicBool,
    /// Makes "check the epoch, then insert" one step against "bump, then remove".
    guard: Mutex<()>,
}

impl Local {
    pub(crate) fn new() -> Self {
        Self {
            entries: Moka::builder()
                .max_capacity(CAPACITY)
                .expire_after(PerEntryTtl)
                .build(),
            epoch: AtomicU64::new(0),
            enabled: AtomicBool::new(false),
            guard: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `kind` is kept here at all.
    pub(crate) fn holds(kind: CacheType) -> bool {
        kind.local_ttl().is_some()
    }

    /// The value of `key`'s `field`, if held.
    pub(crate) fn get(&self, key: &Key, field: &str) -> Option<Bytes> {
        if !Self::holds(key.kind) || !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        self.entries
            .get(&key.name)
            .filter(|entry| &*entry.field == field)
            .map(|entry| entry.bytes.clone())
    }

    /// The value of `key`'s `field` decoded as `T`, if held (decoded once per entry, then
    /// shared). `None` also when the bytes are not a `T` (an older shape after a deploy).
    pub(crate) fn get_shared<T>(&self, key: &Key, field: &str) -> Option<Arc<T>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        if !Self::holds(key.kind) || !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries.get(&key.name)?;
        if &*entry.field != field {
            return None;
        }
        if let Some(decoded) = entry.decoded.get() {
            return Arc::clone(decoded).downcast::<T>().ok();
        }
        let value: Arc<T> = Arc::new(serde_json::from_slice(&entry.bytes).ok()?);
        // Two readers may decode at once; either value is the same bytes decoded.
        let _ = entry.decoded.set(value.clone());
        Some(value)
    }

    /// The epoch to hand back to [`Local::put`].
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `bytes` as `key`'s `field`, unless an invalidation happened since `epoch`.
    /// A key holds one variant here (the types kept locally have one each).
    pub(crate) fn put(&self, key: &Key, field: &str, bytes: &Bytes, epoch: u64) {
        let Some(ttl) = key.kind.local_ttl() else {
            return;
        };
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let _guard = self.lock();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        self.entries.insert(
            key.name.clone(),
            Arc::new(Held {
                field: field.into(),
                bytes: bytes.clone(),
                ttl,
                decoded: OnceLock::new(),
            }),
        );
    }

    /// Forgets the keys named (by their full names, without the prefix).
    pub(crate) fn forget<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let _guard = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for name in names {
            self.entries.invalidate(name);
        }
    }

    /// Forgets everything and turns the layer on or off.
    pub(crate) fn reset(&self, enabled: bool) {
        let _guard = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.enabled.store(enabled, Ordering::Release);
        self.entries.invalidate_all();
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    fn on() -> Local {
        let local = Local::new();
        local.reset(true);
        local
    }

    #[test]
    fn only_user_keys_are_held() {
        let local = on();
        let product = keys::product(uuid::Uuid::nil().into());
        local.put(&product, "", &Bytes::from_static(b"p"), local.epoch());
        assert_eq!(local.get(&product, ""), None);
        let profile = keys::user_profile(uuid::Uuid::nil().into());
        local.put(&profile, "", &Bytes::from_static(b"u"), local.epoch());
        assert_eq!(local.get(&profile, ""), Some(Bytes::from_static(b"u")));
        assert_eq!(local.get(&profile, "other"), None);
    }

    #[test]
    fn a_value_read_before_an_invalidation_is_not_kept() {
        let local = on();
        let key = keys::user_profile(uuid::Uuid::nil().into());
        let before = local.epoch();
        local.forget([key.name.as_str()]);
        local.put(&key, "", &Bytes::from_static(b"old"), before);
        assert_eq!(local.get(&key, ""), None);
        local.put(&key, "", &Bytes::from_static(b"new"), local.epoch());
        assert_eq!(local.get(&key, ""), Some(Bytes::from_static(b"new")));
        local.forget([key.name.as_str()]);
        assert_eq!(local.get(&key, ""), None);
    }

    #[test]
    fn a_shared_value_is_decoded_once_and_forgotten_with_its_key() {
        let local = on();
        let key = keys::user_profile(uuid::Uuid::nil().into());
        local.put(&key, "", &Bytes::from_static(b"[1,2]"), local.epoch());
        let first = local.get_shared::<Vec<u8>>(&key, "").expect("held");
        let second = local.get_shared::<Vec<u8>>(&key, "").expect("held");
        assert_eq!(*first, vec![1, 2]);
        assert!(Arc::ptr_eq(&first, &second), "decoded once");
        assert!(
            local.get_shared::<String>(&key, "").is_none(),
            "not a String"
        );
        assert!(local.get_shared::<Vec<u8>>(&key, "other").is_none());
        local.forget([key.name.as_str()]);
        assert!(local.get_shared::<Vec<u8>>(&key, "").is_none());
    }

    #[test]
    fn nothing_is_served_or_kept_while_off() {
        let local = Local::new();
        let key = keys::user_profile(uuid::Uuid::nil().into());
        local.put(&key, "", &Bytes::from_static(b"v"), local.epoch());
        assert_eq!(local.get(&key, ""), None);
        let local = on();
        local.put(&key, "", &Bytes::from_static(b"v"), local.epoch());
        local.reset(false);
        assert_eq!(local.get(&key, ""), None);
        assert_eq!(local.len(), 0);
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let local = on();
        let key = keys::user_profile(uuid::Uuid::nil().into());
        local.put(&key, "", &Bytes::from_static(b"v"), local.epoch());
        std::thread::sleep(CacheType::Users.local_ttl().expect("users are held") * 2);
        assert_eq!(local.get(&key, ""), None);
    }
}
