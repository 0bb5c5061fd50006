//! The cache against the real test Redis: versioned writes, single flight, bypass.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache::{keys, Cache, CacheConfig, Outcome, Stale, Tally, TallyOf};
use uuid::Uuid;

fn cache() -> Cache {
    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let mut config = CacheConfig::new(url);
    config.prefix = format!("cache-test-{}:", Uuid::new_v4().simple());
    Cache::new(config).expect("cache")
}

async fn read(cache: &Cache, key: &cache::Key, value: &str) -> (String, Outcome) {
    let value = value.to_owned();
    cache
        .get_or_load(key, "", || async move { Ok::<_, ()>(value) })
        .await
        .expect("infallible load")
}

#[tokio::test]
async fn miss_then_hit_then_invalidated() {
    let cache = cache();
    let key = keys::product(Uuid::new_v4().into());
    assert_eq!(read(&cache, &key, "v1").await, ("v1".into(), Outcome::Miss));
    assert_eq!(
        read(&cache, &key, "ignored").await,
        ("v1".into(), Outcome::Hit)
    );
    cache.invalidate(std::slice::from_ref(&key)).await;
    assert_eq!(read(&cache, &key, "v2").await, ("v2".into(), Outcome::Miss));
    assert_eq!(
        read(&cache, &key, "ignored").await,
        ("v2".into(), Outcome::Hit)
    );
    let stats = cache.stats().snapshot();
    let products = stats
        .iter()
        .find(|s| s.kind == cache::CacheType::Products)
        .expect("products");
    assert_eq!((products.hits, products.misses), (2, 2));
}

#[tokio::test]
async fn variants_of_a_key_are_forgotten_together() {
    let cache = cache();
    let key = keys::category_products(Uuid::new_v4().into());
    for field in ["page1", "page2"] {
        let (_, outcome) = cache
            .get_or_load(&key, field, || async { Ok::<_, ()>(field.to_owned()) })
            .await
            .expect("load");
        assert_eq!(outcome, Outcome::Miss);
    }
    cache.invalidate(std::slice::from_ref(&key)).await;
    for field in ["page1", "page2"] {
        let (_, outcome) = cache
            .get_or_load(&key, field, || async { Ok::<_, ()>(field.to_owned()) })
            .await
            .expect("load");
        assert_eq!(outcome, Outcome::Miss, "{field} was forgotten");
    }
}

/// The race the versions exist for: a reader misses and reads the old value from the
/// database; a write commits and invalidates; only then does the slow reader try to cache
/// what it read. Its old value must not land.
#[tokio::test]
async fn a_slow_reader_cannot_put_back_a_value_invalidated_after_it_read() {
    let cache = cache();
    let key = keys::product(Uuid::new_v4().into());
    let (read_done_tx, read_done_rx) = tokio::sync::oneshot::channel::<()>();
    let (write_done_tx, write_done_rx) = tokio::sync::oneshot::channel::<()>();
    let slow_cache = cache.clone();
    let slow_key = key.clone();
    let slow_reader = tokio::spawn(async move {
        slow_cache
            .get_or_load(&slow_key, "", || async move {
                let old = "old".to_owned(); // what the database held when the read ran
                let _ = read_done_tx.send(());
                let _ = write_done_rx.await; // held up until the write has invalidated
                Ok::<_, ()>(old)
            })
            .await
    });
    read_done_rx.await.expect("reader read");
    cache.invalidate(std::slice::from_ref(&key)).await; // the write commits and invalidates
    write_done_tx.send(()).expect("reader waiting");
    let (value, outcome) = slow_reader.await.expect("reader task").expect("load");
    assert_eq!(
        (value.as_str(), outcome),
        ("old", Outcome::Miss),
        "the slow reader answers what it read"
    );
    // The next reader must not find the old value cached.
    assert_eq!(
        read(&cache, &key, "new").await,
        ("new".into(), Outcome::Miss)
    );
    assert_eq!(read(&cache, &key, "x").await, ("new".into(), Outcome::Hit));
}

