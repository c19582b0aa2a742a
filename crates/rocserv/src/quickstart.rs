//! `rocserv --quickstart`: runs on the embedded example configuration. On first start it creates a
//! self-signed certificate and a demo user with a random password in the quickstart directory, and it
//! always prints the exact `openconnect` command line (with the certificate pin) that connects to it.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The embedded configuration; its paths point into the default quickstart directory.
const QUICKSTART_CONF: &str = include_str!("../../../examples/quickstart.conf");
const DEFAULT_DIR: &str = "/var/lib/rocserv/quickstart";
pub const DEMO_USER: &str = "demo";

#[derive(Debug, thiserror::Error)]
pub enum QuickstartError {
    #[error("quickstart directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the self-signed certificate: {0}")]
    Cert(String),
    #[error("cannot hash the demo password: {0}")]
    Hash(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QuickstartError + '_ {
    move |source| QuickstartError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), QuickstartError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(data).map_err(io(path))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Creates what is missing in `dir` and writes the rendered configuration; returns its path.
pub fn prepare(dir: &Path) -> Result<PathBuf, QuickstartError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let cert = dir.join("server-cert.pem");
    let key = dir.join("server-key.pem");
    if !cert.exists() || !key.exists() {
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&key);
        let names = vec![hostname(), "localhost".to_owned(), "127.0.0.1".to_owned()];
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| QuickstartError::Cert(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(names)
            .map_err(|e| QuickstartError::Cert(e.to_string()))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rocserv quickstart");
        let c = params
            .self_signed(&key_pair)
            .map_err(|e| QuickstartError::Cert(e.to_string()))?;
        write_private(&key, key_pair.serialize_pem().as_bytes())?;
        std::fs::write(&cert, c.pem()).map_err(io(&cert))?;
        println!(
            "rocserv: created a self-signed certificate in {}",
            cert.display()
        );
    }
    let passwd = dir.join("ocpasswd");
    let pw_file = dir.join("demo-password");
    if !passwd.exists() {
        let _ = std::fs::remove_file(&pw_file);
        let password = random_password();
        let hash = rocserv_auth::hash_password(&password)
            .map_err(|e| QuickstartError::Hash(e.to_string()))?;
        write_private(&pw_file, format!("{password}\n").as_bytes())?;
        write_private(&passwd, format!("{DEMO_USER}:*:{hash}\n").as_bytes())?;
        println!(
            "rocserv: created user '{DEMO_USER}'; its password is in {}",
            pw_file.display()
        );
    }
    let conf = dir.join("quickstart.conf");
    let text = QUICKSTART_CONF.replace(DEFAULT_DIR, &dir.to_string_lossy());
    std::fs::write(&conf, text).map_err(io(&conf))?;
    Ok(conf)
}

fn random_password() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>())
}

/// The command line printed at start-up.
pub fn client_command(pin: &str, port: u16, dir: &Path) -> String {
    format!(
        "openconnect --user {DEMO_USER} --servercert pin-sha256:{pin} https://127.0.0.1:{port}/\n\
         (password: the content of {}; from another machine, replace 127.0.0.1 by this server's address)",
        dir.join("demo-password").display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_parses_with_any_directory() {
        let dir = std::env::temp_dir().join(format!("rocserv-qs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let conf = prepare(&dir).unwrap();
        let loaded = rocserv_config::load(&conf).unwrap();
        let c = &loaded.config;
        assert!(c.server_cert.iter().all(|p| p.starts_with(&dir)));
        assert!(dir.join("server-key.pem").exists() && dir.join("ocpasswd").exists());
        // second start keeps the certificate
        let before = std::fs::read(dir.join("server-cert.pem")).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(before, std::fs::read(dir.join("server-cert.pem")).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
