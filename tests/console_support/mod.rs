//! The built `lifeboat` console driven through tmux, for end-to-end tests: a private tmux
//! server (its own socket, never the default one) running one 80x24 session whose shell runs
//! the console with a `TestApp`'s environment, then records how the terminal was left.
//!
//! Every wait polls `capture-pane` against a deadline and panics with the last screen, so a
//! failure shows what the operator would have seen.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::common::app::TestApp;

pub const WIDTH: u16 = 80;
pub const HEIGHT: u16 = 24;
/// Between two looks at the screen while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(40);
/// How long the shell lingers after the console exits, so the pane can still be inspected.
const LINGER_SECONDS: u32 = 60;

/// Quotes `text` for `sh` (single quotes; embedded ones closed, escaped and reopened).
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Random files of `total` bytes in `dir` (`file_bytes` each, from /dev/urandom so they do
/// not compress): a file root whose backup takes a few seconds.
pub fn fill_random_files(dir: &Path, total: u64, file_bytes: u64) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let mut urandom = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    let mut written = 0;
    let mut n = 0;
    while written < total {
        let size = file_bytes.min(total - written);
        let path = dir.join(format!("random-{n:03}.bin"));
        let mut file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let copied = std::io::copy(&mut std::io::Read::take(&mut urandom, size), &mut file)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        assert_eq!(copied, size, "short read from /dev/urandom");
        written += size;
        n += 1;
    }
}

/// The console running in a private tmux server; the server is killed on drop.
pub struct Console {
    socket: String,
    /// The server's socket file, removed after the server is killed.
    socket_path: Option<PathBuf>,
    session: String,
    /// Holds the shell script, the console's pid, exit code and `stty -a` after it exits.
    out: TempDir,
}

impl Console {
    /// Starts `lifeboat --config <app config>` at 80x24 with the app's environment (and only
    /// PATH, HOME, TERM and a UTF-8 locale besides).
    pub fn start(app: &TestApp, name: &str) -> Console {
        Console::start_with_env(app, name, &[])
    }

    /// `start`, with `extra` variables (such as `XDG_CONFIG_HOME`) added to the environment.
    pub fn start_with_env(app: &TestApp, name: &str, extra: &[(&str, &str)]) -> Console {
        let config = format!(
            "--config {}",
            sh_quote(&app.config_path().display().to_string())
        );
        Console::start_with_args(app, name, extra, &config)
    }

    /// `start_with_env` with `args` (already shell-quoted) instead of `--config <app's file>`:
    /// the fleet tests start lifeboat with no `--config` at all.
    pub fn start_with_args(
        app: &TestApp,
        name: &str,
        extra: &[(&str, &str)],
        args: &str,
    ) -> Console {
        let mut env = app.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Console::start_in(&env, name, args)
    }

