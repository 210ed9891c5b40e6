//! The in-cluster configuration as client-go reads it in a pod: the API
//! server at `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
//! the service account's `token` (read again as it rotates), `ca.crt` and
//! `namespace` from `/var/run/secrets/kubernetes.io/serviceaccount`. The
//! directory can be moved with `KARGO_SERVICE_ACCOUNT_DIR`, so the path a
//! pod takes can be run (and tested) outside one.

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use std::path::{Path, PathBuf};

/// Where a pod's service-account credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The environment variable that moves [`SERVICE_ACCOUNT_DIR`].
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "KARGO_SERVICE_ACCOUNT_DIR";

/// The service-account directory in use.
pub fn service_account_dir() -> PathBuf {
    std::env::var_os(SERVICE_ACCOUNT_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR))
}

/// The API server's URL from the environment, as client-go builds it
/// (both variables required; IPv6 addresses bracketed).
fn server_url() -> Result<String, String> {
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let host = var("KUBERNETES_SERVICE_HOST")?;
    let port = var("KUBERNETES_SERVICE_PORT")?;
    port.parse::<u16>()
        .map_err(|e| format!("KUBERNETES_SERVICE_PORT {port:?}: {e}"))?;
    let host = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host,
    };
    Ok(format!("https://{host}:{port}"))
}

/// The in-cluster configuration, through kube's kubeconfig loader so
/// the CA and the rotating token file are handled as for any kubeconfig.
pub async fn config() -> Result<kube::Config, String> {
    let dir = service_account_dir();
    config_from(&server_url()?, &dir).await
}

async fn config_from(server: &str, dir: &Path) -> Result<kube::Config, String> {
    let file = |name: &str| {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{} is missing", p.display()))
        }
    };
    let (token, ca) = (file("token")?, file("ca.crt")?);
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let name = "in-cluster".to_string();
    let kc = Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(Cluster {
                server: Some(server.to_string()),
                certificate_authority: Some(ca.display().to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(AuthInfo {
                token_file: Some(token.display().to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                namespace,
                ..Default::default()
            }),
            ..Default::default()
        }],
        current_context: Some(name),
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_files_of_the_directory_make_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let err = config_from("https://10.0.0.1:443", dir.path())
            .await
            .unwrap_err();
        assert!(err.ends_with("token is missing"), "{err}");
        std::fs::write(dir.path().join("token"), "t0k3n\n").unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("namespace"), "kargo\n").unwrap();
        let c = config_from("https://10.0.0.1:443", dir.path())
            .await
            .unwrap();
        assert_eq!(c.cluster_url.to_string(), "https://10.0.0.1:443/");
        assert_eq!(c.default_namespace, "kargo");
        assert_eq!(c.root_cert.as_ref().map(Vec::len), Some(1));
        assert!(c.auth_info.token_file.is_some());
    }
}