#[tokio::test]
async fn concurrent_misses_of_one_key_load_once() {
    let cache = cache();
    let key = keys::bestsellers();
    let loads = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (cache, key, loads) = (cache.clone(), key.clone(), loads.clone());
        tasks.spawn(async move {
            cache
                .get_or_load(&key, "10", || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, ()>(vec![1, 2, 3])
                })
                .await
                .expect("load")
        });
    }
    while let Some(result) = tasks.join_next().await {
        let (value, outcome) = result.expect("task");
        assert_eq!(value, vec![1, 2, 3]);
        assert_ne!(outcome, Outcome::Bypass);
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "one database query for fifty misses"
    );
}

#[tokio::test]
async fn a_failed_load_is_not_cached_and_is_returned() {
    let cache = cache();
    let key = keys::order(Uuid::new_v4().into());
    let failed = cache
        .get_or_load(&key, "", || async { Err::<String, _>("db down") })
        .await;
    assert_eq!(failed.err(), Some("db down"));
    assert_eq!(read(&cache, &key, "v").await, ("v".into(), Outcome::Miss));
}

#[tokio::test]
async fn an_unreachable_redis_is_bypassed_quickly() {
    // Nothing listens on port 1.
    let mut config = CacheConfig::new("redis://127.0.0.1:1");
    config.timeout = Duration::from_millis(200);
    config.cooldown = Duration::from_secs(600);
    let cache = Cache::new(config).expect("cache");
    let key = keys::product(Uuid::new_v4().into());
    for _ in 0..20 {
        assert_eq!(
            read(&cache, &key, "db").await,
            ("db".into(), Outcome::Bypass)
        );
    }
    cache.invalidate(&[key]).await; // must not fail either
    assert_eq!(
        cache.stats().errors(),
        1,
        "after one failure the breaker skips Redis"
    );
}

#[tokio::test]
async fn no_sentinel_answering_is_a_bypass_not_an_error() {
    // Nothing listens on ports 1 and 2; the URL's host is never used with Sentinels.
    let mut config = CacheConfig::new("redis://unused-host");
    config.sentinel = Some(cache::SentinelConfig {
        sentinels: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
        master: "ims".into(),
    });
    config.timeout = Duration::from_millis(200);
    config.cooldown = Duration::from_secs(600);
    let cache = Cache::new(config).expect("cache");
    let key = keys::product(Uuid::new_v4().into());
    for _ in 0..5 {
        assert_eq!(
            read(&cache, &key, "db").await,
            ("db".into(), Outcome::Bypass)
        );
    }
    cache.invalidate(&[key]).await;
    assert_eq!(
        cache.stats().errors(),
        1,
        "the breaker skips Redis after one failure"
    );
}

/// `get_many` with a loader that records which positions it was asked for.
async fn read_many(
    cache: &Cache,
    keys: &[cache::Key],
    asked: &std::sync::Mutex<Vec<usize>>,
) -> (Vec<Option<String>>, Outcome) {
    cache
        .get_many(keys, "", |missing| async move {
            asked.lock().expect("lock").extend(missing.iter().copied());
            Ok::<_, ()>(missing.into_iter().map(|i| (i, format!("v{i}"))).collect())
        })
        .await
        .expect("infallible load")
}

