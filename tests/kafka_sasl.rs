//! SASL_SSL for real (issue 11): cxpulse consumes and produces through a broker that demands
//! SASL/SCRAM-SHA-512 over TLS, with the password read from a file; wrong credentials or an
//! untrusted certificate leave `/readyz` false with a clear reason while the service keeps running.
//!
//! What is real and what stands in (tansu 0.6.0, read in its source):
//! - SCRAM is tansu's own: the user is created with `tansu user create` on a broker started
//!   without `--authentication` on SQLite storage, then the broker restarts with authentication
//!   on the same storage. tansu's memory storage keeps no SCRAM credentials at all (its upsert
//!   does nothing and its lookup finds nobody), and `tansu user create` exits 0 whatever the broker
//!   answers, so only a client that then authenticates shows the user exists. SQLite storage
//!   needs tansu built with `libsql`, which scripts/install-test-deps.sh installs beside the
//!   default one, in ~/.cache/cxpulse/tansu-sql.
//! - What the broker itself refuses: any request but ApiVersions and the SASL ones before a SASL
//!   exchange has finished (checked here: a TLS client without SASL gets no metadata). A wrong
//!   password is refused by the client, not the broker: tansu answers a bad proof with the SCRAM
//!   error `e=invalid-proof`, which librdkafka turns into an authentication failure, but it counts
//!   the connection as authenticated all the same (tansu-auth's `is_authenticated` accepts any
//!   finished exchange; a raw client that sent a random proof and ignored that answer was then
//!   served metadata). It offers SCRAM-SHA-256/512 and OAUTHBEARER only (rsasl without PLAIN): a
//!   PLAIN handshake closes the connection. None of this matters to cxpulse, the client here; it
//!   does mean tansu is no model of a broker's own refusals.
//! - TLS: tansu 0.6.0 accepts `--cert`/`--key` but never wraps its connections in TLS (the
//!   acceptor it builds is unused). So the test terminates TLS in front of it, as a load balancer
//!   would: an OpenSSL server with a certificate made in the test, which the broker advertises as
//!   its address. librdkafka's TLS handshake, certificate and host name checks are real.

mod support;
mod tls_support;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

const USER: &str = "cxpulse";
const PASSWORD: &str = "correct horse battery staple";

