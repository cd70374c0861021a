//! Key-script tests: keys go through the shipped keymap and the resolver (as the runtime sends
//! them), `update` turns them into state and effects, and the tests read both. Job results and
//! preflight reports arrive as the events the runtime would send. No terminal, no timing.

#![allow(clippy::unwrap_used)]

mod console_fixtures;

use console_fixtures as fx;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use lifeboat::app::config::Config;
use lifeboat::app::event::{AppEvent, Effect, JobOutcome};
use lifeboat::app::inventory_tree::{self, RowKind};
use lifeboat::app::keymap::{KeyResolver, Keymap};
use lifeboat::app::reload::ConsoleSettings;
use lifeboat::app::runtime::translate;
use lifeboat::app::screens::notice::NOTICE_TTL;
use lifeboat::app::state::{AppState, JobKind, JobStatus, Modal, Screen, WizardStep};
use lifeboat::app::update::update;
use lifeboat::jobs::backup::{BackupError, BackupOutcome};
use lifeboat::jobs::drill_record::DrillRecord;
use lifeboat::jobs::progress::JobEvent;
use lifeboat::jobs::verify::{SetReport, VerifyReport};
use lifeboat::storage::journal::VerifyLevel;

/// The console minus the terminal: state, the real keymap and resolver, and every effect.
struct Console {
    state: AppState,
    keymap: Keymap,
    resolver: KeyResolver,
}

impl Console {
    fn new(state: AppState) -> Console {
        Console {
            state,
            keymap: Keymap::default_keymap(),
            resolver: KeyResolver::default(),
        }
    }

    fn on(screen: Screen, state: AppState) -> Console {
        let mut console = Console::new(state);
        console.state.screen = screen;
        console
    }

    /// A terminal event through the runtime's own translation (the filter prompt turns
    /// characters into text; keys resolve through the keymap), then `update`.
    fn terminal(&mut self, event: Event) -> Vec<Effect> {
        match translate(&self.state, &self.keymap, &mut self.resolver, event) {
            Some(e) => self.send(e),
            None => Vec::new(),
        }
    }

    fn key_event(&mut self, event: KeyEvent) -> Vec<Effect> {
        self.terminal(Event::Key(event))
    }

    fn wheel(&mut self, kind: MouseEventKind) -> Vec<Effect> {
        self.terminal(Event::Mouse(MouseEvent {
            kind,
            column: 10,
            row: 5,
            modifiers: KeyModifiers::NONE,
        }))
    }

    fn press(&mut self, code: KeyCode) -> Vec<Effect> {
        let modifiers = match code {
            KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
            KeyCode::BackTab => KeyModifiers::SHIFT,
            _ => KeyModifiers::NONE,
        };
        self.key_event(KeyEvent::new(code, modifiers))
    }

    fn ctrl(&mut self, c: char) -> Vec<Effect> {
        self.key_event(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    /// Characters as typed, one key each; the effects of all of them.
    fn keys(&mut self, typed: &str) -> Vec<Effect> {
        typed
            .chars()
            .flat_map(|c| self.press(KeyCode::Char(c)))
            .collect()
    }

    fn send(&mut self, event: AppEvent) -> Vec<Effect> {
        update(&mut self.state, event)
    }

    fn history_len(&self) -> usize {
        let filter = &self.state.history.filter;
        self.snapshot_history()
            .iter()
            .filter(|r| r.matches(filter))
            .count()
    }

    fn snapshot_history(&self) -> &[lifeboat::app::history::HistoryRow] {
        &self.state.snapshot.as_ref().unwrap().history
    }

    /// The set id of the visible history row at `index`.
    fn history_set(&self, index: usize) -> Option<String> {
        let filter = &self.state.history.filter;
        self.snapshot_history()
            .iter()
            .filter(|r| r.matches(filter))
            .nth(index)
            .and_then(|r| r.set_id.clone())
    }
}

// Screens.

#[test]
fn digits_jump_to_screens() {
    let mut c = Console::new(fx::state());
    for (key, screen) in [
        ('2', Screen::History),
        ('3', Screen::Inventory),
        ('4', Screen::Jobs),
        ('5', Screen::Retention),
        ('6', Screen::Drills),
        ('1', Screen::Dashboard),
    ] {
        assert!(c.keys(&key.to_string()).is_empty());
        assert_eq!(c.state.screen, screen, "after {key}");
    }
}

#[test]
fn tab_and_backtab_cycle_screens_and_wrap() {
    let mut c = Console::new(fx::state());
    let mut seen = vec![c.state.screen];
    for _ in 0..Screen::ALL.len() {
        c.press(KeyCode::Tab);
        seen.push(c.state.screen);
    }
    assert_eq!(&seen[..6], &Screen::ALL[..]);
    assert_eq!(seen[6], Screen::Dashboard, "Tab wraps to the first screen");

    c.press(KeyCode::BackTab);
    assert_eq!(c.state.screen, Screen::Drills, "BackTab wraps to the last");
    c.press(KeyCode::BackTab);
    assert_eq!(c.state.screen, Screen::Retention);
}

// Lists.

#[test]
fn history_cursor_moves_with_vim_keys_and_arrows_within_bounds() {
    let mut c = Console::on(Screen::History, fx::state());
    let last = c.history_len() - 1;
    assert_eq!(last, 5, "six history rows in the fixture");

    c.press(KeyCode::Char('k'));
    assert_eq!(c.state.history.selected, 0, "k stops at the top");
    c.keys("jj");
    assert_eq!(c.state.history.selected, 2);
    c.press(KeyCode::Up);
    assert_eq!(c.state.history.selected, 1);
    c.press(KeyCode::Down);
    assert_eq!(c.state.history.selected, 2);

    c.press(KeyCode::Char('G'));
    assert_eq!(c.state.history.selected, last);
    c.press(KeyCode::Char('j'));
    c.press(KeyCode::Down);
    assert_eq!(c.state.history.selected, last, "j stops at the bottom");

    assert!(c.keys("g").is_empty());
    assert_eq!(c.state.history.selected, last, "one g waits for the second");
    c.keys("g");
    assert_eq!(c.state.history.selected, 0, "g g goes to the top");

    c.press(KeyCode::End);
    assert_eq!(c.state.history.selected, last);
    c.press(KeyCode::Home);
    assert_eq!(c.state.history.selected, 0);

    // At 80x24 a page is longer than the list: PageDown lands on the last row.
    c.press(KeyCode::PageDown);
    assert_eq!(c.state.history.selected, last);
    c.press(KeyCode::PageUp);
    assert_eq!(c.state.history.selected, 0);
}

#[test]
fn page_keys_move_by_the_visible_height() {
    let mut c = Console::on(Screen::History, fx::state());
    c.send(AppEvent::Resize(80, 8));
    let page = c.state.list_height();
    assert_eq!(page, 2);
    c.press(KeyCode::PageDown);
    assert_eq!(c.state.history.selected, page);
    c.ctrl('d');
    assert_eq!(c.state.history.selected, 2 * page);
    c.press(KeyCode::PageDown);
    assert_eq!(c.state.history.selected, 5, "clamped to the last row");
    c.ctrl('u');
    assert_eq!(c.state.history.selected, 5 - page);
}

#[test]
fn g_then_another_key_is_not_a_sequence() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("jjj");
    // `g` then `j`: the pending g is dropped and j moves down as usual.
    c.keys("gj");
    assert_eq!(c.state.history.selected, 4);
}

#[test]
fn mouse_wheel_moves_the_cursor() {
    // One notch is three rows.
    let mut c = Console::on(Screen::History, fx::state());
    c.wheel(MouseEventKind::ScrollDown);
    assert_eq!(c.state.history.selected, 3);
    c.wheel(MouseEventKind::ScrollDown);
    assert_eq!(c.state.history.selected, 5, "clamped at the last row");
    c.wheel(MouseEventKind::ScrollUp);
    assert_eq!(c.state.history.selected, 2);
    c.wheel(MouseEventKind::ScrollUp);
    assert_eq!(c.state.history.selected, 0);

    let mut c = Console::on(Screen::Inventory, fx::state());
    c.send(AppEvent::Scroll(3));
    assert_eq!(c.state.inventory.selected, 3);
    c.send(AppEvent::Scroll(-1));
    assert_eq!(c.state.inventory.selected, 2);
}

// The filter.

#[test]
fn slash_filters_history_as_you_type_and_enter_keeps_it() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("jj");
    c.keys("/");
    assert_eq!(c.state.filter_input.as_deref(), Some(""));

