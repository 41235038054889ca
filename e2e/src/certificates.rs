//! Test certificates made with the openssl command: a CA per folder and certificates it signs.

use std::{path::Path, process::Command};

/// A certificate for `hosts`, signed by the CA of `dir` (made on first use as `dir/ca.crt`);
/// returns the certificate and key as PEM.
pub fn issue(dir: &Path, name: &str, hosts: &[&str]) -> (String, String) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    if !dir.join("ca.crt").exists() {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=e2e-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
    }
    let sans: Vec<String> = hosts.iter().map(|host| format!("DNS:{host}")).collect();
    std::fs::write(dir.join(format!("{name}.ext")), format!("subjectAltName={}\n", sans.join(","))).unwrap();
    let (key, csr, crt, ext) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={name}"), "-keyout", &key, "-out", &csr]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &crt,
    ]);
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    (read(&crt), read(&key))
}