#[tokio::test]
async fn many_keys_load_only_their_misses_and_cache_them() {
    let cache = cache();
    let keys: Vec<cache::Key> = (0..3)
        .map(|_| keys::product(Uuid::new_v4().into()))
        .collect();
    let asked = std::sync::Mutex::new(Vec::new());
    let all = vec![Some("v0".into()), Some("v1".into()), Some("v2".into())];
    assert_eq!(
        read_many(&cache, &keys, &asked).await,
        (all.clone(), Outcome::Miss)
    );
    assert_eq!(*asked.lock().expect("lock"), vec![0, 1, 2]);
    asked.lock().expect("lock").clear();
    assert_eq!(
        read_many(&cache, &keys, &asked).await,
        (all.clone(), Outcome::Hit)
    );
    assert!(
        asked.lock().expect("lock").is_empty(),
        "nothing loaded on a hit"
    );
    cache.invalidate(&[keys[1].clone()]).await;
    assert_eq!(read_many(&cache, &keys, &asked).await, (all, Outcome::Miss));
    assert_eq!(
        *asked.lock().expect("lock"),
        vec![1],
        "only the forgotten key"
    );
    // An empty page reads nothing and must not count as a Redis failure.
    assert_eq!(read_many(&cache, &[], &asked).await, (vec![], Outcome::Hit));
    assert_eq!(
        read(&cache, &keys[0], "x").await,
        ("v0".into(), Outcome::Hit)
    );
}

#[tokio::test]
async fn forgetting_variants_leaves_the_key_s_other_variants() {
    let cache = cache();
    let key = keys::store_inventory(Uuid::new_v4().into());
    let variant = |field: &'static str, value: &'static str| {
        let cache = cache.clone();
        let key = key.clone();
        async move {
            cache
                .get_or_load(&key, field, || async move { Ok::<_, ()>(value.to_owned()) })
                .await
                .expect("infallible load")
        }
    };
    for (field, value) in [
        ("item:a", "a1"),
        ("item:b", "b1"),
        ("list:x", "x1"),
        ("n:y", "y1"),
    ] {
        assert_eq!(variant(field, value).await.1, Outcome::Miss);
    }
    cache
        .invalidate(&[cache::Stale::Variants {
            key: key.clone(),
            fields: vec!["item:a".into()],
            prefixes: vec!["list:".into()],
        }])
        .await;
    assert_eq!(variant("item:a", "a2").await, ("a2".into(), Outcome::Miss));
    assert_eq!(variant("list:x", "x2").await, ("x2".into(), Outcome::Miss));
    assert_eq!(variant("item:b", "b2").await, ("b1".into(), Outcome::Hit));
    assert_eq!(variant("n:y", "y2").await, ("y1".into(), Outcome::Hit));
}

/// Versions are as fine as invalidations: readers of four variants all load the old value
/// while a write forgets one group (`s:`) and one field (`item:a`). The write-backs of what
/// it forgot must not land; those of the other group and field must (a write-back refused
/// for a neighbour's invalidation is how hot keys used to stay empty under writes).
#[tokio::test]
async fn forgetting_variants_refuses_only_their_own_slow_write_backs() {
    let cache = cache();
    let key = keys::product_search();
    let fields = ["n:q", "s:q", "item:a", "item:b"];
    let release = Arc::new(tokio::sync::Notify::new());
    let (loading_tx, mut loading_rx) = tokio::sync::mpsc::channel::<()>(fields.len());
    let mut readers = Vec::new();
    for field in fields {
        let (cache, key, release, loading) = (
            cache.clone(),
            key.clone(),
            release.clone(),
            loading_tx.clone(),
        );
        readers.push(tokio::spawn(async move {
            cache
                .get_or_load(&key, field, || async move {
                    let released = release.notified();
                    let _ = loading.send(()).await;
                    released.await; // held until the write has invalidated
                    Ok::<_, ()>("old".to_owned())
                })
                .await
        }));
    }
    for _ in fields {
        loading_rx.recv().await.expect("every reader loads");
    }
    cache
        .invalidate(&[Stale::Variants {
            key: key.clone(),
            fields: vec!["item:a".into()],
            prefixes: vec!["s:".into()],
        }])
        .await;
    release.notify_waiters();
    for reader in readers {
        reader.await.expect("reader task").expect("load");
    }
    let read_field = |field: &'static str| {
        let (cache, key) = (cache.clone(), key.clone());
        async move {
            cache
                .get_or_load(&key, field, || async { Ok::<_, ()>("new".to_owned()) })
                .await
                .expect("infallible load")
        }
    };
    assert_eq!(read_field("s:q").await, ("new".into(), Outcome::Miss));
    assert_eq!(read_field("item:a").await, ("new".into(), Outcome::Miss));
    assert_eq!(read_field("n:q").await, ("old".into(), Outcome::Hit));
    assert_eq!(read_field("item:b").await, ("old".into(), Outcome::Hit));
}

