//! Helpers shared by the integration tests.

use rotation_azure_testserver::KeyVaultServer;

/// An HTTPS client that trusts only the server's throwaway CA.
pub fn client(server: &KeyVaultServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).expect("CA PEM parses");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("reqwest client builds")
}
