//! Console frame times, on demand (`bench/console.sh` runs it; figures in docs/BENCHMARKS.md,
//! "Console"). Everything goes through the console's own code: `runtime::load_staged` (the
//! load the console runs as a task), `update` and `ui::render` into a ratatui `TestBackend`.
//!
//! 1. Time to first frame with 10,000 sets in a real local repository: the first frame drawn
//!    (still loading), the first frame with the data (the dashboard with the newest set, from
//!    the preview `runtime::load_staged` sends first) and the frame after the full load, for a
//!    fresh host (empty journal) and for the host that took the sets (a journal with a run and
//!    a verification for each).
//! 2. `inventory::scan` of a real 100,000-object local repository (25,000 sets of 4 objects),
//!    and the gaps between frames drawn while `load_snapshot` runs as a task meanwhile.
//! 3. The event that replaces that snapshot on a reload (`runtime::handle`, as the console's
//!    loop runs it), then the worst single frame (key handling in `update`, and `render`) while
//!    paging with PageDown through that whole inventory with every set expanded (125,000 rows).
//!
//! The repositories are generated once under `--dir` from a real backup's `manifest.json`
//! (`--template`), its `set_id` changed to each folder's name; data objects are a few bytes.
//!
//! `cargo run --release --example console_frames -- --template PATH [--dir DIR] [--sets N]
//! [--big-sets N] [--width W --height H] [--runs N] [--parts first,scan,paging]`
//!
//! Times are wall clock, and in brackets the CPU time of the thread that drew (what the frame
//! cost, without the time another process had the CPU: the benchmark machine is shared); for
//! the first frame with data, the CPU time of the whole process (the load runs on several
//! threads).

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use lifeboat::app::action::Action;
use lifeboat::app::config::Config;
use lifeboat::app::event::AppEvent;
use lifeboat::app::inventory_tree;
use lifeboat::app::keymap::Keymap;
use lifeboat::app::runtime::{handle, load_snapshot, load_staged, FRAME_INTERVAL};
use lifeboat::app::state::{AppState, Screen};
use lifeboat::app::update::update;
use lifeboat::jobs::inventory;
use lifeboat::storage::journal::{
    JournalEntry, RunKind, RunRecord, RunStatus, VerificationRecord, VerifyLevel,
};
use lifeboat::storage::manifest::Initiator;
use lifeboat::storage::paths::LocalPaths;
use lifeboat::storage::repository::Repository;
use lifeboat::ui;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

/// Targets from the console's design: a first frame within 150 ms, no frame over 50 ms.
const FIRST_FRAME_TARGET: Duration = Duration::from_millis(150);
const FRAME_TARGET: Duration = Duration::from_millis(50);
const OBJECTS_PER_SET: usize = 4;

struct Args {
    dir: PathBuf,
    template: PathBuf,
    sets: usize,
    big_sets: usize,
    width: u16,
    height: u16,
    runs: usize,
    /// Which measurements: any of first, scan, paging.
    parts: Vec<String>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        dir: PathBuf::from("bench/work/console"),
        template: PathBuf::new(),
        sets: 10_000,
        big_sets: 25_000,
        width: 80,
        height: 24,
        runs: 5,
        parts: vec!["first".into(), "scan".into(), "paging".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value()?),
            "--template" => args.template = PathBuf::from(value()?),
            "--sets" => args.sets = value()?.parse()?,
            "--big-sets" => args.big_sets = value()?.parse()?,
            "--width" => args.width = value()?.parse()?,
            "--height" => args.height = value()?.parse()?,
            "--runs" => args.runs = value()?.parse()?,
            "--parts" => args.parts = value()?.split(',').map(str::to_string).collect(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.template.as_os_str().is_empty() {
        return Err("--template PATH (a real backup's manifest.json) is required".into());
    }
    Ok(args)
}

/// CPU time this process (every thread) has used so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time this thread has used so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn verdict(d: Duration, target: Duration) -> &'static str {
    if d <= target {
        "ok"
    } else {
        "MISSED"
    }
}