    // Letters that are bindings elsewhere (j, q, v, g) are text while typing.
    assert!(c.keys("fail").is_empty());
    assert_eq!(c.state.filter_input.as_deref(), Some("fail"));
    assert_eq!(c.state.history.filter, "fail");
    assert_eq!(
        c.state.history.selected, 0,
        "the cursor restarts at the top"
    );
    assert_eq!(c.history_len(), 1);
    assert_eq!(c.history_set(0).as_deref(), Some(fx::SET_INCOMPLETE));

    c.press(KeyCode::Backspace);
    c.press(KeyCode::Backspace);
    c.press(KeyCode::Backspace);
    c.press(KeyCode::Backspace);
    assert_eq!(c.history_len(), 6);
    assert!(c.keys("operator").is_empty());
    assert!(
        !c.state.should_quit,
        "q typed into the filter does not quit"
    );
    assert_eq!(c.history_len(), 2, "the failed run and the newest set");

    c.press(KeyCode::Enter);
    assert_eq!(c.state.filter_input, None, "Enter closes the prompt");
    assert_eq!(c.state.history.filter, "operator", "and keeps the filter");
    assert_eq!(c.state.modal, None, "and does not open a row");
    c.keys("j");
    assert_eq!(c.state.history.selected, 1);
    c.keys("j");
    assert_eq!(c.state.history.selected, 1, "bounded by the filtered list");

    // `/` again starts from the kept text; Esc clears it.
    c.keys("/");
    assert_eq!(c.state.filter_input.as_deref(), Some("operator"));
    c.press(KeyCode::Esc);
    assert_eq!(c.state.filter_input, None);
    assert_eq!(c.state.history.filter, "");
    assert_eq!(c.history_len(), 6);
}

#[test]
fn slash_filters_the_inventory_by_set_id() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    c.keys("/20261121");
    assert_eq!(c.state.inventory.filter, "20261121");
    let rows = inventory_tree::rows(&c.state);
    let sets: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.kind, RowKind::Set { .. }))
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(sets, [fx::SET_INCOMPLETE, fx::SET_VERIFIED_DECRYPT]);
    assert_eq!(
        c.state.history.filter, "",
        "the history filter is untouched"
    );
    c.press(KeyCode::Esc);
    assert_eq!(c.state.inventory.filter, "");
}

#[test]
fn filter_does_not_open_on_screens_without_a_list_to_filter() {
    let mut c = Console::new(fx::state());
    c.keys("/");
    assert_eq!(c.state.filter_input, None);
}

// Detail and verification from History.

