//! Proves the integration-test harness itself against the real programs: s3s-fs, gpg and a
//! throwaway PostgreSQL cluster. If these fail, the machine is not set up, not the product.

mod common;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::{free_port, GpgHome, PassphraseFile, S3Server};
use lifeboat::storage::pg_cluster::{ClusterOptions, EphemeralCluster};

#[test]
fn s3_server_creates_the_bucket_and_serves_it() {
    let server = S3Server::start();
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    assert!(server.root_dir().is_dir(), "bucket directory missing");
    assert!(server.list_keys().is_empty());

    // A file placed in the bucket directory is an object to S3 clients.
    std::fs::write(server.root_dir().join("hello.txt"), "hi").expect("write object");
    assert_eq!(server.list_keys(), vec!["hello.txt".to_string()]);

    let env = server.env();
    assert!(env.contains(&("AWS_REGION".to_string(), "us-east-1".to_string())));
    assert!(env.iter().any(|(k, _)| k == "AWS_ACCESS_KEY_ID"));
    assert!(env.iter().any(|(k, _)| k == "AWS_SECRET_ACCESS_KEY"));
}

#[test]
fn s3_server_rejects_bad_signatures() {
    let server = S3Server::start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        server.bucket()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

#[test]
fn s3_server_goes_down_and_comes_back_on_the_same_port() {
    let mut server = S3Server::start();
    let port = server.port();
    std::fs::write(server.root_dir().join("kept"), "data").expect("write object");

    server.stop();
    assert!(!server.is_running());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections after stop"
    );

    server.restart();
    assert_eq!(server.port(), port);
    assert_eq!(server.list_keys(), vec!["kept".to_string()]);
    drop(server);

    // A fresh server can claim a specific, just-released port too.
    let again = S3Server::start_on_port(port);
    assert_eq!(again.endpoint(), format!("http://127.0.0.1:{port}"));
    assert!(again.list_keys().is_empty());
}

#[test]
fn gpg_home_key_encrypts_and_decrypts_with_plain_gpg() {
    let home = GpgHome::new();
    assert_eq!(home.fingerprint().len(), 40, "{}", home.fingerprint());
    assert_eq!(home.email(), "test@lifeboat.invalid");
    let mode = std::fs::metadata(home.path())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    let work = tempfile::tempdir().expect("tempdir");
    let plain = work.path().join("plain.txt");
    let sealed = work.path().join("plain.txt.gpg");
    let opened = work.path().join("opened.txt");
    std::fs::write(&plain, "lifeboat harness\n").expect("write");

    let status = home
        .gpg()
        .args(["--trust-model", "always", "--recipient", home.fingerprint()])
        .arg("--output")
        .arg(&sealed)
        .arg("--encrypt")
        .arg(&plain)
        .status()
        .expect("gpg encrypt");
    assert!(status.success());

    let status = home
        .gpg()
        .arg("--output")
        .arg(&opened)
        .arg("--decrypt")
        .arg(&sealed)
        .stderr(Stdio::null())
        .status()
        .expect("gpg decrypt");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&opened).expect("read"),
        "lifeboat harness\n"
    );

    // Without the key, the same ciphertext must not open.
    let stranger = GpgHome::empty();
    assert!(stranger.fingerprint().is_empty());
    let status = stranger
        .gpg()
        .arg("--output")
        .arg(work.path().join("nope.txt"))
        .arg("--decrypt")
        .arg(&sealed)
        .stderr(Stdio::null())
        .status()
        .expect("gpg decrypt without key");
    assert!(!status.success());
}

#[test]
fn passphrase_file_is_private_and_works_for_symmetric_gpg() {
    let (_guard, path) = PassphraseFile::new("correct horse battery staple");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "correct horse battery staple"
    );

    let home = GpgHome::empty();
    let work = tempfile::tempdir().expect("tempdir");
    let plain = work.path().join("p");
    let sealed = work.path().join("p.gpg");
    std::fs::write(&plain, "symmetric").expect("write");
    let status = home
        .gpg()
        .args(["--pinentry-mode", "loopback", "--passphrase-file"])
        .arg(&path)
        .arg("--output")
        .arg(&sealed)
        .arg("--symmetric")
        .arg(&plain)
        .status()
        .expect("gpg symmetric");
    assert!(status.success());
    let out = home
        .gpg()
        .args(["--pinentry-mode", "loopback", "--passphrase-file"])
        .arg(&path)
        .arg("--decrypt")
        .arg(&sealed)
        .stderr(Stdio::null())
        .output()
        .expect("gpg decrypt");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"symmetric");
}

#[test]
fn free_port_is_bindable() {
    let port = free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port is free");
}

#[test]
fn ephemeral_cluster_from_the_library_works() {
    let cluster = EphemeralCluster::start(ClusterOptions::default()).expect("start cluster");
    cluster.create_database("harness").expect("create database");
    cluster
        .psql(
            "harness",
            "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 10);",
        )
        .expect("load");
    assert_eq!(
        cluster
            .psql("harness", "SELECT sum(n) FROM t")
            .expect("sum"),
        "55"
    );
    let data_dir = cluster.data_dir().to_path_buf();
    assert!(cluster.log_path().is_file());
    assert!(cluster.bin_dir().join("pg_ctl").is_file());
    cluster.stop().expect("stop");
    assert!(!data_dir.exists());
}
