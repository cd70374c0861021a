//! The console when several applications are configured: the fleet screen first, and on
//! Enter the chosen application's own console (loaded with its file and its directories) on
//! the same terminal; the back key on that console's dashboard returns here, and the fleet
//! is evaluated again. Keys go through the keymap, as in every screen.

use super::apps::AppEntry;
use super::fleet;
use super::keymap::{KeyResolver, Keymap};
use super::runtime::{Console, ConsoleEnd, Draw};
use super::screens::fleet::{on_action, on_loaded, FleetEffect, FleetState};
use super::tui::Tui;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;

/// How the fleet screen is drawn: `ui::fleet::render`, handed in by the binary like [`Draw`].
pub type DrawFleet = fn(&mut ratatui::Frame, &FleetState, &Keymap);

/// The rows, evaluated in a task so keys keep working while a slow repository answers.
fn load(apps: &[AppEntry]) -> tokio::task::JoinHandle<Vec<fleet::FleetRow>> {
    let apps = apps.to_vec();
    tokio::spawn(async move {
        fleet::evaluate(&apps)
            .await
            .into_iter()
            .map(|(row, _)| row)
            .collect()
    })
}

pub async fn run_fleet(
    apps: Vec<AppEntry>,
    config_dir: String,
    no_color: bool,
    draw: Draw,
    draw_fleet: DrawFleet,
) -> std::io::Result<()> {
    let keymap = super::keymap_overrides::load(super::keymap_overrides::default_path().as_deref())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let names = apps.iter().map(|a| a.name.clone()).collect();
    let mut state = FleetState::new(names, config_dir, Utc::now());
    state.no_color = no_color;
    let mut tui = Tui::enter()?;
    let mut loading = Some(load(&apps));
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let mut resolver = KeyResolver::default();
        let mut input = EventStream::new();
        let opened = loop {
            tui.terminal.draw(|f| draw_fleet(f, &state, &keymap))?;
            let action = tokio::select! {
                maybe = input.next() => match maybe {
                    Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        resolver.resolve(&keymap, &key)
                    }
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
                rows = async { loading.as_mut().expect("guarded by the select condition").await }, if loading.is_some() => {
                    loading = None;
                    match rows {
                        Ok(rows) => on_loaded(&mut state, rows),
                        // A panicking evaluation keeps the rows already shown; R tries again.
                        Err(_) => state.loading = false,
                    }
                    None
                }
                _ = tick.tick() => {
                    state.now = Utc::now();
                    None
                }
            };
            match action.map(|a| on_action(&mut state, a)) {
                Some(FleetEffect::Quit) => return Ok(()),
                Some(FleetEffect::Reload) if loading.is_none() => loading = Some(load(&apps)),
                Some(FleetEffect::Open(i)) => break i,
                _ => {}
            }
        };
        // The event stream is dropped while the application's console reads the terminal.
        drop(input);
        state.open = None;
        let Some(app) = apps.get(opened) else {
            continue;
        };
        // A broken file stays on the fleet screen, where its row shows the error.
        if let Ok(config) = app.load() {
            let console = Console {
                config,
                paths: app.paths.clone(),
                no_color,
                draw,
                keymap: keymap.clone(),
                from_fleet: Some(app.name.clone()),
            };
            let (end, pending) = console.run(&mut tui).await?;
            if end == ConsoleEnd::Quit {
                drop(tui);
                pending.finish().await;
                return Ok(());
            }
            // Back to the fleet is refused while a job runs: nothing is left to wait for.
            pending.finish().await;
        }
        // No `terminal.clear()`: it asks the terminal for the cursor position, which races the
        // input reader; the next frame is diffed against the console's last one, which is
        // what the screen shows.
        state.now = Utc::now();
        if loading.is_none() {
            state.loading = true;
            loading = Some(load(&apps));
        }
    }
}