#[test]
fn enter_opens_the_detail_of_the_selected_row_and_esc_closes_it() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("j");
    c.press(KeyCode::Enter);
    assert_eq!(
        c.state.modal,
        Some(Modal::Detail {
            row: 1,
            started_at: c.snapshot_history()[1].started_at
        })
    );
    assert_eq!(
        c.snapshot_history()[1].set_id.as_deref(),
        Some(fx::SET_NIGHTLY)
    );
    // The cursor does not move under a dialog.
    c.keys("j");
    assert_eq!(c.state.history.selected, 1);
    c.press(KeyCode::Esc);
    assert_eq!(c.state.modal, None);
}

/// A reload that brings a newer run in above the open detail keeps the pane on its run (the
/// periodic reload, or a scheduled backup finishing, must not swap the set under the reader);
/// a run gone from the reloaded history closes it.
#[test]
fn the_detail_pane_follows_its_run_across_a_reload() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("j");
    c.press(KeyCode::Enter);
    let shown = c.history_set(1);
    let mut reloaded = c.state.snapshot.clone().expect("a snapshot");
    let mut newer = reloaded.history[0].clone();
    newer.started_at += chrono::Duration::hours(1);
    newer.set_id = Some("20261122T124500Z-9e9e".into());
    reloaded.history.insert(0, newer);
    c.send(AppEvent::Loaded(Ok(Box::new(reloaded.clone()))));
    let Some(Modal::Detail { row, .. }) = c.state.modal.clone() else {
        panic!("the detail closed: {:?}", c.state.modal)
    };
    assert_eq!(row, 2);
    assert_eq!(c.history_set(row), shown);
    reloaded.history.remove(2);
    c.send(AppEvent::Loaded(Ok(Box::new(reloaded))));
    assert_eq!(c.state.modal, None);
}

#[test]
fn detail_row_is_an_index_into_the_unfiltered_history() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("/failed");
    c.press(KeyCode::Enter);
    c.press(KeyCode::Enter);
    let Some(Modal::Detail { row, .. }) = c.state.modal.clone() else {
        panic!("no detail: {:?}", c.state.modal)
    };
    assert_eq!(c.snapshot_history()[row].status, "failed");
}

#[test]
fn v_verifies_the_selected_set_and_shift_v_decrypts_too() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("j");
    let effects = c.keys("v");
    assert_eq!(
        effects,
        [Effect::StartVerify {
            job: 1,
            set_id: fx::id(fx::SET_NIGHTLY),
            decrypt: false,
        }]
    );
    assert_eq!(
        c.state.jobs[0].kind,
        JobKind::Verify {
            set_id: fx::id(fx::SET_NIGHTLY),
            decrypt: false
        }
    );
    assert!(c.state.jobs[0].status.is_running());

    c.keys("jj");
    assert_eq!(c.history_set(3).as_deref(), Some(fx::SET_VERIFIED_DECRYPT));
    let effects = c.keys("V");
    assert_eq!(
        effects,
        [Effect::StartVerify {
            job: 2,
            set_id: fx::id(fx::SET_VERIFIED_DECRYPT),
            decrypt: true,
        }]
    );
    assert_eq!(
        c.state.screen,
        Screen::History,
        "verifying stays on the list"
    );
}

#[test]
fn v_from_the_detail_pane_verifies_that_set_and_closes_it() {
    let mut c = Console::on(Screen::History, fx::state());
    c.press(KeyCode::Enter);
    let effects = c.keys("V");
    assert_eq!(
        effects,
        [Effect::StartVerify {
            job: 1,
            set_id: fx::id(fx::SET_NEWEST),
            decrypt: true,
        }]
    );
    assert_eq!(c.state.modal, None);
}

#[test]
fn v_on_a_failed_run_without_a_set_does_nothing_but_say_why() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("jj");
    assert_eq!(c.snapshot_history()[2].status, "failed");
    assert!(c.keys("v").is_empty());
    assert!(c.state.jobs.is_empty());
    assert!(c.state.notice.as_deref().unwrap().contains("complete set"));
}

#[test]
fn v_on_the_dashboard_does_nothing_but_say_where() {
    let mut c = Console::new(fx::state());
    assert!(c.keys("v").is_empty());
    assert!(c.state.jobs.is_empty());
    assert!(c.state.notice.is_some());
}

// Inventory.

#[test]
fn v_on_an_incomplete_set_in_the_inventory_only_sets_a_notice() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    c.keys("jj");
    let rows = inventory_tree::rows(&c.state);
    let row = &rows[c.state.inventory.selected];
    assert_eq!(row.set_id.as_deref(), Some(fx::SET_INCOMPLETE));
    assert!(matches!(
        row.kind,
        RowKind::Set {
            complete: false,
            ..
        }
    ));

    assert!(c.keys("v").is_empty());
    assert!(c.keys("V").is_empty());
    assert!(c.state.jobs.is_empty());
    assert_eq!(
        c.state.notice.as_deref(),
        Some("select a complete set on History or Inventory to verify it")
    );
}

#[test]
fn v_on_a_complete_set_in_the_inventory_verifies_it() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    c.keys("jjj");
    assert_eq!(
        c.keys("v"),
        [Effect::StartVerify {
            job: 1,
            set_id: fx::id(fx::SET_VERIFIED_DECRYPT),
            decrypt: false,
        }]
    );
}

