//! The gateway's TLS: HTTPS with HTTP/2 and a certificate of the test's private CA (checked
//! by the client), HSTS, TLS 1.2 and HTTP/1.1 still served, and plain HTTP redirected to
//! HTTPS except the health checks.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::path::Path;

use reqwest::{Method, StatusCode};
use testkit::gateway::{Gateway, GatewayOptions};

async fn start(options: GatewayOptions) -> Gateway {
    Gateway::start(Path::new(env!("CARGO_BIN_EXE_ims")), options).await
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn tls_speaks_http2_with_a_certificate_of_the_private_ca() {
    let gateway = start(GatewayOptions::default()).await;
    assert!(gateway.address.starts_with("https://"));
    let response = gateway
        .request(Method::GET, "/stores", Some(&gateway.admin_token))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );
    assert_eq!(
        header(response.headers(), "strict-transport-security"),
        Some("max-age=63072000")
    );
    // TLS 1.2 is still offered (Mozilla's intermediate profile), with HTTP/2 too.
    let tls12 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&gateway.ca_pem).expect("pem"))
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    let response = tls12
        .get(format!("{}/health/live", gateway.address))
        .send()
        .await
        .expect("TLS 1.2 accepted");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    // A client without HTTP/2 gets HTTP/1.1 over the same TLS port.
    let http1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&gateway.ca_pem).expect("pem"))
        .http1_only()
        .build()
        .expect("client");
    let response = http1
        .get(format!("{}/health/live", gateway.address))
        .send()
        .await
        .expect("HTTP/1.1 over TLS");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    // The certificate is checked: a client that does not trust the private CA (this one
    // trusts no CA at all) refuses the gateway.
    let stranger = reqwest::Client::builder().build().expect("client");
    let refused = stranger
        .get(format!("{}/health/live", gateway.address))
        .send()
        .await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    // nginx's own answers carry HSTS too.
    let too_large = gateway
        .request(Method::POST, "/customers", None)
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .expect("sent");
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_large
        .headers()
        .contains_key("strict-transport-security"));
}

#[tokio::test]
async fn plain_http_redirects_to_https_but_for_health_checks() {
    let gateway = start(GatewayOptions::default()).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let tls_port = gateway.address.rsplit_once(':').expect("a port").1;
    for method in [Method::GET, Method::POST] {
        let response = plain
            .request(
                method.clone(),
                format!("{}/api/v1/stores?limit=5", gateway.plain_address),
            )
            .bearer_auth(&gateway.admin_token)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            response.status(),
            StatusCode::PERMANENT_REDIRECT,
            "{method}"
        );
        assert_eq!(
            header(response.headers(), "location"),
            Some(format!("https://127.0.0.1:{tls_port}/api/v1/stores?limit=5").as_str())
        );
        // HSTS only means something over TLS; browsers ignore it on plain HTTP.
        assert!(response
            .headers()
            .get("strict-transport-security")
            .is_none());
    }
    // Load balancers' probes stay on plain HTTP.
    for path in ["/health/live", "/health/ready"] {
        let response = plain
            .get(format!("{}{path}", gateway.plain_address))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // Following the redirect with a client that trusts the CA ends on HTTPS. (A client
    // drops the token when a redirect changes the port, so the public catalogue.)
    let followed = gateway
        .client
        .get(format!(
            "{}/api/v1/catalog/categories",
            gateway.plain_address
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(followed.status(), StatusCode::OK);
    assert!(followed.url().as_str().starts_with(&gateway.address));
}