/// A body read with its stock figures; `figures` is what a load would find.
async fn read_tallied(cache: &Cache, key: &cache::Key, figures: Tally) -> (i64, i64, Outcome) {
    read_figures(cache, (key, "", TallyOf::Key), figures).await
}

/// [`read_tallied`] of any variant, with its figures kept where `of` says.
async fn read_figures(
    cache: &Cache,
    at: (&cache::Key, &str, TallyOf),
    figures: Tally,
) -> (i64, i64, Outcome) {
    cache
        .get_or_load_tallied(
            at,
            || async move { Ok::<_, ()>(((figures.quantity, figures.sold), figures)) },
            |value: &mut (i64, i64), tally| *value = (tally.quantity, tally.sold),
        )
        .await
        .map(|((quantity, sold), outcome)| (quantity, sold, outcome))
        .expect("infallible load")
}

/// A read of `field` of `key` whose load finds the figures `tally(1, 10, 0)` and then waits
/// to answer until the returned sender fires (or is dropped): a reader that loaded before a
/// stock change and tries to cache its old figures after it. Returns once the load began.
async fn slow_tallied_read(
    cache: &Cache,
    key: &cache::Key,
    field: &'static str,
    of: TallyOf,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<((i64, i64), Outcome), ()>>,
) {
    let (read_done_tx, read_done_rx) = tokio::sync::oneshot::channel::<()>();
    let (write_done_tx, write_done_rx) = tokio::sync::oneshot::channel::<()>();
    let (cache, key) = (cache.clone(), key.clone());
    let slow = tokio::spawn(async move {
        cache
            .get_or_load_tallied(
                (&key, field, of),
                || async move {
                    let _ = read_done_tx.send(());
                    let _ = write_done_rx.await;
                    Ok::<_, ()>(((10_i64, 0_i64), tally(1, 10, 0)))
                },
                |value: &mut (i64, i64), tally| *value = (tally.quantity, tally.sold),
            )
            .await
    });
    read_done_rx.await.expect("the reader loads");
    (write_done_tx, slow)
}

fn tally(seq: i64, quantity: i64, sold: i64) -> Tally {
    Tally {
        seq,
        quantity,
        sold,
        changed_at_us: 0,
    }
}

/// A stock change moves a cached body's figures forward and leaves it cached; a change that
/// arrives late (an older sequence) does not move them back.
#[tokio::test]
async fn stock_figures_move_forward_and_never_back() {
    let cache = cache();
    let key = keys::product(Uuid::new_v4().into());
    assert_eq!(
        read_tallied(&cache, &key, tally(5, 10, 0)).await,
        (10, 0, Outcome::Miss)
    );
    let moved = Stale::Tally {
        key: key.clone(),
        variant: None,
        tally: tally(7, 8, 2),
    };
    cache.invalidate(&[moved]).await;
    assert_eq!(
        read_tallied(&cache, &key, tally(0, 0, 0)).await,
        (8, 2, Outcome::Hit)
    );
    let late = Stale::Tally {
        key: key.clone(),
        variant: None,
        tally: tally(6, 9, 1),
    };
    cache.invalidate(&[late]).await;
    assert_eq!(
        read_tallied(&cache, &key, tally(0, 0, 0)).await,
        (8, 2, Outcome::Hit)
    );
    // A whole-key invalidation (a product update) forgets the figures with the body.
    cache.invalidate(std::slice::from_ref(&key)).await;
    assert_eq!(
        read_tallied(&cache, &key, tally(9, 3, 7)).await,
        (3, 7, Outcome::Miss)
    );
}

