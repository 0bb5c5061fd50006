//! Before the load: a plain HTTP client for set-up calls (logins, list calls when sampling
//! over HTTP) and the sessions the virtual users send their requests with. The load itself
//! goes over `http`'s own connections, not this client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::sample::{Sample, StaffRef};

/// Logins at once while setting up: each is an argon2 verification on the service.
const LOGINS_AT_ONCE: usize = 4;

/// A reqwest client for the API under `base` (`http://127.0.0.1:8080`), logged in or not.
#[derive(Clone)]
pub struct SetupClient {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl SetupClient {
    pub fn new(base: &str) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            token: None,
        })
    }

    /// The same client, logged in as `login`.
    pub async fn logged_in(&self, login: &str, password: &str) -> Result<Self> {
        let token = self.login(login, password).await?;
        Ok(Self {
            token: Some(token),
            ..self.clone()
        })
    }

    /// Logs in and returns the token.
    pub async fn login(&self, login: &str, password: &str) -> Result<String> {
        let response = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "login": login, "password": password }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body["token"].as_str() {
            Some(token) if status.is_success() => Ok(token.to_owned()),
            _ => Err(Error::Service(format!(
                "login of {login} answered {status}: {}",
                body["detail"].as_str().unwrap_or("no detail")
            ))),
        }
    }

    /// GET `/api/v1{path}` as JSON; anything but 200 is an error naming the path.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let mut request = self.client.get(format!("{}/api/v1{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Service(format!("GET {path} answered {status}")));
        }
        Ok(response.json().await?)
    }
}

/// The tokens of one store's staff, by the role an operation needs.
#[derive(Debug, Clone)]
pub struct StoreTokens {
    pub manager: Arc<str>,
    pub sales: Arc<str>,
    pub technician: Arc<str>,
}

/// Logs in, for every store of the sample, a manager, a salesperson and a technician of that
/// store (each account once), falling back to the store's manager and then to `admin` where
/// a store lacks the role. Returns one entry per store, in the sample's order.
pub async fn sessions(
    client: &SetupClient,
    sample: &Sample,
    admin: &str,
    password: &str,
) -> Result<Vec<StoreTokens>> {
    let plan: Vec<[String; 3]> = sample
        .stores
        .iter()
        .map(|store| {
            let of =
                |role: &str| staff_with(&sample.accounts, store.id, role).map(|s| s.login.clone());
            let manager = of("manager").unwrap_or_else(|| admin.to_owned());
            let sales = of("sales").unwrap_or_else(|| manager.clone());
            let technician = of("technician").unwrap_or_else(|| manager.clone());
            [manager, sales, technician]
        })
        .collect();
    let mut logins: Vec<String> = plan.iter().flatten().cloned().collect();
    logins.sort();
    logins.dedup();
    let mut tokens: HashMap<String, Arc<str>> = HashMap::new();
    for chunk in logins.chunks(LOGINS_AT_ONCE) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|login| {
                let (client, login, password) =
                    (client.clone(), login.clone(), password.to_owned());
                tokio::spawn(async move { client.login(&login, &password).await })
            })
            .collect();
        for (login, handle) in chunk.iter().zip(handles) {
            let token = handle
                .await
                .map_err(|e| Error::Service(format!("login task: {e}")))??;
            tokens.insert(login.clone(), Arc::from(token));
        }
    }
    let token = |login: &String| {
        tokens
            .get(login)
            .cloned()
            .ok_or_else(|| Error::Service(format!("no session for {login}")))
    };
    plan.iter()
        .map(|[m, s, t]| {
            Ok(StoreTokens {
                manager: token(m)?,
                sales: token(s)?,
                technician: token(t)?,
            })
        })
        .collect()
}

fn staff_with<'a>(accounts: &'a [StaffRef], store: uuid::Uuid, role: &str) -> Option<&'a StaffRef> {
    accounts
        .iter()
        .find(|a| a.has(role) && a.store_ids.contains(&store))
}
