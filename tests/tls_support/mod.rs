//! Test certificates, made in the test with OpenSSL: a throwaway CA and a server certificate for
//! `localhost` / 127.0.0.1 signed by it, written as PEM files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Name, X509};

pub struct TestPki {
    /// The CA certificate clients trust.
    pub ca_file: PathBuf,
    /// The server certificate (PEM).
    pub cert_file: PathBuf,
    /// The server key (PEM, PKCS#8).
    pub key_file: PathBuf,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(cn: &str) -> X509Name {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    name.build()
}

fn certificate(subject: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, serial: u32) -> X509 {
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap()).unwrap();
    b.set_subject_name(&name(subject)).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name(subject)).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
            b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().unwrap()).unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            b.append_extension(BasicConstraints::new().build().unwrap()).unwrap();
            b.append_extension(KeyUsage::new().digital_signature().key_agreement().build().unwrap()).unwrap();
            b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap()).unwrap();
            let san = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .build(&b.x509v3_context(Some(ca), None))
                .unwrap();
            b.append_extension(san).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

/// A CA and a `localhost` server certificate in `dir`.
pub fn make_pki(dir: &Path) -> TestPki {
    let ca_key = key();
    let ca = certificate("cxpulse test CA", &ca_key, None, 1);
    let server_key = key();
    let server = certificate("localhost", &server_key, Some((&ca, &ca_key)), 2);
    let pki =
        TestPki { ca_file: dir.join("ca.pem"), cert_file: dir.join("server.pem"), key_file: dir.join("server.key") };
    std::fs::write(&pki.ca_file, ca.to_pem().unwrap()).unwrap();
    std::fs::write(&pki.cert_file, server.to_pem().unwrap()).unwrap();
    std::fs::write(&pki.key_file, server_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    pki
}