/// A variant's own figures (a store's stock row of one product): a change moves them
/// forward and leaves the row cached; the store's other rows keep theirs and stay cached
/// too; a slow reader of that row that loaded before the change cannot cache its old
/// figures; forgetting the row by name forgets its figures with it.
#[tokio::test]
async fn a_variant_s_figures_move_forward_alone() {
    let cache = cache();
    let key = keys::store_inventory(Uuid::new_v4().into());
    let (a, b) = ("item:a", "item:b");
    let row = |field| (&key, field, TallyOf::Variant);
    assert_eq!(
        read_figures(&cache, row(a), tally(5, 10, 0)).await,
        (10, 0, Outcome::Miss)
    );
    assert_eq!(
        read_figures(&cache, row(b), tally(3, 4, 0)).await,
        (4, 0, Outcome::Miss)
    );
    let moved = |field: &str, figures| Stale::Tally {
        key: key.clone(),
        variant: Some(field.to_owned()),
        tally: figures,
    };
    cache.invalidate(&[moved(a, tally(7, 8, 0))]).await;
    assert_eq!(
        read_figures(&cache, row(a), tally(0, 0, 0)).await,
        (8, 0, Outcome::Hit)
    );
    assert_eq!(
        read_figures(&cache, row(b), tally(0, 0, 0)).await,
        (4, 0, Outcome::Hit),
        "another row's figures are its own"
    );
    cache.invalidate(&[moved(a, tally(6, 9, 0))]).await;
    assert_eq!(
        read_figures(&cache, row(a), tally(0, 0, 0)).await,
        (8, 0, Outcome::Hit),
        "a late, older change does not move them back"
    );

    // The race of a reader that loaded before a change, on a row not cached yet.
    let c = "item:c";
    let (write_done_tx, slow) = slow_tallied_read(&cache, &key, c, TallyOf::Variant).await;
    cache.invalidate(&[moved(c, tally(2, 9, 0))]).await;
    let _ = write_done_tx.send(());
    slow.await.expect("reader").expect("load");
    assert_eq!(
        read_figures(&cache, row(c), tally(2, 9, 0)).await,
        (9, 0, Outcome::Miss),
        "the old row and figures must not have been cached"
    );
    assert_eq!(
        read_figures(&cache, row(b), tally(0, 0, 0)).await,
        (4, 0, Outcome::Hit),
        "nor another row forgotten"
    );

    // Forgetting the row by name takes its figures along: the next read loads both.
    cache
        .invalidate(&[Stale::Variants {
            key: key.clone(),
            fields: vec![a.to_owned()],
            prefixes: Vec::new(),
        }])
        .await;
    assert_eq!(
        read_figures(&cache, row(a), tally(1, 2, 0)).await,
        (2, 0, Outcome::Miss)
    );
}

/// The tally's own race: a reader loads the body before a sale commits, the sale moves the
/// figures (the key is not cached yet, so nothing moves), and only then does the reader try to
/// cache its old body and figures. They must not land.
#[tokio::test]
async fn a_slow_reader_cannot_cache_figures_older_than_a_stock_change() {
    let cache = cache();
    let key = keys::product(Uuid::new_v4().into());
    let (write_done_tx, slow) = slow_tallied_read(&cache, &key, "", TallyOf::Key).await;
    cache
        .invalidate(&[Stale::Tally {
            key: key.clone(),
            variant: None,
            tally: tally(2, 9, 1),
        }])
        .await;
    let _ = write_done_tx.send(());
    slow.await.expect("reader").expect("load");
    assert_eq!(
        read_tallied(&cache, &key, tally(2, 9, 1)).await,
        (9, 1, Outcome::Miss),
        "the old body and figures must not have been cached"
    );
}

