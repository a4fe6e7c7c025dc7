//! TLS: loading a PEM certificate chain and key, the acceptor for implicit TLS and STARTTLS,
//! and reloading the certificate (SIGHUP) without touching established connections.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_tls::TlsAcceptor;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{Certificate, PrivateKey, ServerConfig};

/// The certificate new handshakes get; replaced as a whole on reload.
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Load `cert` (PEM chain, leaf first) and `key` (PEM PKCS#8, RSA or EC), and check that
    /// the key belongs to the leaf certificate. Errors are one line that names the file.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Tls>, String> {
        let certified = load_certified_key(cert, key)?;
        let resolver = Arc::new(Resolver(RwLock::new(Arc::new(certified))));
        let config = ServerConfig::builder()
            .with_safe_defaults()
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        Ok(Arc::new(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Read the certificate and key files again; on error (unreadable, or a key that does not
    /// match the certificate) the old pair stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let certified = load_certified_key(&self.cert, &self.key)?;
        *self
            .resolver
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }
}

fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let chain: Vec<Certificate> = rustls_pemfile::certs(&mut open(cert)?)
        .map_err(|e| format!("cannot parse certificate file {}: {e}", cert.display()))?
        .into_iter()
        .map(Certificate)
        .collect();
    if chain.is_empty() {
        return Err(format!(
            "no PEM certificate (BEGIN CERTIFICATE) in {}",
            cert.display()
        ));
    }
    let items = rustls_pemfile::read_all(&mut open(key)?)
        .map_err(|e| format!("cannot parse key file {}: {e}", key.display()))?;
    let der = items
        .into_iter()
        .find_map(|item| match item {
            rustls_pemfile::Item::PKCS8Key(k)
            | rustls_pemfile::Item::RSAKey(k)
            | rustls_pemfile::Item::ECKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "no PEM private key (PKCS#8, RSA or EC) in {}",
                key.display()
            )
        })?;
    let signing = rustls::sign::any_supported_type(&PrivateKey(der))
        .map_err(|_| format!("unsupported private key type in {}", key.display()))?;
    if !key_matches_certificate(signing.as_ref(), &chain[0]) {
        return Err(format!(
            "the private key in {} does not match the certificate in {} (every TLS handshake would fail)",
            key.display(),
            cert.display()
        ));
    }
    Ok(CertifiedKey::new(chain, signing))
}

/// Whether `key` is the private half of the leaf certificate's public key: a signature made
/// with the key must verify with the certificate (what every client checks in the handshake).
/// A key of another type, or a signature that does not verify, is a mismatch.
fn key_matches_certificate(key: &dyn rustls::sign::SigningKey, leaf: &Certificate) -> bool {
    use rustls::SignatureScheme as S;
    const PROBE: &[u8] = b"liteimap: does this key belong to this certificate?";
    let schemes = [
        (S::ECDSA_NISTP256_SHA256, &webpki::ECDSA_P256_SHA256),
        (S::ECDSA_NISTP384_SHA384, &webpki::ECDSA_P384_SHA384),
        (S::ED25519, &webpki::ED25519),
        (
            S::RSA_PSS_SHA256,
            &webpki::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        ),
        (S::RSA_PKCS1_SHA256, &webpki::RSA_PKCS1_2048_8192_SHA256),
    ];
    let offered: Vec<S> = schemes.iter().map(|(s, _)| *s).collect();
    let Some(signer) = key.choose_scheme(&offered) else {
        return false;
    };
    let Some((_, alg)) = schemes.iter().find(|(s, _)| *s == signer.scheme()) else {
        return false;
    };
    let Ok(signature) = signer.sign(PROBE) else {
        return false;
    };
    webpki::EndEntityCert::try_from(leaf.0.as_slice())
        .and_then(|ee| ee.verify_signature(alg, PROBE, &signature))
        .is_ok()
}
