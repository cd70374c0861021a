//! The bare host's "Recover from a repository" screen drawn into ratatui's `TestBackend` from
//! fixed states (fixed clock, no I/O), without colour, at 80x24: the form (a field being
//! typed, the passphrase never asked for), the remote inventory, the plan with the worker's
//! line and the typed confirmation kept in view, and the runbook: running headless with the
//! running step's timer ticking, stopped ("press r"), finished. Snapshots in
//! `tests/snapshots/`.

#![allow(clippy::unwrap_used)]

mod console_fixtures;

use chrono::{DateTime, Duration, Utc};
use lifeboat::app::action::Action;
use lifeboat::app::keymap::Keymap;
use lifeboat::app::screens::recover::{
    on_action, on_char, on_plan_loaded, on_sets_loaded, on_started, PlanView, RecoverState, RunView,
};
use lifeboat::app::view::{RecoverStage, StepState, Worker};
use lifeboat::jobs::recover::{KeySource, RecoverSpec, RemoteSet, RepoArgs, Runbook, TargetChoice};
use lifeboat::storage::setid::SetId;
use lifeboat::ui;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn now() -> DateTime<Utc> {
    "2026-12-05T09:00:00Z".parse().unwrap()
}

fn render(state: &RecoverState) -> String {
    let keymap = Keymap::default_keymap();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| ui::recover::render(frame, state, &keymap))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..24 {
        let line: String = (0..80).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn line_of<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle}:\n{screen}"))
}

fn typed(state: &mut RecoverState, text: &str) {
    for c in text.chars() {
        on_char(state, c);
    }
}

/// The form filled as an operator would: URL, endpoint, passphrase file.
fn filled() -> RecoverState {
    let mut s = RecoverState::new(now(), "/var/lib/postgresql/lifeboat-recovered".into());
    s.no_color = true;
    on_action(&mut s, Action::Open);
    typed(&mut s, "s3://backups/shop");
    on_action(&mut s, Action::Open);
    on_action(&mut s, Action::Open);
    typed(&mut s, "https://s3.eu-central-003.backblazeb2.com");
    on_action(&mut s, Action::Open);
    for _ in 0..3 {
        on_action(&mut s, Action::Down);
    }
    on_action(&mut s, Action::Open);
    typed(&mut s, "/root/kit/passphrase");
    s
}

fn sets() -> Vec<RemoteSet> {
    (0..3)
        .map(|i| RemoteSet {
            id: SetId::parse(&format!("20261205T0{}0000.000Z-a1b{i}", 8 - i)).unwrap(),
            started_at: now() - Duration::hours(1 + i as i64),
            stored_bytes: 1_234_567_890 - i as u64 * 1000,
            verified: i != 0,
        })
        .collect()
}

fn spec() -> RecoverSpec {
    RecoverSpec {
        repository: RepoArgs {
            url: "s3://backups/shop".into(),
            ..Default::default()
        },
        secrets_repository: None,
        key: KeySource::PassphraseFile("/root/kit/passphrase".into()),
        set: None,
        target: TargetChoice::NewCluster("/var/lib/postgresql/lifeboat-recovered".into()),
        files_prefix: None,
        config_out: "/root/.config/lifeboat/config.toml".into(),
        pg_bin_dir: None,
        jobs: 2,
        create_roles: false,
        post_restore: Vec::new(),
        health: None,
        freshness_query: None,
        manual: Vec::new(),
        rehearse: false,
    }
}

/// A runbook with fetch..create target done and pg_restore started 12.5 s before `now`.
fn book() -> Runbook {
    let mut b = Runbook::new(
        "20261205T085800.000Z-0c1d".into(),
        spec(),
        SetId::parse("20261205T070000.000Z-a1b1").unwrap(),
        "shop".into(),
        "postgresql://postgres@/shop?host=%2Fvar%2Frun%2Fpostgresql".into(),
    );
    b.started_at = now() - Duration::seconds(60);
    for (i, secs) in [(0, 20.1), (1, 9.4), (2, 4.0)] {
        let s = &mut b.steps[i];
        s.state = StepState::Done;
        s.seconds = Some(secs);
        s.attempts = 1;
    }
    b.steps[0].detail = "3 objects, 1.1 GiB, hashes match the manifest".into();
    b.steps[3].state = StepState::Running;
    b.steps[3].started_at = Some(now() - Duration::milliseconds(12_500));
    b.steps[3].attempts = 1;
    b
}