/// Two instances (two caches on one Redis and prefix): a profile held in each one's memory is
/// forgotten by both when one invalidates it, through the published message, well within the
/// memory layer's one-second TTL.
#[tokio::test]
async fn an_invalidation_reaches_the_other_instance_s_memory() {
    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let mut config = CacheConfig::new(url.clone());
    config.prefix = format!("cache-test-{}:", Uuid::new_v4().simple());
    let one = Cache::new(config.clone()).expect("cache");
    let two = Cache::new(config.clone()).expect("cache");
    let key = keys::user_profile(Uuid::new_v4().into());
    let mut redis = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis");
    let redis_key = cache::keys::redis_name(&config.prefix, &key.name);
    // Each layer is off until its subscription is up: read until a read still hits after the
    // key was removed from Redis behind the cache's back, i.e. it came from memory.
    for cache in [&one, &two] {
        let mut from_memory = false;
        for _ in 0..100 {
            let (first, _) = read(cache, &key, "v1").await;
            let _: i64 = redis::cmd("DEL")
                .arg(&redis_key)
                .query_async(&mut redis)
                .await
                .expect("DEL");
            if read(cache, &key, "other").await == (first, Outcome::Hit) {
                from_memory = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(from_memory, "the memory layer never came up");
    }
    // Both hold the key in memory only now (Redis has none). `one` forgets it.
    one.invalidate(std::slice::from_ref(&key)).await;
    let mut forgotten = false;
    for _ in 0..20 {
        if read(&two, &key, "v2").await == ("v2".into(), Outcome::Miss) {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        forgotten,
        "the second instance still served the old profile from memory"
    );
    assert_eq!(read(&one, &key, "v3").await.0, "v2");
}

async fn read_versioned(
    cache: &Cache,
    key: &cache::Key,
    value: &str,
    seq: i64,
) -> (String, Outcome) {
    let value = value.to_owned();
    cache
        .get_or_load_versioned(key, "today", || async move { Ok::<_, ()>((value, seq)) })
        .await
        .expect("infallible load")
}

/// A versioned value (a store's dashboard) is put in place by writers and kept only while
/// nothing newer was cached: neither a writer nor a reader that read older figures, from a
/// lagging standby or before a later write committed, can put them back, even after the
/// value itself expired or was forgotten.
#[tokio::test]
async fn versioned_values_only_move_forward() {
    let cache = cache();
    let key = keys::dashboard(Some(Uuid::new_v4().into()));
    let newer = |value: &str, seq: i64| {
        Stale::newer(key.clone(), "today", seq, &value.to_owned()).expect("encodable")
    };
    assert_eq!(
        read_versioned(&cache, &key, "v5", 5).await,
        ("v5".into(), Outcome::Miss)
    );
    cache.invalidate(&[newer("v7", 7)]).await;
    assert_eq!(
        read_versioned(&cache, &key, "-", 0).await,
        ("v7".into(), Outcome::Hit)
    );
    // A writer whose figures are older than the cached ones: refused.
    cache.invalidate(&[newer("v6", 6)]).await;
    assert_eq!(
        read_versioned(&cache, &key, "-", 0).await,
        ("v7".into(), Outcome::Hit)
    );
    // The same version again (two writers who read after both commits): the same figures.
    cache.invalidate(&[newer("v7", 7)]).await;
    assert_eq!(
        read_versioned(&cache, &key, "-", 0).await,
        ("v7".into(), Outcome::Hit)
    );

    // Forgotten (as its TTL would): a reader with older figures answers them, uncached...
    cache.invalidate(std::slice::from_ref(&key)).await;
    assert_eq!(
        read_versioned(&cache, &key, "v6", 6).await,
        ("v6".into(), Outcome::Miss)
    );
    assert_eq!(
        read_versioned(&cache, &key, "v7", 7).await,
        ("v7".into(), Outcome::Miss)
    );
    // ...and one with the newest caches them.
    assert_eq!(
        read_versioned(&cache, &key, "-", 0).await,
        ("v7".into(), Outcome::Hit)
    );
    cache.invalidate(&[newer("v8", 8)]).await;
    assert_eq!(
        read_versioned(&cache, &key, "-", 0).await,
        ("v8".into(), Outcome::Hit)
    );
}
