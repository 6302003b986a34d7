//! Startup failures an operator can act on: each names the flag or
//! variable and the offending value (secrets masked), and `--version`
//! says which commit is running.

use std::process::{Command, Output};

fn estate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_estate"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "ESTATE_INTERNAL_TOKEN_SECRET",
            "a-secret-of-sixteen-or-more",
        )
        .env("ESTATE_SHUTDOWN_GRACE_S", "1")
        // Tests run in parallel: no process may take the default port.
        .env("ESTATE_METRICS_LISTEN", "127.0.0.1:0");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the estate binary runs")
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure: {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_version_names_the_commit() {
    let output = estate(&["--version"], &[]);
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        version.starts_with("estate 0.") && version.contains(" ("),
        "{version}"
    );
}

#[test]
fn a_taken_listen_address_names_its_variable() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = estate(&["gateway"], &[("ESTATE_LISTEN", &address)]);
    let error = failure(&output);
    assert!(
        error.contains(&format!("ESTATE_LISTEN: cannot listen on {address}")),
        "{error}"
    );
}

#[test]
fn a_bad_database_url_is_named_with_its_password_masked() {
    for url in [
        "postgres://estate:hunter2@127.0.0.1:5432/estate?sslmode=sometimes",
        "postgres://estate:hunter2@127.0.0.1:notaport/estate",
    ] {
        let output = estate(
            &["billing", "--listen", "127.0.0.1:0"],
            &[("DATABASE_URL", url)],
        );
        let error = failure(&output);
        assert!(
            error.contains("DATABASE_URL (postgres://estate:***@127.0.0.1:"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "the password leaked: {error}");
    }
}

#[test]
fn tls_files_and_service_urls_are_named_when_unusable() {
    let output = estate(
        &["gateway", "--listen", "127.0.0.1:0"],
        &[
            ("ESTATE_TLS_CERT_FILE", "/nonexistent/tls.crt"),
            ("ESTATE_TLS_KEY_FILE", "/nonexistent/tls.key"),
        ],
    );
    let error = failure(&output);
    assert!(
        error.contains("ESTATE_TLS_CERT_FILE: cannot read /nonexistent/tls.crt"),
        "{error}"
    );

    let output = estate(
        &["gateway", "--listen", "127.0.0.1:0"],
        &[("ESTATE_BILLING_URL", "ftp://billing:50063")],
    );
    let error = failure(&output);
    assert!(
        error.contains("ESTATE_BILLING_URL: \"ftp://billing:50063\" is not a usable URL"),
        "{error}"
    );
}

#[test]
fn a_metrics_exporter_that_cannot_work_is_named() {
    let output = estate(&["gateway"], &[("OTEL_METRICS_EXPORTER", "statsd")]);
    let error = failure(&output);
    assert!(
        error.contains("OTEL_METRICS_EXPORTER=statsd: unknown exporter \"statsd\""),
        "{error}"
    );
    let output = estate(&["gateway"], &[("OTEL_METRICS_EXPORTER", "otlp")]);
    let error = failure(&output);
    assert!(
        error.contains("OTEL_METRICS_EXPORTER=otlp: set OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{error}"
    );
}

#[test]
fn help_names_the_telemetry_variables() {
    let output = estate(&["--help"], &[]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for variable in [
        "ESTATE_METRICS_LISTEN",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_METRIC_EXPORT_INTERVAL",
    ] {
        assert!(help.contains(variable), "--help does not name {variable}");
    }
}
