//! `lifeboat config example` (the commented example configuration) and `lifeboat config
//! check` (the file, then what it names on this host).

use super::args::ConfigAction;
use crate::app::config;
use crate::app::config_check;
use crate::app::exit;

pub fn run(action: ConfigAction, config: impl FnOnce() -> Result<config::Config, i32>) -> i32 {
    match action {
        ConfigAction::Example => {
            print!("{}", config::EXAMPLE_CONFIG);
            exit::OK
        }
        ConfigAction::Check => match config() {
            Ok(c) => {
                let findings = config_check::findings(&c);
                for f in &findings {
                    let mark = if f.fails { "✗" } else { "!" };
                    eprintln!("{mark} {}", f.text);
                }
                if findings.iter().any(|f| f.fails) {
                    eprintln!(
                        "lifeboat: {}: the configuration cannot work on this host (above)",
                        c.path.display()
                    );
                    exit::CONFIG
                } else {
                    println!("{}: ok", c.path.display());
                    exit::OK
                }
            }
            Err(code) => code,
        },
    }
}
