//! The one macro behind every closed set of names (roles, statuses, priorities), and the
//! [`Named`] trait it implements, so the layers around the domain (SQL text columns in
//! storage, the OpenAPI schema in api) map every such set the same way, from one list.

/// A closed set of names: the JSON names the contract uses, which are also the names in the
/// database's CHECK constraints.
pub trait Named: Copy + Eq + Send + Sync + 'static {
    /// The type's own name (`OrderStatus`), which the OpenAPI document names its schema by.
    const TYPE_NAME: &'static str;
    /// The type's doc comment, one line per doc line, which the OpenAPI document shows.
    const DESCRIPTION: &'static str;
    /// Every value, in the order they are declared.
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;
}

/// A name outside the set: a client's typo or a row no CHECK constraint guarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a {kind}; expected one of {expected}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub expected: String,
}

impl UnknownName {
    pub(crate) fn of<T: Named>(name: &str) -> Self {
        let expected: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
        Self {
            kind: T::TYPE_NAME,
            name: name.to_owned(),
            expected: expected.join(", "),
        }
    }
}

/// Why a status machine refused a move out of `from`, naming the moves it allows instead
/// (`subject` is what the status is of: "an order", "a job").
pub(crate) fn refused_move<T: Named>(
    subject: &str,
    from: T,
    can_become: impl Fn(T) -> bool,
) -> String {
    let allowed: Vec<&str> = T::ALL
        .iter()
        .copied()
        .filter(|s| can_become(*s))
        .map(Named::as_str)
        .collect();
    if allowed.is_empty() {
        format!("{subject} that is {} cannot change status", from.as_str())
    } else {
        format!(
            "{subject} that is {} can only become {}",
            from.as_str(),
            allowed.join(" or ")
        )
    }
}

/// Declares a closed set of statuses, with the JSON names the contract uses and the same names
/// in the database's CHECK constraints. Only doc comments may precede the name: they become
/// [`Named::DESCRIPTION`].
macro_rules! named_enum {
    ($(#[doc = $doc:literal])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order they are declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl $crate::Named for $name {
            const TYPE_NAME: &'static str = stringify!($name);
            const DESCRIPTION: &'static str = named_enum!(@doc $($doc)*);
            const ALL: &'static [$name] = $name::ALL;

            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::from_name(name).ok_or_else(|| $crate::UnknownName::of::<$name>(name))
            }
        }

        /// Reading a text column (storage's `#[sqlx(try_from = "String")]`).
        impl TryFrom<String> for $name {
            type Error = $crate::UnknownName;

            fn try_from(name: String) -> Result<Self, Self::Error> {
                name.parse()
            }
        }
    };
    // Doc lines joined by newlines; each keeps the space after `///`, which readers trim.
    (@doc) => { "" };
    (@doc $first:literal $($rest:literal)*) => {
        concat!($first $(, "\n", $rest)*)
    };
}