    /// `lifeboat <args>` (already shell-quoted) with `env` (and only PATH, HOME, TERM and a
    /// UTF-8 locale besides): no test application needed, as for `lifeboat demo`.
    pub fn start_in(env_vars: &[(String, String)], name: &str, args: &str) -> Console {
        let out = tempfile::Builder::new()
            .prefix("lifeboat-tmux-")
            .tempdir()
            .expect("create the console's output directory");
        let socket = format!("lifeboat-{name}-{}", std::process::id());
        let session = "console".to_string();
        let o = |file: &str| sh_quote(&out.path().join(file).display().to_string());
        let mut env: Vec<String> = vec![
            "PATH=\"$PATH\"".into(),
            "HOME=\"$HOME\"".into(),
            "TERM=\"$TERM\"".into(),
            "LANG=C.UTF-8".into(),
        ];
        env.extend(env_vars.iter().map(|(k, v)| format!("{k}={}", sh_quote(v))));
        // The inner shell's pid becomes the console's: `exec` keeps it through env and lifeboat.
        let inner = format!(
            "echo $$ > {pid}; exec env -i {env} {bin} {args}",
            pid = o("pid"),
            env = env.join(" "),
            bin = sh_quote(env!("CARGO_BIN_EXE_lifeboat")),
        );
        let script = format!(
            "#!/bin/sh\nsh -c {inner}\necho $? > {exit}.tmp && mv {exit}.tmp {exit}\n\
             stty -a > {stty}\nsleep {LINGER_SECONDS}\n",
            inner = sh_quote(&inner),
            exit = o("exit"),
            stty = o("stty.txt"),
        );
        let script_path = out.path().join("run.sh");
        std::fs::write(&script_path, script).expect("write the console script");
        let mut console = Console {
            socket,
            socket_path: None,
            session,
            out,
        };
        let started = console.tmux(&[
            "new-session",
            "-d",
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            "-s",
            &console.session.clone(),
            &format!("sh {}", sh_quote(&script_path.display().to_string())),
        ]);
        assert!(
            started.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        console.socket_path = console.socket_path_of_server();
        console
    }

    /// Where the private server's socket is, to remove it after the server is killed.
    fn socket_path_of_server(&self) -> Option<PathBuf> {
        let path = self.tmux(&["display", "-p", "#{socket_path}"]);
        Some(PathBuf::from(
            String::from_utf8_lossy(&path.stdout).trim().to_string(),
        ))
        .filter(|p| !p.as_os_str().is_empty())
    }

    /// A tmux client attached to this console's session, as an SSH session holds one: it
    /// runs in a second private tmux server (80x24, no status lines in either server), whose
    /// screen is what that client shows. Killing the client leaves the console running.
    pub fn attach_client(&self, name: &str) -> Console {
        let _ = self.tmux(&["set", "-g", "status", "off"]);
        let out = tempfile::Builder::new()
            .prefix("lifeboat-tmux-client-")
            .tempdir()
            .expect("create the client's output directory");
        let mut client = Console {
            socket: format!("lifeboat-client-{name}-{}", std::process::id()),
            socket_path: None,
            session: "client".to_string(),
            out,
        };
        // The outer server sets TMUX in its pane; a nested client refuses to start with it.
        let attach = format!(
            "env -u TMUX LANG=C.UTF-8 tmux -L {} -f /dev/null -u attach -t {}",
            sh_quote(&self.socket),
            sh_quote(&self.session)
        );
        let started = client.tmux(&[
            "new-session",
            "-d",
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            "-s",
            "client",
            ";",
            "set",
            "-g",
            "status",
            "off",
            ";",
            "respawn-pane",
            "-k",
            "-t",
            "client:0.0",
            &attach,
        ]);
        assert!(
            started.status.success(),
            "tmux new-session (client) failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        client.socket_path = client.socket_path_of_server();
        client
    }

    /// The pids of the tmux clients attached to this console's server.
    pub fn client_pids(&self) -> Vec<u32> {
        let out = self.tmux(&["list-clients", "-F", "#{client_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// `tmux -L <private socket> -f /dev/null -u <args>`.
    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null", "-u"])
            .args(args)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux (install the `tmux` package)")
    }

    fn target(&self) -> String {
        format!("{}:0.0", self.session)
    }

    /// The visible screen, one line per row.
    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", &self.target()]);
        assert!(
            out.status.success(),
            "tmux capture-pane failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends tmux key names (`b`, `Enter`, `PageDown`, ...), one key each.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.tmux(&["send-keys", "-t", &self.target(), key]);
            assert!(
                out.status.success(),
                "tmux send-keys {key} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Types `text` as it is (tmux `send-keys -l`: no key names), as into a text field.
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", &self.target(), "-l", text]);
        assert!(
            out.status.success(),
            "tmux send-keys -l {text} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Polls the screen until `found` returns something, or panics after `timeout` with the
    /// last screen and `what` was awaited.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut found: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if let Some(value) = found(&screen) {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {timeout:?} for {what}; the screen was:\n{screen}\n{}",
                    self.exit_note()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until the screen contains every one of `needles`; returns that screen.
    pub fn wait_for_text(&self, needles: &[&str], timeout: Duration) -> String {
        self.wait_for(&format!("{needles:?}"), timeout, |s| {
            needles.iter().all(|n| s.contains(n)).then(|| s.to_string())
        })
    }

    /// The console's pid (written by the shell just before it became the console).
    pub fn pid(&self) -> u32 {
        let path = self.out_path("pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return pid;
            }
            assert!(Instant::now() < deadline, "the console never wrote its pid");
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The console's exit code once it has exited.
    pub fn exit_code(&self) -> Option<i32> {
        std::fs::read_to_string(self.out_path("exit"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
    }

    pub fn wait_for_exit(&self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.exit_code() {
                return code;
            }
            if Instant::now() > deadline {
                panic!(
                    "the console did not exit within {timeout:?}; the screen was:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// `stty -a` as the shell saw the terminal after the console exited.
    pub fn stty_after_exit(&self) -> String {
        let path = self.out_path("stty.txt");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if text.contains("icanon") {
                    return text;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no stty -a output after the console exited"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// `#{alternate_on}` of the pane: "1" while a full-screen program owns it.
    pub fn alternate_on(&self) -> String {
        let out = self.tmux(&["display", "-p", "-t", &self.target(), "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn out_path(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }

    fn exit_note(&self) -> String {
        match self.exit_code() {
            Some(code) => format!("(the console has exited with code {code})"),
            None => String::new(),
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // Only this test's private server; the console (if still up) gets SIGHUP and exits.
        let _ = self.tmux(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The screen line naming `app` in the fleet table.
pub fn fleet_row<'a>(screen: &'a str, app: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {app} ")) && l.contains('│'))
        .unwrap_or_else(|| panic!("no row for {app}:\n{screen}"))
}

/// The first `<phase> NN%` on the screen: the gauge's label (e.g. "backup 37%  ...").
pub fn gauge_percent(screen: &str, phase: &str) -> Option<u32> {
    screen.lines().find_map(|line| {
        let at = line.find(&format!("{phase} "))?;
        let rest = &line[at + phase.len() + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !rest[digits.len()..].starts_with('%') {
            return None;
        }
        digits.parse().ok()
    })
}