#[test]
fn enter_expands_a_set_into_its_objects_and_h_or_esc_collapses_it() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    c.keys("j");
    let before = inventory_tree::rows(&c.state).len();
    c.press(KeyCode::Enter);
    assert!(c.state.expanded.contains(fx::SET_NIGHTLY));
    let rows = inventory_tree::rows(&c.state);
    assert_eq!(rows.len(), before + 4);
    let objects: Vec<&str> = rows
        .iter()
        .filter(|r| r.kind == RowKind::Object)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        objects,
        [
            "db.dump.zst.gpg",
            "files.tar.zst.gpg",
            "checksums.sha256",
            "manifest.json"
        ]
    );
    assert!(rows
        .iter()
        .filter(|r| r.kind == RowKind::Object)
        .all(|r| r.set_id.as_deref() == Some(fx::SET_NIGHTLY)));
    assert!(matches!(rows[1].kind, RowKind::Set { expanded: true, .. }));

    // h on the set row collapses it.
    c.keys("h");
    assert!(c.state.expanded.is_empty());
    assert_eq!(inventory_tree::rows(&c.state).len(), before);

    // Esc from one of its objects collapses it and puts the cursor back on the set.
    c.press(KeyCode::Enter);
    c.keys("jj");
    let rows = inventory_tree::rows(&c.state);
    assert_eq!(rows[c.state.inventory.selected].name, "files.tar.zst.gpg");
    c.press(KeyCode::Esc);
    assert!(c.state.expanded.is_empty());
    assert_eq!(c.state.inventory.selected, 1);

    // Enter on an expanded set collapses it again (it toggles).
    c.press(KeyCode::Enter);
    c.press(KeyCode::Enter);
    assert!(c.state.expanded.is_empty());
}

#[test]
fn enter_on_an_object_or_a_stray_opens_its_detail_and_esc_closes_it() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    c.keys("G");
    let rows = inventory_tree::rows(&c.state);
    let stray = rows[c.state.inventory.selected].clone();
    assert_eq!(stray.kind, RowKind::Stray);
    assert!(c.press(KeyCode::Enter).is_empty());
    assert!(c.state.expanded.is_empty());
    assert_eq!(c.state.modal, Some(Modal::ObjectDetail(Box::new(stray))));
    c.press(KeyCode::Esc);
    assert_eq!(c.state.modal, None);

    // An object of an expanded set: its detail names the set.
    c.keys("gg");
    c.keys("j");
    c.press(KeyCode::Enter);
    c.keys("j");
    c.press(KeyCode::Enter);
    let Some(Modal::ObjectDetail(row)) = &c.state.modal else {
        panic!("no object detail: {:?}", c.state.modal);
    };
    assert_eq!(row.kind, RowKind::Object);
    assert_eq!(row.name, "db.dump.zst.gpg");
    assert_eq!(row.set_id.as_deref(), Some(fx::SET_NIGHTLY));
    // Moving keys leave the detail open (they do not move the list behind it).
    let selected = c.state.inventory.selected;
    assert!(c.keys("j").is_empty());
    assert!(matches!(c.state.modal, Some(Modal::ObjectDetail(_))));
    assert_eq!(c.state.inventory.selected, selected);
}

#[test]
fn enter_on_a_drill_record_opens_its_report_in_inventory_and_on_drills() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    let rows = inventory_tree::rows(&c.state);
    let at = rows
        .iter()
        .position(|r| r.kind == RowKind::Drill)
        .expect("the fixture has a drill record");
    assert_eq!(rows[at].name, fx::DRILL_PATH);
    for _ in 0..at {
        c.keys("j");
    }
    c.press(KeyCode::Enter);
    assert_eq!(
        c.state.modal,
        Some(Modal::DrillReport {
            index: 0,
            scroll: 0
        })
    );
    // The report scrolls with the list keys and closes with Esc.
    c.keys("jj");
    assert_eq!(
        c.state.modal,
        Some(Modal::DrillReport {
            index: 0,
            scroll: 2
        })
    );
    c.press(KeyCode::Esc);
    assert_eq!(c.state.modal, None);

    let mut c = Console::on(Screen::Drills, fx::state());
    c.press(KeyCode::Enter);
    assert_eq!(
        c.state.modal,
        Some(Modal::DrillReport {
            index: 0,
            scroll: 0
        })
    );
    c.press(KeyCode::Enter);
    assert_eq!(c.state.modal, None);
    // While a drill runs the cursor is on its checklist: Enter opens no old report.
    c.keys("d");
    assert!(c.state.running_drill().is_some());
    c.press(KeyCode::Enter);
    assert_eq!(c.state.modal, None);
}

#[test]
fn the_inventory_filter_matches_object_names_and_shows_those_objects() {
    let mut c = Console::on(Screen::Inventory, fx::state());
    c.keys("/dump");
    c.press(KeyCode::Enter);
    let rows = inventory_tree::rows(&c.state);
    assert!(!rows.is_empty(), "object names are matched");
    let objects: Vec<_> = rows.iter().filter(|r| r.kind == RowKind::Object).collect();
    assert!(!objects.is_empty());
    // Only the matching objects, each under its own set's row, which shows as open.
    assert!(
        objects.iter().all(|r| r.name.contains("dump")),
        "{objects:?}"
    );
    for (i, r) in rows.iter().enumerate() {
        if let RowKind::Set { expanded, .. } = r.kind {
            assert!(expanded, "{r:?}");
            assert_eq!(rows[i + 1].kind, RowKind::Object, "{r:?} shows its match");
        }
    }
    // A set id still matches as before: the set alone, closed.
    c.keys("/");
    for _ in 0..4 {
        c.press(KeyCode::Backspace);
    }
    c.keys("8c21");
    c.press(KeyCode::Enter);
    let rows = inventory_tree::rows(&c.state);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(matches!(
        rows[0].kind,
        RowKind::Set {
            expanded: false,
            ..
        }
    ));
    // Nothing matches: no rows (the screen says so, see console_render).
    c.keys("/zzz-nothing");
    c.press(KeyCode::Enter);
    assert!(inventory_tree::rows(&c.state).is_empty());
}

// The guided backup.

