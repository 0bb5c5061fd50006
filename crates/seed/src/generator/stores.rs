//! The chain's stores and its staff: store codes, names and phones by city, and the user
//! accounts that work in them (roles spread so every store has a manager, sales staff,
//! optometrists and technicians when there are enough people), plus a few administrators.

use rand::Rng;
use uuid::Uuid;

use super::copy::{push_uuid, Sent, Sink};
use super::counts::Counts;
use super::names::{CITIES, STAFF_DOMAIN, STORES_PER_CITY};
use super::rng::{between, chance, stream, uuid_v7, GenRng, Stream};
use super::time::DAY;

pub(crate) struct Store {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub city: &'static str,
    pub phone: String,
    pub created: i64,
}

/// The city of each store of the reference chain, then round the list again.
fn city_of(index: usize) -> usize {
    let reference: usize = STORES_PER_CITY.iter().sum();
    let mut rest = index % reference;
    for (city, count) in STORES_PER_CITY.iter().enumerate() {
        if rest < *count {
            return city;
        }
        rest -= count;
    }
    0
}

pub(crate) fn plan_stores(seed: u64, n: usize, opened_before: i64) -> Vec<Store> {
    let mut rng = stream(seed, Stream::Stores);
    let mut per_city = vec![0usize; CITIES.len()];
    (0..n)
        .map(|i| {
            let city = city_of(i);
            let (city_name, prefix, std, areas) = CITIES[city];
            let k = per_city[city];
            per_city[city] += 1;
            let area = areas[k % areas.len()];
            let name = match k / areas.len() {
                0 => area.to_owned(),
                round => format!("{area} {}", round + 1),
            };
            let digits = 10 - std.len();
            let local: u64 =
                rng.gen_range(2 * 10u64.pow(digits as u32 - 1)..10u64.pow(digits as u32));
            let created = opened_before - between(&mut rng, 0, 8 * 365) * DAY;
            Store {
                id: uuid_v7(&mut rng, created),
                code: format!("{prefix}-{:02}", k + 1),
                name,
                city: city_name,
                phone: format!("+91{std}{local}"),
                created,
            }
        })
        .collect()
}

pub(crate) fn emit_stores(sink: &mut Sink, stores: &[Store]) -> Sent {
    sink.copy(
        "stores",
        "stores",
        "id, code, name, city, phone, status, created_at, updated_at",
        true,
    )?;
    for s in stores {
        sink.row(|r| {
            r.uuid(&s.id)
                .text(&s.code)
                .text(&s.name)
                .text(s.city)
                .text(&s.phone)
                .text("active")
                .timestamp(s.created)
                .timestamp(s.created);
        })?;
    }
    sink.end_copy()
}

pub(crate) struct User {
    pub id: Uuid,
    pub username: String,
    pub roles: &'static [&'static str],
    pub stores: Vec<usize>,
    pub suspended: bool,
    pub last_login: Option<i64>,
    pub created: i64,
}

/// Who of a store's staff can record a sale, test eyes or work in the workshop.
pub(crate) struct StoreStaff {
    sellers: Vec<Vec<Uuid>>,
    optometrists: Vec<Vec<Uuid>>,
    technicians: Vec<Vec<Uuid>>,
}

impl StoreStaff {
    fn choose<'a>(lists: &'a [Vec<Uuid>], rng: &mut GenRng, store: usize) -> Option<&'a Uuid> {
        let list = lists.get(store)?;
        (!list.is_empty()).then(|| &list[rng.gen_range(0..list.len())])
    }

    pub(crate) fn seller(&self, rng: &mut GenRng, store: usize) -> Option<&Uuid> {
        Self::choose(&self.sellers, rng, store)
    }

    pub(crate) fn optometrist(&self, rng: &mut GenRng, store: usize) -> Option<&Uuid> {
        Self::choose(&self.optometrists, rng, store)
    }

    pub(crate) fn technician(&self, rng: &mut GenRng, store: usize) -> Option<&Uuid> {
        Self::choose(&self.technicians, rng, store)
    }
}

/// The role of the `round`-th person of every store: each store of the reference chain gets
/// 1 manager, 4 sales, 2 optometrists and 3 technicians; later rounds draw by the same mix.
const ROUNDS: [&[&str]; 10] = [
    &["manager"],
    &["sales"],
    &["technician"],
    &["optometrist"],
    &["sales"],
    &["sales"],
    &["technician"],
    &["sales"],
    &["optometrist"],
    &["technician"],
];