/// tansu built with SQLite storage (`--features libsql`), where scripts/install-test-deps.sh
/// puts it.
fn tansu_sql() -> PathBuf {
    let path = Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache/cxpulse/tansu-sql/bin/tansu");
    assert!(path.is_file(), "{} is missing: run scripts/install-test-deps.sh", path.display());
    path
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_broker(dir: &Path, port: u16, advertised: u16, authentication: bool) -> Broker {
    let log_file = dir.join(format!("tansu-{authentication}.log"));
    let log = std::fs::File::create(&log_file).unwrap();
    let mut command = Command::new(tansu_sql());
    command
        .current_dir(dir)
        .args(["broker", "--silent", "--storage-engine", "sqlite://tansu.db"])
        .args(["--listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{advertised}")])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if authentication {
        command.arg("--authentication");
    }
    // Drop kills the broker when the test ends or panics; this covers the test process being killed
    // outright (a harness timeout), which would otherwise leave tansu running. The signal follows
    // the thread that spawned it: the test's own thread, alive until the broker is dropped.
    // SAFETY: prctl is async-signal-safe and touches nothing shared with the parent.
    unsafe {
        command.pre_exec(|| match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let broker = Broker(command.spawn().expect("start tansu"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
        assert!(Instant::now() < deadline, "tansu did not listen on {port}: {}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

/// Terminates TLS on `listener` and forwards the bytes to `upstream`.
async fn tls_front(listener: TcpListener, acceptor: SslAcceptor, upstream: SocketAddr) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(ssl) = Ssl::new(acceptor.context()) else { return };
            let Ok(mut tls) = SslStream::new(ssl, client) else { return };
            if Pin::new(&mut tls).accept().await.is_err() {
                return; // an untrusting client hangs up during the handshake
            }
            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
        });
    }
}

fn secure_client(bootstrap: &str, ca: &Path, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", USER)
        .set("sasl.password", password)
        .set("ssl.ca.location", ca.to_str().unwrap())
        // A refused producer fails in seconds, not librdkafka's default five minutes.
        .set("message.timeout.ms", "20000")
        .set("log_level", "3");
    config
}

fn service_config(dir: &Path, name: &str, bootstrap: &str, ca: &Path, password: &str) -> (PathBuf, u16) {
    let password_file = dir.join(format!("{name}.password"));
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let extra = format!(
        "[clock]\nmax_lag = \"36500d\"\nmax_future_skew = \"36500d\"\n\n[service]\nprobe_interval = \"1s\"\n\n\
         [kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\
         \"sasl.username\" = \"{USER}\"\n\"sasl.password.file\" = \"{}\"\n\"ssl.ca.location\" = \"{}\"\n",
        password_file.display(),
        ca.display()
    );
    let port = free_port();
    (write_config(dir, bootstrap, name, port, &extra), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_over_tls_consumes_produces_and_refuses_bad_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tls_support::make_pki(dir.path());
    let (kafka_port, front_port) = (free_port(), free_port());

    // 1. Without authentication: create the user and the topics on SQLite storage.
    {
        let _setup = start_broker(dir.path(), kafka_port, kafka_port, false);
        let created = Command::new(tansu_sql())
            .args(["user", "create", "--broker", &format!("tcp://127.0.0.1:{kafka_port}"), USER, PASSWORD])
            .args(["--mechanism", "scram512"])
            .output()
            .expect("tansu user create");
        assert!(created.status.success(), "tansu user create: {}", String::from_utf8_lossy(&created.stderr));
        create_default_topics(&format!("127.0.0.1:{kafka_port}"), 1).await;
    }

    // 2. With authentication, behind TLS, advertising the TLS address.
    let _broker = start_broker(dir.path(), kafka_port, front_port, true);
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acceptor.set_certificate_chain_file(&pki.cert_file).unwrap();
    acceptor.set_private_key_file(&pki.key_file, SslFiletype::PEM).unwrap();
    let front = TcpListener::bind(("127.0.0.1", front_port)).await.unwrap();
    let upstream = SocketAddr::from(([127, 0, 0, 1], kafka_port));
    tokio::spawn(tls_front(front, acceptor.build(), upstream));
    let bootstrap = format!("127.0.0.1:{front_port}");

    // The broker demands SASL: over the same TLS door, a client that skips it gets no metadata.
    let anonymous: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("security.protocol", "SSL")
        .set("ssl.ca.location", pki.ca_file.to_str().unwrap())
        .set("log_level", "0")
        .create()
        .unwrap();
    let refused = anonymous.fetch_metadata(None, Duration::from_secs(3));
    assert!(refused.is_err(), "metadata without SASL: {:?}", refused.map(|m| m.topics().len()));
    drop(anonymous);

    // Traffic from an independent client through the same door: c1 goes quiet, c2 later.
    let producer: FutureProducer = secure_client(&bootstrap, &pki.ca_file, PASSWORD).create().unwrap();
    for (customer, ts) in [("c1", "2026-03-01T00:00:00Z"), ("c2", "2026-03-20T00:00:00Z")] {
        let value = format!(r#"{{"type":"interaction","kind":"login","customer_id":"{customer}","ts":"{ts}"}}"#);
        let record = FutureRecord::to(TOPICS[0]).key(customer).payload(&value);
        producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).expect("produced over SASL_SSL");
    }

    // 3. cxpulse with the right password (from a file): consumes, alerts, is ready.
    let (config, port) = service_config(dir.path(), "good", &bootstrap, &pki.ca_file, PASSWORD);
    let service = InProcess::start(&config, port);
    wait_until(Duration::from_secs(90), "both events consumed", || async {
        events_seen(&service.metrics().await) == 2
    })
    .await;
    wait_until(Duration::from_secs(30), "ready", || async { service.ready().await.0 }).await;
    service.stop().await;
    let alerts = read_secure(&bootstrap, &pki.ca_file, TOPICS[2], 1);
    assert!(alerts.iter().any(|a| a.contains("customer_inactive") && a.contains("\"c1\"")), "{alerts:?}");

    // 4. Wrong password, then an untrusted certificate: not ready, with the reason; no crash.
    let stranger = tempfile::tempdir().unwrap();
    let other_ca = tls_support::make_pki(stranger.path()).ca_file;
    for (name, ca, password) in
        [("wrong-password", &pki.ca_file, "not the password"), ("wrong-ca", &other_ca, PASSWORD)]
    {
        let (config, port) = service_config(dir.path(), name, &bootstrap, ca, password);
        let service = InProcess::start(&config, port);
        wait_until(Duration::from_secs(60), "readiness to name the refusal", || async {
            let (ready, body) = service.ready().await;
            !ready && body.contains("refused our credentials or TLS")
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (ready, body) = service.ready().await;
        assert!(!ready, "{name}: {body}");
        assert_eq!(events_seen(&service.metrics().await), 0, "{name}");
        service.stop().await; // still running, and stops cleanly
    }
}

/// Every record value of `topic`, read over SASL_SSL.
fn read_secure(bootstrap: &str, ca: &Path, topic: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = secure_client(bootstrap, ca, PASSWORD)
        .set("group.id", format!("reader-{}", free_port()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while Instant::now() < deadline && out.len() < expected {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}