#[test]
fn b_opens_the_wizard_and_asks_for_a_preflight() {
    let mut c = Console::new(fx::state());
    assert_eq!(c.keys("b"), [Effect::Preflight]);
    assert_eq!(c.state.modal, Some(Modal::Wizard(WizardStep::Checking)));
    // Enter while checking does nothing.
    assert!(c.press(KeyCode::Enter).is_empty());
    assert_eq!(c.state.modal, Some(Modal::Wizard(WizardStep::Checking)));
}

#[test]
fn a_failing_preflight_keeps_enter_from_starting() {
    let mut c = Console::new(fx::state());
    c.keys("b");
    c.send(AppEvent::Preflight(Box::new(fx::preflight_failing())));
    assert_eq!(
        c.state.modal,
        Some(Modal::Wizard(WizardStep::Ready {
            report: Box::new(fx::preflight_failing()),
            scroll: 0,
        }))
    );
    assert!(c.press(KeyCode::Enter).is_empty());
    assert!(c.keys("y").is_empty());
    assert!(c.state.jobs.is_empty());
    assert!(matches!(c.state.modal, Some(Modal::Wizard(_))));
    assert!(c
        .state
        .notice
        .as_deref()
        .unwrap()
        .contains("preflight failed"));
    c.press(KeyCode::Esc);
    assert_eq!(c.state.modal, None);
}

#[test]
fn an_ok_preflight_and_enter_start_the_backup_and_show_jobs() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("b");
    c.send(AppEvent::Preflight(Box::new(fx::preflight_ok())));
    let effects = c.press(KeyCode::Enter);
    assert_eq!(effects, [Effect::StartBackup { job: 1 }]);
    assert_eq!(c.state.modal, None);
    assert_eq!(c.state.screen, Screen::Jobs);
    assert_eq!(c.state.jobs.len(), 1);
    assert_eq!(c.state.jobs[0].kind, JobKind::Backup);
    assert!(c.state.jobs[0].status.is_running());
    assert_eq!(c.state.jobs[0].started_at, fx::now());

    // A second b while it runs does not open another wizard.
    assert!(c.keys("b").is_empty());
    assert_eq!(c.state.modal, None);
    assert!(c
        .state
        .notice
        .as_deref()
        .unwrap()
        .contains("already running"));
}

#[test]
fn a_late_preflight_after_esc_is_ignored() {
    let mut c = Console::new(fx::state());
    c.keys("b");
    c.press(KeyCode::Esc);
    c.send(AppEvent::Preflight(Box::new(fx::preflight_ok())));
    assert_eq!(c.state.modal, None);
}

/// Starts a backup through the wizard; returns its job id.
/// A backup that completed set `set`.
fn backed_up(set: &str) -> JobOutcome {
    JobOutcome::Backup(Box::new(Ok(BackupOutcome {
        set_id: Some(fx::id(set)),
        manifest: None,
        resumed: Vec::new(),
        checksums_sha256: None,
        warnings: Vec::new(),
    })))
}

fn start_backup(c: &mut Console) -> u64 {
    c.keys("b");
    c.send(AppEvent::Preflight(Box::new(fx::preflight_ok())));
    match c.press(KeyCode::Enter).as_slice() {
        [Effect::StartBackup { job }] => *job,
        other => panic!("no backup started: {other:?}"),
    }
}

#[test]
fn job_events_update_the_job() {
    let mut c = Console::new(fx::state());
    let id = start_backup(&mut c);
    c.send(AppEvent::Job {
        id,
        event: JobEvent::Phase("backup".into()),
    });
    c.send(AppEvent::Job {
        id,
        event: JobEvent::Progress(fx::backup_progress()),
    });
    c.send(AppEvent::Job {
        id,
        event: JobEvent::Log("database app (1180696576 bytes, 48 tables)".into()),
    });
    c.send(AppEvent::Job {
        id,
        event: JobEvent::Warning("took over a stale lock".into()),
    });
    // Events for a job that does not exist are dropped.
    c.send(AppEvent::Job {
        id: 99,
        event: JobEvent::Phase("ghost".into()),
    });
    let job = c.state.job(id).unwrap();
    assert_eq!(job.phase, "backup");
    assert_eq!(job.progress, Some(fx::backup_progress()));
    assert_eq!(
        job.log.iter().collect::<Vec<_>>(),
        [
            "== backup",
            "database app (1180696576 bytes, 48 tables)",
            "! took over a stale lock"
        ]
    );
    assert!(job.status.is_running());
    assert_eq!(c.state.running_jobs(), 1);
}

#[test]
fn a_finished_backup_offers_verification_and_y_verifies_that_set() {
    let mut c = Console::new(fx::state());
    let id = start_backup(&mut c);
    c.send(AppEvent::Tick(fx::at("2026-11-22T12:04:40Z")));
    let set = "20261122T120000Z-d00d";
    let effects = c.send(AppEvent::JobDone {
        id,
        outcome: backed_up(set),
    });
    assert_eq!(effects, [Effect::Load], "the repository is reloaded");
    let job = c.state.job(id).unwrap();
    assert_eq!(
        job.status,
        JobStatus::Succeeded(format!("set {set} complete"))
    );
    assert_eq!(job.set_id, Some(fx::id(set)));
    assert_eq!(job.finished_at, Some(fx::at("2026-11-22T12:04:40Z")));
    assert_eq!(
        c.state.modal,
        Some(Modal::OfferVerify {
            set_id: fx::id(set)
        })
    );
    assert_eq!(c.state.running_jobs(), 0);

    let effects = c.keys("y");
    assert_eq!(
        effects,
        [Effect::StartVerify {
            job: id + 1,
            set_id: fx::id(set),
            decrypt: false,
        }]
    );
    assert_eq!(c.state.modal, None);
    assert_eq!(
        c.state.jobs[0].kind,
        JobKind::Verify {
            set_id: fx::id(set),
            decrypt: false
        }
    );
}