fn watching(worker: Worker) -> RecoverState {
    let mut s = RecoverState::new(now(), String::new());
    s.no_color = true;
    let b = book();
    on_started(
        &mut s,
        RunView {
            id: b.id.clone(),
            runbook_path: "/root/.local/state/lifeboat/recoveries/r.json".into(),
            log: "/root/.local/state/lifeboat/recoveries/20261205T085800.000Z-0c1d.log".into(),
            book: Some(b),
            worker,
            exited: None,
            log_tail: vec!["lifeboat: recover: cancelled during `pg_restore`".into()],
            command: String::new(),
            child_alive: false,
        },
    );
    s
}

#[test]
fn the_form_asks_for_the_key_files_path_never_the_passphrase() {
    let s = filled();
    let screen = render(&s);
    assert!(
        line_of(&screen, "Repository URL").contains("s3://backups/shop"),
        "{screen}"
    );
    assert!(screen.contains("/root/kit/passphrase▏"), "{screen}");
    assert!(screen.contains("never asked for"), "{screen}");
    // Typing: q goes into the field, so the hints say how to leave it.
    assert!(screen.contains("Esc done"), "{screen}");
    insta::assert_snapshot!("recover_form_80x24", screen);
}

#[test]
fn the_inventory_lists_sets_newest_first_with_age_size_and_verification() {
    let mut s = filled();
    on_action(&mut s, Action::Open);
    assert_eq!(
        on_action(&mut s, Action::Open),
        lifeboat::app::screens::recover::RecoverEffect::ListSets(vec![
            "recover".into(),
            "--repository".into(),
            "s3://backups/shop".into(),
            "--endpoint".into(),
            "https://s3.eu-central-003.backblazeb2.com".into(),
            "--passphrase-file".into(),
            "/root/kit/passphrase".into(),
        ])
    );
    on_sets_loaded(&mut s, Ok(sets()));
    let screen = render(&s);
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("20261205T0"))
        .collect();
    assert_eq!(rows.len(), 3, "{screen}");
    assert!(
        rows[0].contains("08000") && rows[0].contains("not verified"),
        "{screen}"
    );
    assert!(
        rows[1].contains("✓ verified") && rows[1].contains("1.1 GiB"),
        "{screen}"
    );
    insta::assert_snapshot!("recover_sets_80x24", screen);

    // An error reads in words naming the fix.
    on_sets_loaded(
        &mut s,
        Err("no complete set in s3://backups/shop to recover from".into()),
    );
    let screen = render(&s);
    assert!(
        screen.contains("check the URL's bucket and prefix") && screen.contains("R to list"),
        "{screen}"
    );
}

#[test]
fn the_plan_keeps_the_workers_line_and_the_typed_confirmation_in_view() {
    let mut s = filled();
    on_action(&mut s, Action::Open);
    on_action(&mut s, Action::Open);
    on_sets_loaded(&mut s, Ok(sets()));
    on_action(&mut s, Action::Down);
    on_action(&mut s, Action::Open);
    assert_eq!(s.stage, RecoverStage::Target);
    for _ in 0..3 {
        on_action(&mut s, Action::Down);
    }
    on_action(&mut s, Action::Open);
    let text: String = (0..25)
        .map(|i| format!("  line {i} of a long plan\n"))
        .collect();
    on_plan_loaded(
        &mut s,
        Ok(PlanView {
            text: format!("Recovery plan\n{text}"),
            problems: Vec::new(),
            database: "shop".into(),
            holds: None,
        }),
    );
    // The id is random; fixed here for the snapshot.
    s.plan_id = "20261205T090000.000Z-0001".into();
    typed(&mut s, "sh");
    let screen = render(&s);
    assert!(
        screen.contains("lifeboat recover --repository s3://backups/shop")
            && screen.contains("--set 20261205T070000.000Z-a1b1")
            && screen.contains("--new-cluster")
            && screen.contains("--recovery 20261205T090000.000Z-0001")
            && screen.contains("--yes"),
        "{screen}"
    );
    assert!(
        screen.contains("Type the database name `shop`, then Enter: sh▏"),
        "{screen}"
    );
    insta::assert_snapshot!("recover_plan_80x24", screen);
}

