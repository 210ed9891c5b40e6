//! TLS material: the user's `--tls-cert/--tls-key`, or a CA and serving
//! certificate generated on first start under the data directory
//! (`ca.crt`, `tls.crt`, `tls.key`), valid for localhost and the listen IP.

use crate::{ServerConfig, ServerError, io_err};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// PEMs to serve with.
pub struct TlsMaterial {
    /// Certificate chain.
    pub cert_pem: String,
    /// Private key.
    pub key_pem: String,
    /// The generated CA, if we made one.
    pub ca_pem: Option<String>,
    /// Its file.
    pub ca_file: Option<PathBuf>,
}

/// A generated CA and a serving certificate it signed.
pub struct Generated {
    /// The CA certificate.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

/// A new CA named `ca_name` and a serving certificate named `leaf_name`
/// for `sans` (DNS names or IP addresses) signed by it.
pub fn generate(
    ca_name: &str,
    leaf_name: &str,
    sans: &[String],
) -> Result<Generated, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(sans.to_vec())?;
    leaf.distinguished_name.push(DnType::CommonName, leaf_name);
    let leaf_cert = leaf.signed_by(&leaf_key, &ca)?;
    Ok(Generated {
        ca_pem: ca.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

fn write_private(path: &Path, data: &str) -> Result<(), ServerError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data.as_bytes()).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn read(path: &Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Loads or generates TLS material.
pub fn load_or_create(cfg: &ServerConfig, listen_ip: IpAddr) -> Result<TlsMaterial, ServerError> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => {
            return Ok(TlsMaterial {
                cert_pem: read(c)?,
                key_pem: read(k)?,
                ca_pem: None,
                ca_file: None,
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(ServerError::Tls(
                "--tls-cert and --tls-key must be given together".into(),
            ));
        }
        (None, None) => {}
    }
    let dir = &cfg.data_dir;
    let (ca_path, crt_path, key_path) =
        (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"));
    let ip = listen_ip.to_string();
    if ca_path.exists() && crt_path.exists() && key_path.exists() {
        let cert_pem = read(&crt_path)?;
        // Regenerate when the listen address is not covered by the stored certificate.
        let sans_file = dir.join("tls.sans");
        let covered = listen_ip.is_unspecified()
            || std::fs::read_to_string(&sans_file).is_ok_and(|s| s.lines().any(|l| l == ip));
        if covered {
            return Ok(TlsMaterial {
                cert_pem,
                key_pem: read(&key_path)?,
                ca_pem: Some(read(&ca_path)?),
                ca_file: Some(ca_path),
            });
        }
    }
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !listen_ip.is_unspecified() && !sans.contains(&ip) {
        sans.push(ip.clone());
    }
    let generated = generate("kargo local CA", "kargo server", &sans)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let (ca_pem, cert_pem, key_pem) = (generated.ca_pem, generated.cert_pem, generated.key_pem);
    write_private(&key_path, &key_pem)?;
    std::fs::write(&crt_path, &cert_pem).map_err(io_err(&crt_path))?;
    std::fs::write(&ca_path, &ca_pem).map_err(io_err(&ca_path))?;
    let sans_file = dir.join("tls.sans");
    std::fs::write(&sans_file, sans.join("\n")).map_err(io_err(&sans_file))?;
    Ok(TlsMaterial {
        cert_pem,
        key_pem,
        ca_pem: Some(ca_pem),
        ca_file: Some(ca_path),
    })
}