#[test]
fn n_declines_the_offer_to_verify() {
    let mut c = Console::new(fx::state());
    let id = start_backup(&mut c);
    c.send(AppEvent::JobDone {
        id,
        outcome: backed_up(fx::SET_NEWEST),
    });
    assert!(c.keys("n").is_empty());
    assert_eq!(c.state.modal, None);
    assert_eq!(c.state.jobs.len(), 1);
}

#[test]
fn a_failed_job_is_marked_and_said_but_offers_nothing() {
    let mut c = Console::new(fx::state());
    let id = start_backup(&mut c);
    let effects = c.send(AppEvent::JobDone {
        id,
        outcome: JobOutcome::Backup(Box::new(Err(BackupError::Config(
            fx::FAILED_RUN_ERROR.into(),
        )))),
    });
    assert_eq!(effects, [Effect::Load]);
    let job = c.state.job(id).unwrap();
    assert_eq!(job.status, JobStatus::Failed(fx::FAILED_RUN_ERROR.into()));
    assert_eq!(
        job.log.back().map(String::as_str),
        Some(format!("✗ {}", fx::FAILED_RUN_ERROR).as_str())
    );
    assert_eq!(c.state.modal, None);
    assert!(c.state.notice.as_deref().unwrap().starts_with('✗'));
}

#[test]
fn a_finished_verification_offers_nothing() {
    let mut c = Console::on(Screen::History, fx::state());
    let job = match c.keys("v").as_slice() {
        [Effect::StartVerify { job, .. }] => *job,
        other => panic!("no verify started: {other:?}"),
    };
    c.send(AppEvent::JobDone {
        id: job,
        outcome: JobOutcome::Verify {
            set_id: fx::id(fx::SET_NEWEST),
            result: Box::new(Ok(VerifyReport {
                repository: "file:///repo".into(),
                sets: vec![SetReport {
                    set_id: fx::SET_NEWEST.into(),
                    level: VerifyLevel::Stored,
                    ok: true,
                    objects: Vec::new(),
                    problems: Vec::new(),
                    notes: Vec::new(),
                }],
            })),
        },
    });
    let done = &c.state.job(job).unwrap().status;
    assert!(
        matches!(done, JobStatus::Succeeded(text) if text.contains("every object matches")),
        "{done:?}"
    );
    assert_eq!(c.state.modal, None);
}

// Quitting and cancelling.

#[test]
fn q_with_no_job_running_quits() {
    let mut c = Console::new(fx::state());
    assert_eq!(c.keys("q"), [Effect::Quit]);
    assert!(c.state.should_quit);
}

#[test]
fn q_with_a_finished_job_quits_without_asking() {
    let mut c = Console::new(fx::state());
    let id = start_backup(&mut c);
    c.send(AppEvent::JobDone {
        id,
        outcome: JobOutcome::NotStarted("x".into()),
    });
    assert_eq!(c.keys("q"), [Effect::Quit]);
}

#[test]
fn q_while_a_job_runs_asks_and_n_stays() {
    let mut c = Console::on(Screen::Jobs, fx::with_jobs(fx::state()));
    assert!(c.keys("q").is_empty());
    assert_eq!(c.state.modal, Some(Modal::ConfirmQuit));
    assert!(!c.state.should_quit);
    assert!(c.keys("n").is_empty());
    assert_eq!(c.state.modal, None);
    assert!(!c.state.should_quit);

    c.keys("q");
    c.press(KeyCode::Esc);
    assert_eq!(c.state.modal, None, "Esc also stays");
    assert!(!c.state.should_quit);
}

#[test]
fn q_while_a_job_runs_then_y_cancels_it_and_quits() {
    let mut c = Console::on(Screen::Jobs, fx::with_jobs(fx::state()));
    c.keys("q");
    assert_eq!(
        c.keys("y"),
        [Effect::CancelJob { job: 3 }, Effect::Quit],
        "only the running job is cancelled"
    );
    assert!(c.state.should_quit);
}

#[test]
fn ctrl_c_in_the_filter_prompt_quits() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("/fa");
    assert_eq!(c.ctrl('c'), [Effect::Quit]);
    assert!(c.state.should_quit);
    assert_eq!(c.state.filter_input, None);
}

#[test]
fn ctrl_c_in_the_filter_prompt_asks_while_a_job_runs() {
    let mut c = Console::on(Screen::History, fx::with_jobs(fx::state()));
    c.keys("/fa");
    assert!(c.ctrl('c').is_empty());
    assert_eq!(c.state.modal, Some(Modal::ConfirmQuit));
    assert_eq!(
        c.state.filter_input, None,
        "the prompt is closed under the dialog"
    );
    // A second ctrl-c answers yes.
    assert_eq!(c.ctrl('c'), [Effect::CancelJob { job: 3 }, Effect::Quit]);
}

#[test]
fn ctrl_c_in_a_dialog_quits_or_asks() {
    let mut c = Console::on(Screen::History, fx::state());
    c.press(KeyCode::Enter);
    assert!(matches!(c.state.modal, Some(Modal::Detail { .. })));
    assert_eq!(c.ctrl('c'), [Effect::Quit]);

    let mut c = Console::new(fx::with_jobs(fx::state()));
    c.keys("?");
    assert!(c.ctrl('c').is_empty());
    assert_eq!(c.state.modal, Some(Modal::ConfirmQuit));
    c.keys("y");
    assert!(c.state.should_quit);

    let mut c = Console::new(fx::state());
    c.keys("b");
    assert_eq!(c.ctrl('c'), [Effect::Quit], "from the wizard too");
}

