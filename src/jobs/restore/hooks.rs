//! The operator's hooks and the health check: commands run with `sh -c`, or an http:// URL
//! that must answer 2xx.

use super::RestoreError;
use crate::jobs::progress::Reporter;
use crate::storage::postgres;
use std::time::Duration;

/// A hook or health command that did not succeed: how it ended, and what it printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {output}")]
pub struct HookFailure {
    /// The exit status, or "not started".
    pub status: String,
    pub output: String,
}

/// Why the health check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{0}")]
    Address(std::io::Error),
    #[error("no address")]
    NoAddress,
    /// Connecting to the URL or reading its answer.
    #[error("{target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{target} answered {code}")]
    Status { target: String, code: u16 },
    #[error("`{target}` failed ({}): {}", .failure.status, .failure.output)]
    Command {
        target: String,
        failure: HookFailure,
    },
}

/// Runs a hook with `sh -c`; its output goes to the log.
pub fn run_hook(command: &str, env: &[(String, String)]) -> Result<String, HookFailure> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null());
    postgres::inherit_only_stdio(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_string();
            if out.status.success() {
                Ok(text)
            } else {
                Err(HookFailure {
                    status: out.status.to_string(),
                    output: text,
                })
            }
        }
        Err(e) => Err(HookFailure {
            status: "not started".into(),
            output: e.to_string(),
        }),
    }
}

/// A health check: an http:// URL that must answer 2xx, or a command that must exit 0.
pub fn health_check(target: &str, timeout: Duration) -> Result<String, HealthError> {
    if let Some(rest) = target.strip_prefix("http://") {
        use std::io::{Read as _, Write as _};
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        let addr = std::net::ToSocketAddrs::to_socket_addrs(
            &(if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:80")
            }),
        )
        .map_err(HealthError::Address)?
        .next()
        .ok_or(HealthError::NoAddress)?;
        let connect = |source| HealthError::Connect {
            target: target.to_string(),
            source,
        };
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(connect)?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(HealthError::Io)?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lifeboat\r\n\r\n"
        )
        .map_err(HealthError::Io)?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).map_err(connect)?;
        let status_line = String::from_utf8_lossy(&head[..n]);
        let code: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        return if (200..300).contains(&code) {
            Ok(format!("{target} answered {code}"))
        } else {
            Err(HealthError::Status {
                target: target.to_string(),
                code,
            })
        };
    }
    run_hook(target, &[]).map_err(|failure| HealthError::Command {
        target: target.to_string(),
        failure,
    })
}

/// Runs hooks in order; the first failure stops with `state` (what was touched so far).
pub(super) async fn run_hooks(
    hooks: &[String],
    phase: &str,
    env: &[(String, String)],
    reporter: &Reporter,
    done: &mut Vec<String>,
    state: &str,
) -> Result<(), RestoreError> {
    for hook in hooks {
        reporter.phase(phase);
        let (h, e) = (hook.clone(), env.to_vec());
        let failure = |status: String, output: String| RestoreError::Hook {
            command: hook.clone(),
            status,
            output,
            state: state.to_string(),
        };
        match tokio::task::spawn_blocking(move || run_hook(&h, &e)).await {
            Ok(Ok(out)) => reporter.log(format!("{hook}: ok {out}")),
            Ok(Err(f)) => return Err(failure(f.status, f.output)),
            Err(e) => return Err(failure("panicked".into(), e.to_string())),
        }
        done.push(format!("hook {hook}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_hook_and_health_command_say_how_they_ended() {
        let failure = run_hook("echo broken; exit 3", &[]).unwrap_err();
        assert_eq!(failure.output, "broken");
        assert!(failure.status.contains('3'), "{failure:?}");
        // The drill records this text for a failed health command.
        assert_eq!(failure.to_string(), format!("{}: broken", failure.status));
        let env = [("LIFEBOAT_SET".to_string(), "s1".to_string())];
        assert_eq!(run_hook("echo $LIFEBOAT_SET", &env).unwrap(), "s1");

        let health = health_check("echo sick; exit 4", Duration::from_secs(5)).unwrap_err();
        let text = health.to_string();
        assert!(text.starts_with("`echo sick; exit 4` failed ("), "{text}");
        assert!(text.ends_with("): sick"), "{text}");
        assert!(matches!(health, HealthError::Command { .. }));
    }

    #[test]
    fn a_health_url_that_does_not_answer_2xx_fails_with_its_code() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.0 503 Busy\r\n\r\n",
                "HTTP/1.0 204 No Content\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                // The whole request first: answering early would make the client's next
                // write fail with a broken pipe, as no real server does.
                let mut request = Vec::new();
                let mut buf = [0u8; 256];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "the client closed before its request ended");
                    request.extend_from_slice(&buf[..n]);
                }
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let url = format!("http://{addr}/health");
        let err = health_check(&url, Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.to_string(), format!("{url} answered 503"));
        assert!(matches!(err, HealthError::Status { code: 503, .. }));
        assert_eq!(
            health_check(&url, Duration::from_secs(10)).unwrap(),
            format!("{url} answered 204")
        );
        server.join().unwrap();
    }
}
