//! Three applications on one host for the fleet tests (`status --all`, the fleet screen):
//! one PostgreSQL cluster, one config directory with `apps/healthy.toml`, `apps/stale.toml`
//! (a one-second `[status].stale_after`, so its real backup is stale once a second has
//! passed) and `apps/faildrill.toml` (a drill whose SQL check cannot pass), each with its own
//! local repository, and a real backup in each, taken with `--app NAME`.

use super::app::{AppOptions, TestApp, SCRUBBED_ENV};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const APPS: [&str; 3] = ["faildrill", "healthy", "stale"];

pub struct Fleet {
    pub app: TestApp,
    pub config_dir: PathBuf,
}

impl Fleet {
    pub fn build() -> Fleet {
        let app = TestApp::new(AppOptions {
            secrets: false,
            ..AppOptions::default()
        });
        let config_dir = app.root().join("cfg");
        std::fs::create_dir_all(config_dir.join("apps")).expect("mkdir cfg/apps");
        let fleet = Fleet { app, config_dir };
        let drill_server =
            serde_json::to_string(&fleet.app.cluster().url("postgres")).expect("a string");
        for name in APPS {
            let extra = match name {
                "stale" => "\n[status]\nstale_after = \"1s\"\n".to_string(),
                "faildrill" => format!(
                    "\n[drill]\nserver_url = {drill_server}\n\n[[drill.check]]\nname = \"impossible\"\nsql = \"SELECT 1\"\nexpect = \"2\"\n"
                ),
                _ => String::new(),
            };
            fleet.write_app(name, &extra);
        }
        for name in APPS {
            let out = fleet.lifeboat(&["--app", name, "backup", "--json"]);
            assert_eq!(out.status.code(), Some(0), "{name}: {}", describe(&out));
        }
        let out = fleet.lifeboat(&["--app", "faildrill", "drill", "latest", "--json"]);
        assert_ne!(
            out.status.code(),
            Some(0),
            "the drill must fail: {}",
            describe(&out)
        );
        fleet.wait_until_stale();
        fleet
    }

    /// `apps/NAME.toml`: the test app's configuration with a repository of its own.
    pub fn write_app(&self, name: &str, extra: &str) {
        let repo = format!("file://{}", self.app.repo_dir().display());
        let own = format!(
            "file://{}",
            self.app.root().join("repos").join(name).display()
        );
        let text = self.app.config_text().replace(&repo, &own) + extra;
        std::fs::write(self.app_path(name), text).expect("write apps/NAME.toml");
    }

    pub fn app_path(&self, name: &str) -> PathBuf {
        self.config_dir.join("apps").join(format!("{name}.toml"))
    }

    /// The environment every lifeboat of the fleet gets (no `--config`).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.app.env();
        env.push((
            "LIFEBOAT_CONFIG_DIR".into(),
            self.config_dir.display().to_string(),
        ));
        env
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(args);
        for name in SCRUBBED_ENV {
            cmd.env_remove(name);
        }
        cmd.envs(self.env()).stdin(Stdio::null());
        cmd
    }

    pub fn lifeboat(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("run lifeboat {args:?}: {e}"))
    }

    /// The stale application's newest set passes its one-second threshold (bounded wait on
    /// the real verdict, not a sleep).
    fn wait_until_stale(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.lifeboat(&["--app", "stale", "status"]);
            if out.status.code() == Some(10) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the stale app never turned stale: {}",
                describe(&out)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn root(&self) -> &Path {
        self.app.root()
    }
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