#[test]
fn x_on_jobs_asks_then_y_cancels_the_selected_job() {
    let mut c = Console::on(Screen::Jobs, fx::with_jobs(fx::state()));
    assert!(c.keys("x").is_empty());
    assert_eq!(c.state.modal, Some(Modal::ConfirmCancel { job: 3 }));
    assert_eq!(c.keys("y"), [Effect::CancelJob { job: 3 }]);
    assert_eq!(c.state.modal, None);
    assert_eq!(
        c.state.job(3).unwrap().log.back().map(String::as_str),
        Some("cancelling…")
    );
    // Cancelling is asked for, not done: the job runs until its result arrives.
    assert!(c.state.job(3).unwrap().status.is_running());
    c.send(AppEvent::JobDone {
        id: 3,
        outcome: JobOutcome::Backup(Box::new(Err(BackupError::Cancelled))),
    });
    assert_eq!(
        c.state.job(3).unwrap().status,
        JobStatus::Cancelled(BackupError::Cancelled.to_string())
    );
    assert_eq!(c.state.modal, None, "a cancelled backup offers nothing");
}

#[test]
fn x_then_n_keeps_the_job() {
    let mut c = Console::on(Screen::Jobs, fx::with_jobs(fx::state()));
    c.keys("x");
    assert!(c.keys("n").is_empty());
    assert_eq!(c.state.modal, None);
}

#[test]
fn x_on_a_finished_job_or_another_screen_does_nothing() {
    let mut c = Console::on(Screen::Jobs, fx::with_jobs(fx::state()));
    c.keys("j");
    assert_eq!(c.state.selected_job, 1);
    assert!(!c.state.jobs[1].status.is_running());
    assert!(c.keys("x").is_empty());
    assert_eq!(c.state.modal, None);

    let mut c = Console::on(Screen::History, fx::with_jobs(fx::state()));
    assert!(c.keys("x").is_empty());
    assert_eq!(c.state.modal, None);
}

#[test]
fn jobs_cursor_is_bounded() {
    let mut c = Console::on(Screen::Jobs, fx::with_jobs(fx::state()));
    c.keys("jjjjj");
    assert_eq!(c.state.selected_job, 2);
    c.keys("gg");
    assert_eq!(c.state.selected_job, 0);
}

// Help.

#[test]
fn question_mark_toggles_help() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("?");
    assert_eq!(c.state.modal, Some(Modal::Help { scroll: 0 }));
    // Keys under the help do not act on the screen.
    c.keys("j2");
    assert_eq!(c.state.history.selected, 0);
    assert_eq!(c.state.screen, Screen::History);
    c.keys("?");
    assert_eq!(c.state.modal, None);
    c.keys("?");
    c.press(KeyCode::Esc);
    assert_eq!(c.state.modal, None, "Esc closes it too");
    c.keys("?");
    assert!(
        c.keys("q").is_empty(),
        "q closes the help, it does not quit"
    );
    assert_eq!(c.state.modal, None);
    assert!(!c.state.should_quit);
}

// Reloads.

#[test]
fn a_reload_keeps_the_cursor_within_the_new_list() {
    let mut c = Console::on(Screen::History, fx::state());
    c.keys("G");
    assert_eq!(c.state.history.selected, 5);
    // R reads the config again first; the repository reload follows its answer.
    assert_eq!(c.keys("R"), [Effect::ReloadConfig]);
    assert!(c.state.loading);
    let settings = ConsoleSettings {
        repository: fx::REPO.into(),
        config_path: fx::CONFIG.into(),
        policy: c.state.retention.policy.clone(),
        drill: Some(c.state.drill_settings.clone()),
    };
    assert_eq!(
        c.send(AppEvent::ConfigReloaded(Ok(Box::new(settings)))),
        [Effect::Load]
    );
    let empty = fx::empty_state().snapshot.unwrap();
    c.send(AppEvent::Loaded(Ok(Box::new(empty))));
    assert!(!c.state.loading);
    assert_eq!(c.state.history.selected, 0);
    c.keys("jk");
    assert_eq!(c.state.history.selected, 0);
}

#[test]
fn a_failed_reload_keeps_the_last_snapshot() {
    let mut c = Console::new(fx::state());
    c.keys("R");
    c.send(AppEvent::Loaded(Err(fx::LOAD_ERROR.into())));
    assert!(c.state.snapshot.is_some());
    assert_eq!(c.state.load_error.as_deref(), Some(fx::LOAD_ERROR));
}

// The first load's preview.

#[test]
fn a_preview_fills_the_dashboard_until_the_full_load_replaces_it() {
    let preview = fx::preview_state().preview.unwrap();
    let mut c = Console::new(fx::load_error_state());
    c.state.load_error = None;
    c.state.loading = true;
    assert!(c.send(AppEvent::Previewed(Box::new(preview))).is_empty());
    assert!(c.state.preview.is_some(), "the preview is kept");
    assert!(c.state.loading, "a preview does not end the load");
    assert!(c.state.snapshot.is_none());
    // Keys that need the full load still find nothing to act on.
    c.keys("2");
    assert!(c.keys("v").is_empty(), "no history row to verify yet");
    let full = fx::state().snapshot.unwrap();
    c.send(AppEvent::Loaded(Ok(Box::new(full))));
    assert!(
        c.state.preview.is_none(),
        "the full load replaces the preview"
    );
    assert!(c.state.snapshot.is_some());
    assert!(!c.state.loading);
}

#[test]
fn a_preview_never_stands_beside_a_snapshot() {
    let preview = fx::preview_state().preview.unwrap();
    let mut c = Console::new(fx::empty_state());
    c.send(AppEvent::Previewed(Box::new(preview)));
    assert!(
        c.state.preview.is_none(),
        "a snapshot, even an older one, says more than a preview"
    );
}