#[test]
fn the_runbook_running_headless_ticks_the_running_step() {
    let s = watching(Worker::Running(4242));
    let screen = render(&s);
    assert!(screen.contains("running headless (pid 4242)"), "{screen}");
    assert!(
        line_of(&screen, "⟳ pg_restore").contains(" 12.5 s"),
        "{screen}"
    );
    assert!(line_of(&screen, "✓ fetch").contains(" 20.1 s"), "{screen}");
    assert!(screen.contains("[ ] point DNS"), "{screen}");
    assert!(
        screen.contains("the recovery goes on without this screen; its log:"),
        "{screen}"
    );
    insta::assert_snapshot!("recover_running_80x24", screen);
}

#[test]
fn a_stopped_runbook_says_where_and_that_r_resumes() {
    let s = watching(Worker::Stopped);
    let screen = render(&s);
    assert!(
        screen.contains("stopped at pg_restore: press r to resume"),
        "{screen}"
    );
    assert!(screen.contains("✗ pg_restore"), "{screen}");
    assert!(screen.contains("cancelled during `pg_restore`"), "{screen}");
    assert!(screen.contains("r resume"), "{screen}");
    insta::assert_snapshot!("recover_stopped_80x24", screen);
}

#[test]
fn the_help_overlay_lists_the_keymaps_keys() {
    let mut s = filled();
    on_action(&mut s, Action::Back);
    on_action(&mut s, Action::Help);
    let screen = render(&s);
    assert!(screen.contains("Recovery keys"), "{screen}");
    insta::assert_snapshot!("recover_help_80x24", screen);
    for needle in [
        "Enter  edit a field",
        "r  resume a stopped recovery",
        "q  quit (not while typing)",
    ] {
        assert!(screen.contains(needle), "{needle}:\n{screen}");
    }
    // While it shows, q closes it rather than quitting.
    assert_eq!(
        on_action(&mut s, Action::Quit),
        lifeboat::app::screens::recover::RecoverEffect::None
    );
    assert!(!s.help);
}

#[test]
fn the_target_suggests_a_data_directory_and_original_paths() {
    let mut s = filled();
    on_action(&mut s, Action::Open);
    on_action(&mut s, Action::Open);
    on_sets_loaded(&mut s, Ok(sets()));
    on_action(&mut s, Action::Open);
    let screen = render(&s);
    assert!(
        line_of(&screen, "Data directory")
            .contains("/var/lib/postgresql/lifeboat-recovered (suggested)"),
        "{screen}"
    );
    assert!(
        line_of(&screen, "Files prefix").contains("(original paths)"),
        "{screen}"
    );
    assert!(
        line_of(&screen, "Database URL").contains("(not used)"),
        "{screen}"
    );
    insta::assert_snapshot!("recover_target_80x24", screen);
}

#[test]
fn a_finished_runbook_shows_rto_rpo_and_the_configuration_written() {
    let mut s = watching(Worker::Stopped);
    let run = s.run.as_mut().unwrap();
    let book = run.book.as_mut().unwrap();
    for step in &mut book.steps {
        step.state = StepState::Done;
        step.seconds.get_or_insert(1.5);
    }
    book.finished_at = Some(now());
    let mut record = console_fixtures::drill_record();
    record.rto_seconds = Some(754.0);
    book.record = Some(record);
    book.config_written = Some("/root/.config/lifeboat/config.toml".into());
    let screen = render(&s);
    assert!(screen.contains("▶ finished"), "{screen}");
    assert!(
        screen.contains("RTO 12m 34s (start to health green) · RPO"),
        "{screen}"
    );
    assert!(
        screen.contains("Configuration written: /root/.config/lifeboat/config.toml"),
        "{screen}"
    );
    // Nothing runs, nothing to resume: no "r" and no log note.
    assert!(
        !screen.contains("r resume") && !screen.contains("its log"),
        "{screen}"
    );
    insta::assert_snapshot!("recover_finished_80x24", screen);
}