/// Set `i` of a generated repository: ten minutes apart, oldest first.
fn set_time(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + Span::minutes(10 * i as i64)
}

fn set_id(i: usize) -> String {
    format!(
        "{}-{:04x}",
        set_time(i).format("%Y%m%dT%H%M%SZ"),
        i % 0x1_0000
    )
}

/// A local repository of `sets` sets, each holding the template's data objects (a few bytes
/// each), `checksums.sha256` and `manifest.json`: `OBJECTS_PER_SET` objects a set. Generated
/// once; a marker file records what was generated.
fn make_repo(root: &Path, sets: usize, template: &Value) -> Result<(), Error> {
    // Beside the repository, not in it (it would be a stray object).
    let marker = root.with_extension("generated");
    let want = format!("{sets} sets\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let data_objects: Vec<String> = template["components"]
        .as_array()
        .ok_or("the template has no components")?
        .iter()
        .filter(|c| c["repository"] == "data")
        .filter_map(|c| c["object"].as_str().map(str::to_string))
        .collect();
    if data_objects.len() + 2 != OBJECTS_PER_SET {
        return Err(format!(
            "the template must have {} data components (db and files), it has {data_objects:?}",
            OBJECTS_PER_SET - 2
        )
        .into());
    }
    let started = Instant::now();
    for i in 0..sets {
        let id = set_id(i);
        let dir = root.join("sets").join(&id);
        std::fs::create_dir_all(&dir)?;
        let mut sums = String::new();
        for object in &data_objects {
            let body = format!("{id} {object}\n");
            std::fs::write(dir.join(object), &body)?;
            sums.push_str(&format!("{}  {object}\n", "0".repeat(64)));
        }
        std::fs::write(dir.join("checksums.sha256"), sums)?;
        let mut manifest = template.clone();
        let at = set_time(i).to_rfc3339();
        manifest["set_id"] = Value::from(id.clone());
        for field in ["snapshot_time", "started_at", "finished_at"] {
            manifest[field] = Value::from(at.clone());
        }
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
    }
    std::fs::write(&marker, want)?;
    eprintln!(
        "generated {} ({sets} sets, {} objects) in {:.1} s",
        root.display(),
        sets * OBJECTS_PER_SET,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A journal as the host that took the sets has it: a completed run and a stored-level
/// verification for each set.
fn make_journal(path: &Path, sets: usize, repository: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..sets {
        let id = set_id(i);
        let at = set_time(i);
        let run = JournalEntry::Run(RunRecord {
            run_id: id.clone(),
            kind: RunKind::Backup,
            status: RunStatus::Completed,
            initiator: Initiator::Schedule,
            host: "bench".into(),
            pid: 1,
            process_start: None,
            started_at: at,
            finished_at: Some(at + Span::seconds(90)),
            set_id: Some(id.clone()),
            bytes: Some(1 << 30),
            destination: repository.to_string(),
            sha256: Some("0".repeat(64)),
            error: None,
            spooled_at: None,
            purpose: None,
            restore: None,
        });
        let verification = JournalEntry::Verification(VerificationRecord {
            set_id: id,
            at: at + Span::minutes(5),
            level: VerifyLevel::Stored,
            ok: true,
            repository: repository.to_string(),
            problems: Vec::new(),
            initiator: None,
        });
        for entry in [run, verification] {
            serde_json::to_writer(&mut out, &entry)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A config that points the console at `repo`, with its own data and state directories.
fn make_config(dir: &Path, name: &str, repo: &Path) -> Result<(Config, LocalPaths), Error> {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[source]\ndatabase_url = \"postgresql://bench@127.0.0.1:1/bench\"\n\n\
         [repository]\nurl = \"file://{}\"\n\n[encryption]\nmode = \"none\"\n",
        repo.display()
    );
    std::fs::write(&path, text)?;
    let config = Config::load(&path)?;
    let paths = LocalPaths::under(&dir.join(format!("{name}-local")));
    Ok((config, paths))
}

fn new_state(config: &Config, args: &Args) -> AppState {
    let mut state = AppState::new(
        config.repository.url.clone(),
        config.path.display().to_string(),
        Utc::now(),
    );
    state.width = args.width;
    state.height = args.height;
    state.loading = true;
    state
}

struct FirstFrame {
    drawn: Duration,
    /// The first frame whose dashboard has the data (the preview, or the full load).
    with_data: Duration,
    /// CPU time the process used until then (all threads: the load runs on several).
    with_data_cpu: Duration,
    /// The frame after the full load (History, Inventory).
    complete: Duration,
    complete_cpu: Duration,
}

/// One console start: config and keymap, the first frame (loading), then the load as the
/// console runs it (a task sending the preview, then the full snapshot), a frame after each.
async fn first_frame(
    config_path: &Path,
    paths: &LocalPaths,
    args: &Args,
    newest: &str,
) -> Result<FirstFrame, Error> {
    let (t0, cpu0) = (Instant::now(), process_cpu());
    let config = Config::load(config_path)?;
    let keymap = Keymap::default_keymap();
    let mut state = new_state(&config, args);
    let mut terminal = Terminal::new(TestBackend::new(args.width, args.height))?;
    terminal.draw(|f| ui::render(f, &state, &keymap))?;
    let drawn = t0.elapsed();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let paths = paths.clone();
    tokio::spawn(async move {
        let loaded = load_staged(&config, &paths, Some(&tx)).await.map(Box::new);
        let _ = tx.send(AppEvent::Loaded(loaded));
    });
    let mut with_data = None;
    while let Some(event) = rx.recv().await {
        let done = matches!(event, AppEvent::Loaded(_));
        if let AppEvent::Loaded(Err(e)) = &event {
            return Err(format!("load failed: {e}").into());
        }
        handle(&mut state, event);
        terminal.draw(|f| ui::render(f, &state, &keymap))?;
        let screen = format!("{:?}", terminal.backend().buffer());
        if with_data.is_none() && screen.contains(newest) {
            with_data = Some((t0.elapsed(), process_cpu() - cpu0));
        }
        if done {
            let Some((with_data, with_data_cpu)) = with_data else {
                return Err(format!(
                    "the frame with the data does not show the newest set {newest}"
                )
                .into());
            };
            if screen.contains("preliminary") {
                return Err("the frame after the full load still says preliminary".into());
            }
            return Ok(FirstFrame {
                drawn,
                with_data,
                with_data_cpu,
                complete: t0.elapsed(),
                complete_cpu: process_cpu() - cpu0,
            });
        }
    }
    Err("the load ended without a result".into())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn bench_first_frame(
    args: &Args,
    label: &str,
    config: &Config,
    paths: &LocalPaths,
) -> Result<bool, Error> {
    let mut drawn = Vec::new();
    let mut with_data = Vec::new();
    let mut with_data_cpu = Vec::new();
    let mut complete = Vec::new();
    let mut complete_cpu = Vec::new();
    for _ in 0..args.runs {
        let f = first_frame(&config.path, paths, args, &set_id(args.sets - 1)).await?;
        drawn.push(f.drawn);
        with_data.push(f.with_data);
        with_data_cpu.push(f.with_data_cpu);
        complete.push(f.complete);
        complete_cpu.push(f.complete_cpu);
    }
    let worst_drawn = drawn.iter().max().copied().unwrap_or_default();
    let worst_data = with_data.iter().max().copied().unwrap_or_default();
    let worst_complete = complete.iter().max().copied().unwrap_or_default();
    println!(
        "first frame, {label}: drawn median {} (worst {}, {}); with data median {} (worst {}, {}) \
         [process cpu median {}]; complete (History, Inventory) median {} (worst {}) \
         [process cpu median {}]",
        ms(median(drawn)),
        ms(worst_drawn),
        verdict(worst_drawn, FIRST_FRAME_TARGET),
        ms(median(with_data)),
        ms(worst_data),
        verdict(worst_data, FIRST_FRAME_TARGET),
        ms(median(with_data_cpu)),
        ms(median(complete)),
        ms(worst_complete),
        ms(median(complete_cpu)),
    );
    Ok(worst_drawn <= FIRST_FRAME_TARGET && worst_data <= FIRST_FRAME_TARGET)
}

/// `inventory::scan` alone, then `load_snapshot` as a task while frames are drawn every
/// `FRAME_INTERVAL` on this thread, as the console's loop does.
async fn bench_scan(args: &Args, config: &Config, paths: &LocalPaths) -> Result<bool, Error> {
    let spec = config.data_repository()?;
    let repo = Repository::open(&spec)?;
    let t = Instant::now();
    let objects = repo.list("").await?.len();
    println!("Repository::list of {objects} objects: {}", ms(t.elapsed()));
    let t = Instant::now();
    let listed = inventory::scan(&repo).await?;
    let objects: usize = listed.sets.iter().map(|s| s.objects.len()).sum();
    println!(
        "inventory::scan of {} sets / {objects} objects: {}",
        listed.sets.len(),
        ms(t.elapsed())
    );

    let keymap = Keymap::default_keymap();
    let state = new_state(config, args);
    let mut terminal = Terminal::new(TestBackend::new(args.width, args.height))?;
    let (config, paths) = (config.clone(), paths.clone());
    let t = Instant::now();
    let task = tokio::spawn(async move { load_snapshot(&config, &paths).await });
    let mut frames = 0;
    let mut worst_gap = Duration::ZERO;
    let mut worst_frame = Duration::ZERO;
    let mut last = Instant::now();
    while !task.is_finished() {
        let start = Instant::now();
        terminal.draw(|f| ui::render(f, &state, &keymap))?;
        worst_frame = worst_frame.max(start.elapsed());
        worst_gap = worst_gap.max(start - last);
        last = start;
        frames += 1;
        tokio::time::sleep(FRAME_INTERVAL).await;
    }
    let loaded = task.await?;
    if let Err(e) = loaded {
        return Err(format!("load failed: {e}").into());
    }
    println!(
        "load_snapshot as a task: {} meanwhile {frames} frames drawn, worst frame {}, \
         worst gap between frames {} (interval {}): {}",
        ms(t.elapsed()),
        ms(worst_frame),
        ms(worst_gap),
        ms(FRAME_INTERVAL),
        verdict(worst_gap, FRAME_INTERVAL + FRAME_TARGET)
    );
    Ok(worst_gap <= FRAME_INTERVAL + FRAME_TARGET)
}

/// PageDown from the top to the bottom of the inventory with every set expanded.
async fn bench_paging(args: &Args, config: &Config, paths: &LocalPaths) -> Result<bool, Error> {
    let keymap = Keymap::default_keymap();
    let mut state = new_state(config, args);
    let loaded = load_snapshot(config, paths).await.map(Box::new);
    if let Err(e) = &loaded {
        return Err(format!("load failed: {e}").into());
    }
    update(&mut state, AppEvent::Loaded(loaded));
    // A reload (every 30 s, and after each job) replaces the snapshot as the console does.
    let again = load_snapshot(config, paths).await.map(Box::new);
    let (t, cpu) = (Instant::now(), thread_cpu());
    handle(&mut state, AppEvent::Loaded(again));
    let (reload, reload_cpu) = (t.elapsed(), thread_cpu() - cpu);
    println!(
        "reload: the event replacing the snapshot of {} objects took {} [cpu {}] ({})",
        state
            .snapshot
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .map(|i| i.sets.iter().map(|s| s.objects.len()).sum::<usize>())
            .unwrap_or(0),
        ms(reload),
        ms(reload_cpu),
        verdict(reload_cpu, FRAME_TARGET)
    );
    state.screen = Screen::Inventory;
    let ids: Vec<String> = state
        .snapshot
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.sets.iter().map(|s| s.id.to_string()).collect())
        .unwrap_or_default();
    state.expanded.extend(ids);
    let rows = inventory_tree::rows(&state).len();
    let mut terminal = Terminal::new(TestBackend::new(args.width, args.height))?;
    terminal.draw(|f| ui::render(f, &state, &keymap))?;

    let (mut worst_update, mut worst_render, mut worst_frame) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut worst_cpu, mut total_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut total, mut frames) = (Duration::ZERO, 0u32);
    let mut previous = usize::MAX;
    while state.inventory.selected != previous {
        previous = state.inventory.selected;
        let (t, cpu) = (Instant::now(), thread_cpu());
        update(&mut state, AppEvent::Action(Action::PageDown));
        let updated = t.elapsed();
        terminal.draw(|f| ui::render(f, &state, &keymap))?;
        let (frame, frame_cpu) = (t.elapsed(), thread_cpu() - cpu);
        worst_update = worst_update.max(updated);
        worst_render = worst_render.max(frame - updated);
        worst_frame = worst_frame.max(frame);
        worst_cpu = worst_cpu.max(frame_cpu);
        total += frame;
        total_cpu += frame_cpu;
        frames += 1;
    }
    if state.inventory.selected + 1 != rows {
        return Err(format!(
            "paging stopped at row {} of {rows}",
            state.inventory.selected + 1
        )
        .into());
    }
    println!(
        "paging {rows} inventory rows ({frames} PageDowns at {}x{}): worst update {}, \
         worst render {}, worst frame {} [cpu {}] ({}), mean frame {} [cpu {}]",
        args.width,
        args.height,
        ms(worst_update),
        ms(worst_render),
        ms(worst_frame),
        ms(worst_cpu),
        verdict(worst_cpu, FRAME_TARGET),
        ms(total / frames.max(1)),
        ms(total_cpu / frames.max(1)),
    );
    Ok(worst_cpu <= FRAME_TARGET && reload_cpu <= FRAME_TARGET)
}

async fn run(args: Args) -> Result<bool, Error> {
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let template: Value = serde_json::from_slice(&std::fs::read(&args.template)?)?;

    let small = dir.join(format!("repo-{}", args.sets));
    make_repo(&small, args.sets, &template)?;
    let big = dir.join(format!("repo-{}", args.big_sets));
    make_repo(&big, args.big_sets, &template)?;

    let mut ok = true;
    let part = |name: &str| args.parts.iter().any(|p| p == name);
    if part("first") {
        let (config, fresh) = make_config(&dir, "fresh", &small)?;
        std::fs::remove_dir_all(&fresh.data_dir).ok();
        ok &= bench_first_frame(
            &args,
            &format!("{} sets, empty journal", args.sets),
            &config,
            &fresh,
        )
        .await?;
        let (config, host) = make_config(&dir, "host", &small)?;
        make_journal(&host.journal(), args.sets, &config.repository.url)?;
        ok &= bench_first_frame(
            &args,
            &format!(
                "{} sets, journal of {} runs + verifications",
                args.sets, args.sets
            ),
            &config,
            &host,
        )
        .await?;
    }
    let (config, paths) = make_config(&dir, "big", &big)?;
    std::fs::remove_dir_all(&paths.data_dir).ok();
    if part("scan") {
        ok &= bench_scan(&args, &config, &paths).await?;
    }
    if part("paging") {
        ok &= bench_paging(&args, &config, &paths).await?;
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("console_frames: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("console_frames: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            println!("a target was missed");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("console_frames: {e}");
            ExitCode::FAILURE
        }
    }
}