#[test]
fn a_failed_full_load_takes_the_preview_away() {
    let mut c = Console::new(fx::preview_state());
    c.send(AppEvent::Loaded(Err(fx::LOAD_ERROR.into())));
    assert!(
        c.state.preview.is_none(),
        "nothing may stand on a partial view"
    );
    assert_eq!(c.state.load_error.as_deref(), Some(fx::LOAD_ERROR));
    assert!(!c.state.loading);
}

// Notices: they expire, and a job's notice goes when the next job starts.

fn start_drill(c: &mut Console) -> u64 {
    c.state.screen = Screen::Drills;
    let effects = c.keys("d");
    let [Effect::StartDrill { job, .. }] = effects.as_slice() else {
        panic!("no drill started: {effects:?}");
    };
    *job
}

#[test]
fn a_cancelled_drill_does_not_leave_the_last_drills_pass_in_the_status_bar() {
    let mut c = Console::new(fx::state());
    let first = start_drill(&mut c);
    c.send(AppEvent::JobDone {
        id: first,
        outcome: JobOutcome::Drill(Box::new(Ok(fx::drill_record()))),
    });
    let passed = c.state.notice.clone().unwrap_or_default();
    assert!(passed.starts_with("✓ drill passed"), "{passed}");
    let second = start_drill(&mut c);
    assert_eq!(
        c.state.notice, None,
        "the first drill's result is not the second's"
    );
    c.send(AppEvent::JobDone {
        id: second,
        outcome: JobOutcome::Drill(Box::new(Ok(DrillRecord {
            cancelled: true,
            passed: false,
            ..fx::drill_record()
        }))),
    });
    let notice = c.state.notice.clone().unwrap_or_default();
    assert!(
        notice.starts_with('✗') && notice.contains("cancelled"),
        "{notice}"
    );
    assert!(!notice.contains("passed"), "{notice}");
    // Said once each, by the exact words: the footer names the job, its log says why.
    let job = c.state.jobs.iter().find(|j| j.id == second).unwrap();
    assert_eq!(notice, format!("✗ {} cancelled", job.title()));
    assert_eq!(
        job.log.back().map(String::as_str),
        Some("✗ drill cancelled (no verdict: the last completed drill counts)")
    );
}

#[test]
fn notices_expire_after_their_time_and_not_before() {
    let mut c = Console::new(fx::state());
    let t0 = c.state.now;
    c.keys("v");
    let said = c.state.notice.clone();
    assert!(said.is_some());
    c.send(AppEvent::Tick(
        t0 + NOTICE_TTL - chrono::TimeDelta::seconds(1),
    ));
    assert_eq!(c.state.notice, said, "still fresh");
    c.send(AppEvent::Tick(t0 + NOTICE_TTL));
    assert_eq!(c.state.notice, None, "expired");

    // A notice set from outside `say` starts its clock at the next tick.
    c.state.notice = Some("from elsewhere".into());
    let t1 = t0 + NOTICE_TTL * 3;
    c.send(AppEvent::Tick(t1));
    assert!(c.state.notice.is_some());
    c.send(AppEvent::Tick(t1 + NOTICE_TTL));
    assert_eq!(c.state.notice, None);
}

#[test]
fn notices_name_the_keys_the_keymap_binds() {
    let mut c = Console::new(fx::state());
    // Rebind Retention to 9 and drills to D: the notices follow.
    let text = lifeboat::app::keymap::DEFAULT_KEYMAP
        .replace("keys = [\"5\"]", "keys = [\"9\"]")
        .replace("keys = [\"d\"]", "keys = [\"D\"]");
    c.state.keymap = Keymap::parse(&text).unwrap();
    c.keys("p");
    assert_eq!(
        c.state.notice.as_deref(),
        Some("that key works on the Retention screen (9)")
    );
    c.keys("t");
    assert_eq!(
        c.state.notice.as_deref(),
        Some("no drill is running: D starts one")
    );
}

// R reloads the configuration as well as the repository.

#[test]
fn a_reloaded_config_changes_what_the_console_shows_and_a_bad_one_is_kept_out() {
    let mut c = Console::on(Screen::Retention, fx::state());
    let before = c.state.drill_settings.clone();
    assert_eq!(c.keys("R"), [Effect::ReloadConfig]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let text = format!(
        "[source]\n[repository]\nurl = \"file://{}\"\n[encryption]\nmode = \"none\"\n\
         [retention]\nkeep_last = 3\n[drill]\nrto_target = \"5m\"\nrpo_target = \"1h\"\n",
        dir.path().display()
    );
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    let settings = ConsoleSettings::from_config(&config);
    assert!(settings.policy.is_ok(), "{:?}", settings.policy);
    let effects = c.send(AppEvent::ConfigReloaded(Ok(Box::new(settings))));
    // The repository reloads, and Retention's preview under the new policy.
    assert_eq!(effects, [Effect::Load, Effect::LoadRetention]);
    assert!(c.state.retention.policy.is_ok());
    assert_eq!(c.state.drill_settings.rto_target_seconds, 300.0);
    assert_ne!(c.state.drill_settings, before);
    assert_eq!(c.state.config_path, path.display().to_string());
    assert!(c.state.notice.as_deref().unwrap().contains("reloaded"));

    // A config that no longer parses: said, and what the console had stays.
    let kept = c.state.drill_settings.clone();
    c.keys("R");
    let effects = c.send(AppEvent::ConfigReloaded(Err("config.toml: bad".into())));
    assert_eq!(effects, [Effect::Load]);
    assert_eq!(c.state.drill_settings, kept);
    assert!(c.state.notice.as_deref().unwrap().starts_with('✗'));
}
