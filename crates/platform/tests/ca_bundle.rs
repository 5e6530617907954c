//! `pin_ca_bundle` against this machine's real certificate store. Its own test binary,
//! because it sets environment variables (the other test here reads none).

use std::collections::HashSet;

use orders_platform::config::pin_ca_bundle;

#[test]
fn the_pinned_bundle_trusts_every_root_the_full_search_trusts_and_env_choices_win() {
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");
    let full = rustls_native_certs::load_native_certs();
    let Some(bundle) = openssl_probe::probe().cert_file else {
        // No bundle file on this system: nothing may be pinned.
        pin_ca_bundle();
        assert!(std::env::var_os("SSL_CERT_FILE").is_none());
        return;
    };

    pin_ca_bundle();
    assert_eq!(
        std::env::var_os("SSL_CERT_FILE"),
        Some(bundle.clone().into_os_string())
    );
    let pinned = rustls_native_certs::load_native_certs();
    assert!(pinned.errors.is_empty(), "{:?}", pinned.errors);
    assert!(
        !pinned.certs.is_empty(),
        "{} holds no certificate",
        bundle.display()
    );
    let pinned: HashSet<_> = pinned.certs.iter().map(|c| c.as_ref().to_vec()).collect();
    // The directory scan also picks up certificates the distribution keeps out of its
    // bundle on purpose, such as Debian's `ssl-cert-snakeoil.pem` (a `CA:FALSE` leaf that
    // can issue nothing): only certificate authorities count.
    let missing: Vec<_> = full
        .certs
        .iter()
        .filter(|c| !pinned.contains(c.as_ref()) && !declares_not_a_ca(c.as_ref()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of the {} roots found by the full search are not in {}",
        missing.len(),
        full.certs.len(),
        bundle.display()
    );
    assert!(pinned.iter().all(|c| !declares_not_a_ca(c)));

    // A choice made in the environment is left alone.
    std::env::set_var("SSL_CERT_FILE", "/somewhere/else.pem");
    pin_ca_bundle();
    assert_eq!(
        std::env::var_os("SSL_CERT_FILE").as_deref(),
        Some(std::ffi::OsStr::new("/somewhere/else.pem"))
    );
    std::env::remove_var("SSL_CERT_FILE");
    std::env::set_var("SSL_CERT_DIR", "/somewhere");
    pin_ca_bundle();
    assert!(std::env::var_os("SSL_CERT_FILE").is_none());
}

/// Whether a DER certificate declares `basicConstraints` without the `cA` flag (a leaf).
/// Certificates without the extension (old version-1 roots) do not declare it.
fn declares_not_a_ca(der: &[u8]) -> bool {
    const BASIC_CONSTRAINTS: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x13];
    let Some(at) = der.windows(5).position(|w| w == BASIC_CONSTRAINTS) else {
        return false;
    };
    let mut rest = &der[at + BASIC_CONSTRAINTS.len()..];
    if rest.starts_with(&[0x01, 0x01]) {
        rest = &rest[3..]; // the extension's `critical` flag
    }
    // extnValue: OCTET STRING { SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen OPTIONAL } }
    match rest {
        [0x04, _, 0x30, _, 0x01, 0x01, flag, ..] => *flag == 0,
        [0x04, _, 0x30, ..] => true,
        _ => false,
    }
}

#[test]
fn the_ca_flag_reader_tells_a_leaf_from_an_authority() {
    let snakeoil_like = [
        0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x04, 0x02, 0x30, 0x00,
    ];
    let authority = [
        0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x05, 0x30, 0x03, 0x01,
        0x01, 0xff,
    ];
    assert!(declares_not_a_ca(&snakeoil_like));
    assert!(!declares_not_a_ca(&authority));
    assert!(!declares_not_a_ca(&[0x30, 0x00]));
}
