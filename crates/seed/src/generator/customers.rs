//! Customers: Indian names, normalized mobile numbers (families share one), some emails and
//! dates of birth, a home store, and how often each one buys (a few loyal customers buy a
//! lot). Each customer's `created_at` is set before their first order or eye test.

use rand::Rng;
use uuid::Uuid;

use super::copy::{Sent, Sink};
use super::names::{EMAIL_DOMAINS, FEMALE_NAMES, MALE_NAMES, SURNAMES};
use super::rng::{between, chance, normal, pick, stream, uuid_v7, GenRng, Stream, Weighted};
use super::time::MINUTE;

pub(crate) struct Customer {
    pub id: Uuid,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    /// Day number of the date of birth, when the customer gave it.
    pub birth_day: Option<i64>,
    /// Age in years today.
    pub age: u8,
    /// Index of the customer whose family (and phone) this one joined; themselves if none.
    pub family: u32,
    pub home_store: u32,
    pub created: i64,
}

pub(crate) struct CustomerPlan {
    pub customers: Vec<Customer>,
    /// How likely each customer is to be the one placing an order.
    pub loyalty: Weighted,
}

fn mobile(rng: &mut GenRng) -> String {
    format!(
        "+91{}{:09}",
        rng.gen_range(6..=9),
        rng.gen_range(0..1_000_000_000u64)
    )
}

fn email_of(rng: &mut GenRng, first: &str, last: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase()
    };
    let suffix = if chance(rng, 0.6) {
        format!("{}", rng.gen_range(1..999))
    } else {
        String::new()
    };
    let sep = *pick(rng, &[".", "", "_"]);
    format!(
        "{}{sep}{}{suffix}@{}",
        clean(first),
        clean(last),
        pick(rng, EMAIL_DOMAINS)
    )
}

pub(crate) fn plan_customers(seed: u64, n: usize, stores: usize, today: i64) -> CustomerPlan {
    let mut rng = stream(seed, Stream::Customers);
    let store_weights = Weighted::zipf(stores, 1.0);
    let mut customers: Vec<Customer> = Vec::with_capacity(n);
    let mut loyalty = Vec::with_capacity(n);
    for i in 0..n {
        let female = chance(&mut rng, 0.48);
        let first = *pick(&mut rng, if female { FEMALE_NAMES } else { MALE_NAMES });
        let relative = (i > 0 && chance(&mut rng, 0.15)).then(|| i - rng.gen_range(1..=i.min(200)));
        let (family, surname, phone, home_store) = match relative {
            Some(j) => {
                let r = &customers[j];
                let surname = r.name.rsplit(' ').next().unwrap_or("Sharma").to_owned();
                (r.family, surname, r.phone.clone(), r.home_store)
            }
            None => (
                i as u32,
                (*pick(&mut rng, SURNAMES)).to_owned(),
                mobile(&mut rng),
                store_weights.sample(&mut rng) as u32,
            ),
        };
        let age = if chance(&mut rng, 0.08) {
            rng.gen_range(5..18)
        } else {
            normal(&mut rng, 42.0, 15.0).clamp(18.0, 88.0) as u8
        };
        let birth_day = chance(&mut rng, 0.6)
            .then(|| today - i64::from(age) * 365 - i64::from(age) / 4 - rng.gen_range(0..365));
        let email = chance(&mut rng, 0.45).then(|| email_of(&mut rng, first, &surname));
        // Log-normal loyalty, capped: most customers buy a few times, some every few months.
        loyalty.push(normal(&mut rng, 0.0, 0.8).exp().min(12.0));
        customers.push(Customer {
            id: Uuid::nil(),
            name: format!("{first} {surname}"),
            phone,
            email,
            birth_day,
            age,
            family,
            home_store,
            created: 0,
        });
    }
    CustomerPlan {
        customers,
        loyalty: Weighted::new(loyalty),
    }
}

/// Sets each customer's `created_at` just before their first order or test (`first_seen`,
/// Unix ms, `i64::MAX` for none: then some time in `window_start..now`) and draws their ids.
pub(crate) fn finish_customers(
    seed: u64,
    customers: &mut [Customer],
    first_seen: &[i64],
    window_start: i64,
    now: i64,
) {
    let mut rng = stream(seed, Stream::CustomerIds);
    for (c, &seen) in customers.iter_mut().zip(first_seen) {
        c.created = if seen == i64::MAX {
            between(&mut rng, window_start, now)
        } else {
            seen - between(&mut rng, MINUTE, 20 * MINUTE)
        };
        c.id = uuid_v7(&mut rng, c.created);
    }
}

pub(crate) fn emit_customers(sink: &mut Sink, customers: &[Customer]) -> Sent {
    sink.copy(
        "customers",
        "customers",
        "id, name, phone, email, date_of_birth, created_at, updated_at",
        true,
    )?;
    for c in customers {
        sink.row(|r| {
            r.uuid(&c.id)
                .text(&c.name)
                .text(&c.phone)
                .opt_text(c.email.as_deref());
            match c.birth_day {
                Some(day) => r.date(day),
                None => r.null(),
            };
            r.timestamp(c.created).timestamp(c.created);
        })?;
    }
    sink.end_copy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_look_real() {
        let today = 20_000;
        let plan = plan_customers(42, 5_000, 10, today);
        let again = plan_customers(42, 5_000, 10, today);
        assert!(plan
            .customers
            .iter()
            .zip(&again.customers)
            .all(|(a, b)| a.name == b.name && a.phone == b.phone));
        let mut shared = 0;
        for (i, c) in plan.customers.iter().enumerate() {
            let phone = domain::customer::Phone::parse(&c.phone).expect("valid phone");
            assert_eq!(phone.as_str(), c.phone, "already normalized");
            assert!(c.phone.len() == 13 && matches!(c.phone.as_bytes()[3], b'6'..=b'9'));
            if let Some(email) = &c.email {
                assert!(domain::user::Email::parse(email).is_ok(), "{email}");
            }
            assert!(c.name.split(' ').count() == 2);
            assert!((c.home_store as usize) < 10 && (5..=88).contains(&c.age));
            if c.family as usize != i {
                shared += 1;
                assert_eq!(plan.customers[c.family as usize].phone, c.phone);
            }
            if let Some(day) = c.birth_day {
                assert!(day < today);
            }
        }
        assert!(
            (500..1000).contains(&shared),
            "{shared} share a family phone"
        );
        let emails = plan.customers.iter().filter(|c| c.email.is_some()).count();
        assert!((2_000..2_500).contains(&emails));
    }
}