pub(crate) fn plan_users(
    seed: u64,
    counts: &Counts,
    hired_before: i64,
    now: i64,
) -> (Vec<User>, StoreStaff) {
    let mut rng = stream(seed, Stream::Staff);
    let stores = counts.stores;
    let mut users = Vec::with_capacity(counts.users());
    // `may_leave`: everyone but each store's first four (one per role) may be suspended.
    let mut join =
        |rng: &mut GenRng, username: String, roles, stores: Vec<usize>, may_leave: bool| {
            let created = hired_before - between(rng, 0, 3 * 365) * DAY;
            let suspended = may_leave && chance(rng, 0.03);
            let last_login = (!chance(rng, 0.05)).then(|| now - between(rng, 0, 14 * DAY));
            users.push(User {
                id: uuid_v7(rng, created),
                username,
                roles,
                stores,
                suspended,
                last_login,
                created,
            });
        };
    for i in 0..counts.admins {
        join(
            &mut rng,
            format!("admin{:02}", i + 1),
            &["admin"][..],
            Vec::new(),
            false,
        );
    }
    for i in 0..counts.staff {
        let home = i % stores;
        let mut roles = ROUNDS[(i / stores) % ROUNDS.len()];
        if i / stores >= ROUNDS.len() {
            roles = ROUNDS[rng.gen_range(0..ROUNDS.len())];
        }
        // Small stores double up: some managers also sell, some optometrists too.
        if chance(&mut rng, 0.1) {
            roles = match roles[0] {
                "manager" => &["manager", "sales"],
                "optometrist" => &["optometrist", "sales"],
                _ => roles,
            };
        }
        let mut at = vec![home];
        if stores > 1 && chance(&mut rng, 0.25) {
            at.push((home + rng.gen_range(1..stores)) % stores);
        }
        join(
            &mut rng,
            format!("staff{:04}", i + 1),
            roles,
            at,
            i / stores >= 4,
        );
    }
    let staff = store_staff(&users, stores);
    (users, staff)
}

fn store_staff(users: &[User], stores: usize) -> StoreStaff {
    let mut staff = StoreStaff {
        sellers: vec![Vec::new(); stores],
        optometrists: vec![Vec::new(); stores],
        technicians: vec![Vec::new(); stores],
    };
    for user in users.iter().filter(|u| !u.suspended) {
        for &store in &user.stores {
            for role in user.roles {
                let list = match *role {
                    "manager" | "sales" => &mut staff.sellers,
                    "optometrist" => &mut staff.optometrists,
                    "technician" => &mut staff.technicians,
                    _ => continue,
                };
                if !list[store].contains(&user.id) {
                    list[store].push(user.id);
                }
            }
        }
    }
    staff
}

/// All generated accounts share one argon2 hash (`password_hash`): hashing is slow on purpose
/// and the password is the same for everyone (`staff-password-1`), so it is hashed once.
pub(crate) fn emit_users(
    sink: &mut Sink,
    users: &[User],
    stores: &[Store],
    password_hash: &str,
) -> Sent {
    sink.copy(
        "users",
        "users",
        "id, email, username, password_hash, roles, store_ids, status, last_login_at, \
         created_at, updated_at",
        false,
    )?;
    let mut list = Vec::with_capacity(128);
    for u in users {
        let email = format!("{}@{STAFF_DOMAIN}", u.username);
        sink.row(|r| {
            r.uuid(&u.id)
                .text(&email)
                .text(&u.username)
                .text(password_hash)
                .text(&format!("{{{}}}", u.roles.join(",")));
            list.clear();
            list.push(b'{');
            for (k, &store) in u.stores.iter().enumerate() {
                if k > 0 {
                    list.push(b',');
                }
                push_uuid(&mut list, &stores[store].id);
            }
            list.push(b'}');
            r.raw(&list)
                .text(if u.suspended { "suspended" } else { "active" })
                .opt_timestamp(u.last_login)
                .timestamp(u.created)
                .timestamp(u.last_login.unwrap_or(u.created));
        })?;
    }
    sink.end_copy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_store_has_each_role() {
        let counts = Counts::SCALE_1;
        let stores = plan_stores(42, counts.stores, 0);
        let codes: std::collections::HashSet<_> = stores.iter().map(|s| &s.code).collect();
        assert_eq!(codes.len(), stores.len(), "codes are unique");
        assert!(stores
            .iter()
            .all(|s| s.phone.len() == 13 && s.phone.starts_with("+91")));
        let (users, staff) = plan_users(42, &counts, 0, DAY);
        assert_eq!(users.len(), 503);
        assert_eq!(users[0].username, "admin01");
        assert_eq!(users[3].username, "staff0001");
        for store in 0..counts.stores {
            assert!(!staff.sellers[store].is_empty());
            assert!(!staff.optometrists[store].is_empty());
            assert!(!staff.technicians[store].is_empty());
        }
        assert!(users
            .iter()
            .all(|u| u.roles[0] == "admin" || (1..=2).contains(&u.stores.len())));
    }
}
