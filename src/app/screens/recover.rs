//! The "Recover from a repository" screen's state and reducer: the form (repository, endpoint,
//! region, secrets repository, key source), the remote inventory, the target, the plan with
//! its typed confirmation, and the runbook being watched. What the operator asks for comes
//! back as a [`RecoverEffect`] that the loop in `app::recover_console` carries out (listing
//! the sets, making the plan, starting or resuming the detached worker). The worker's command
//! line is built here, once, from the form: the plan is made from that same line, and the
//! screen shows it, so it is exactly what an operator could type. Pure: no I/O, no clock reads.

use crate::app::action::Action;
use crate::jobs::recover::worker::Worker;
use crate::jobs::recover::{RemoteSet, Runbook, StepState};
use chrono::{DateTime, Utc};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Form,
    Sets,
    Target,
    Plan,
    Run,
}

/// One text field: what it is called, what it holds, and what an empty one means.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
    /// Shown when the value is empty.
    pub empty: &'static str,
    /// The value is a suggestion: the first character typed replaces it.
    pub suggested: bool,
}

impl Field {
    fn new(label: &'static str, empty: &'static str) -> Field {
        Field {
            label,
            value: String::new(),
            empty,
            suggested: false,
        }
    }

    fn text(&self) -> Option<&str> {
        let v = self.value.trim();
        (!v.is_empty()).then_some(v)
    }
}

/// The form's rows, in order (the key toggle and the button are rows too).
pub const F_URL: usize = 0;
pub const F_ENDPOINT: usize = 1;
pub const F_REGION: usize = 2;
pub const F_SECRETS: usize = 3;
pub const F_KEY: usize = 4;
pub const F_PASSFILE: usize = 5;
pub const F_LIST: usize = 6;
/// The target's rows.
pub const T_KIND: usize = 0;
pub const T_DATADIR: usize = 1;
pub const T_URL: usize = 2;
pub const T_PREFIX: usize = 3;
pub const T_PLAN: usize = 4;

/// The plan as the screen shows it (made by `recover::prepare` from the worker's line).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanView {
    /// `report::recover::plan_text`, the same text `recover --dry-run` prints.
    pub text: String,
    pub problems: Vec<String>,
    /// What the operator types to confirm.
    pub database: String,
    /// What the target holds, when it holds data: its name must be typed again.
    pub holds: Option<String>,
}

/// The recovery the screen watches.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub id: String,
    pub runbook_path: PathBuf,
    pub log: PathBuf,
    /// The last read of the runbook (None until the worker wrote it).
    pub book: Option<Runbook>,
    pub worker: Worker,
    /// The worker this console started ended with this code (None: still running, or not
    /// started here).
    pub exited: Option<i32>,
    /// The log's last lines, shown when the worker stopped.
    pub log_tail: Vec<String>,
    /// The command line of the worker, as typed.
    pub command: String,
    /// A worker this console started has not ended yet (it may not hold the lock yet).
    pub child_alive: bool,
}

impl RunView {
    pub fn finished(&self) -> bool {
        self.book.as_ref().is_some_and(Runbook::finished)
    }

    /// The step it stopped at, when no worker runs and it did not finish.
    pub fn stopped_at(&self) -> Option<&str> {
        if self.worker != Worker::Stopped || self.child_alive || self.finished() {
            return None;
        }
        let book = self.book.as_ref()?;
        book.first_unfinished().map(|s| s.name.as_str())
    }

    /// pg_restore was cut off (started, never finished): the target may hold data, so a
    /// resume asks for the database's name typed again.
    pub fn restore_cut_off(&self) -> bool {
        self.book.as_ref().is_some_and(|b| {
            b.step("pg_restore")
                .is_some_and(|s| matches!(s.state, StepState::Running | StepState::Failed))
        })
    }
}

/// A typed confirmation being asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub text: String,
    pub typed: String,
    /// What must be typed.
    pub expect: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecoverState {
    pub stage: Stage,
    pub form: Vec<Field>,
    pub keyring: bool,
    pub form_focus: usize,
    pub editing: bool,
    pub sets: Vec<RemoteSet>,
    pub set_selected: usize,
    pub target: Vec<Field>,
    /// Restore into an existing database (a URL) rather than a new local cluster.
    pub target_is_url: bool,
    pub target_focus: usize,
    pub plan: Option<PlanView>,
    pub plan_scroll: u16,
    /// The id the recovery of this plan will have (named on its line, so the screen knows
    /// which runbook to watch).
    pub plan_id: String,
    /// The confirmation on the plan (and, for a resume, on the runbook).
    pub prompt: Option<Prompt>,
    /// The name was typed once and the target holds data: it is being typed again.
    pub replace_asked: bool,
    pub run: Option<RunView>,
    /// What is being loaded, in words (None: nothing).
    pub busy: Option<String>,
    pub error: Option<String>,
    pub help: bool,
    pub no_color: bool,
    pub now: DateTime<Utc>,
    /// The program name the worker's command line starts with.
    pub program: String,
}

/// What the loop does after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum RecoverEffect {
    None,
    Quit,
    /// List the sets of the repository the form names (the worker's line, no target yet).
    ListSets(Vec<String>),
    /// Make the plan from this worker's line (`--dry-run` of it).
    Plan(Vec<String>),
    /// Start the worker: this line (with `--yes`), as recovery `id`.
    Start {
        id: String,
        argv: Vec<String>,
    },
    /// Resume recovery `id`, with `--replace-target NAME` when given.
    Resume {
        id: String,
        replace: Option<String>,
    },
}

impl RecoverState {
    /// `datadir`: the suggested data directory of a new cluster.
    pub fn new(now: DateTime<Utc>, datadir: String) -> RecoverState {
        let form = vec![
            Field::new("Repository URL", "s3://bucket/prefix, or a directory"),
            Field::new("S3 endpoint", "AWS; MinIO, Ceph, B2, R2: their URL"),
            Field::new("Region", "AWS_REGION, else us-east-1"),
            Field::new("Secrets repository", "none: the set keeps its secrets"),
            Field::new("Key", ""),
            Field::new("Passphrase file", "the file holding the passphrase"),
        ];
        let mut target = vec![
            Field::new("Restore into", ""),
            Field::new("Data directory", "where the new cluster goes"),
            Field::new("Database URL", "postgresql://user@host/db"),
            Field::new("Files prefix", "original paths"),
        ];
        target[T_DATADIR].value = datadir;
        target[T_DATADIR].suggested = true;
        RecoverState {
            stage: Stage::Form,
            form,
            keyring: false,
            form_focus: F_URL,
            editing: false,
            sets: Vec::new(),
            set_selected: 0,
            target,
            target_is_url: false,
            target_focus: T_DATADIR,
            plan: None,
            plan_scroll: 0,
            plan_id: String::new(),
            prompt: None,
            replace_asked: false,
            run: None,
            busy: None,
            error: None,
            help: false,
            no_color: false,
            now,
            program: "lifeboat".into(),
        }
    }

    /// Characters go into a field (or the prompt) rather than to the keymap.
    pub fn typing(&self) -> bool {
        !self.help && (self.editing || self.prompt.is_some())
    }

    fn fields_mut(&mut self) -> Option<&mut Field> {
        match self.stage {
            Stage::Form => self.form.get_mut(self.form_focus),
            Stage::Target => self.target.get_mut(self.target_focus),
            _ => None,
        }
    }

    /// The set picked on the inventory.
    pub fn picked(&self) -> Option<&RemoteSet> {
        self.sets.get(self.set_selected)
    }

    /// The repository part of the worker's line, from the form.
    pub fn repository_args(&self) -> Result<Vec<String>, String> {
        let url = self.form[F_URL]
            .text()
            .ok_or("enter the repository URL (s3://bucket/prefix, or a directory)")?;
        let mut argv = vec!["recover".to_string(), "--repository".into(), url.into()];
        let mut opt = |flag: &str, f: &Field| {
            if let Some(v) = f.text() {
                argv.push(flag.into());
                argv.push(v.into());
            }
        };
        opt("--endpoint", &self.form[F_ENDPOINT]);
        opt("--region", &self.form[F_REGION]);
        opt("--secrets-repository", &self.form[F_SECRETS]);
        if !self.keyring {
            let file = self.form[F_PASSFILE].text().ok_or(
                "enter the passphrase file's path, or choose the gpg keyring (Enter on Key)",
            )?;
            argv.push("--passphrase-file".into());
            argv.push(file.into());
        }
        Ok(argv)
    }

    /// The worker's whole line for the picked set and the target (without `--yes` and the
    /// recovery id, which the start adds).
    pub fn worker_args(&self) -> Result<Vec<String>, String> {
        let mut argv = self.repository_args()?;
        let set = self.picked().ok_or("pick a set")?;
        argv.push("--set".into());
        argv.push(set.id.to_string());
        if self.target_is_url {
            let url = self.target[T_URL]
                .text()
                .ok_or("enter the target database's URL (postgresql://user@host/db)")?;
            argv.push("--target".into());
            argv.push(url.into());
        } else {
            let dir = self.target[T_DATADIR]
                .text()
                .ok_or("enter the new cluster's data directory")?;
            argv.push("--new-cluster".into());
            argv.push(dir.into());
        }
        if let Some(p) = self.target[T_PREFIX].text() {
            argv.push("--files-prefix".into());
            argv.push(p.into());
        }
        Ok(argv)
    }

    /// The whole line the console starts for the plan shown: the plan's line, confirmed
    /// (`--yes`), named (`--recovery`), and `--replace-target` when the target holds data
    /// (its name typed twice on the screen). None without a plan or a complete form.
    pub fn start_args(&self) -> Option<Vec<String>> {
        let plan = self.plan.as_ref()?;
        let argv = self.worker_args().ok()?;
        let replace = plan.holds.as_ref().map(|_| plan.database.as_str());
        Some(start_line(argv, &self.plan_id, replace))
    }

    /// The line the operator could type: the program, then the arguments, quoted for a shell
    /// where needed.
    pub fn shell_line(&self, argv: &[String]) -> String {
        std::iter::once(self.program.as_str())
            .chain(argv.iter().map(String::as_str))
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `s` as one shell word.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A character typed while a field or the prompt takes text.
pub fn on_char(state: &mut RecoverState, c: char) {
    if let Some(p) = &mut state.prompt {
        p.typed.push(c);
        return;
    }
    if let Some(f) = state.fields_mut() {
        if f.suggested {
            f.value.clear();
            f.suggested = false;
        }
        f.value.push(c);
    }
}

pub fn on_backspace(state: &mut RecoverState) {
    if let Some(p) = &mut state.prompt {
        p.typed.pop();
        return;
    }
    if let Some(f) = state.fields_mut() {
        f.suggested = false;
        f.value.pop();
    }
}

pub fn on_action(state: &mut RecoverState, action: Action) -> RecoverEffect {
    if state.help {
        if matches!(action, Action::Help | Action::Back | Action::Quit) {
            state.help = false;
        }
        return RecoverEffect::None;
    }
    if action == Action::Interrupt {
        return RecoverEffect::Quit;
    }
    if state.prompt.is_some() {
        return on_prompt(state, action);
    }
    if state.editing {
        return on_editing(state, action);
    }
    match action {
        Action::Help => {
            state.help = true;
            RecoverEffect::None
        }
        Action::Quit => RecoverEffect::Quit,
        _ => match state.stage {
            Stage::Form => on_form(state, action),
            Stage::Sets => on_sets(state, action),
            Stage::Target => on_target(state, action),
            Stage::Plan => on_plan(state, action),
            Stage::Run => on_run(state, action),
        },
    }
}

/// Enter (or Tab, or down) finishes the field and goes to the next; Esc just finishes it.
fn on_editing(state: &mut RecoverState, action: Action) -> RecoverEffect {
    let step: isize = match action {
        Action::Open | Action::NextScreen | Action::Down => 1,
        Action::PrevScreen | Action::Up => -1,
        Action::Back => 0,
        _ => return RecoverEffect::None,
    };
    state.editing = false;
    if let Some(f) = state.fields_mut() {
        f.value = f.value.trim().to_string();
    }
    move_focus(state, step);
    RecoverEffect::None
}

fn move_focus(state: &mut RecoverState, step: isize) {
    let (focus, last) = match state.stage {
        Stage::Form => (&mut state.form_focus, F_LIST),
        Stage::Target => (&mut state.target_focus, T_PLAN),
        _ => return,
    };
    *focus = (*focus as isize + step).clamp(0, last as isize) as usize;
}

fn on_form(state: &mut RecoverState, action: Action) -> RecoverEffect {
    match action {
        Action::Up | Action::PrevScreen => move_focus(state, -1),
        Action::Down | Action::NextScreen => move_focus(state, 1),
        Action::TickStep if state.form_focus == F_KEY => state.keyring = !state.keyring,
        Action::Open => match state.form_focus {
            F_KEY => state.keyring = !state.keyring,
            F_LIST => return list_sets(state),
            F_PASSFILE if state.keyring => {}
            _ => state.editing = true,
        },
        _ => {}
    }
    RecoverEffect::None
}

fn list_sets(state: &mut RecoverState) -> RecoverEffect {
    match state.repository_args() {
        Ok(argv) => {
            state.error = None;
            state.busy = Some("listing the sets of the repository…".into());
            state.stage = Stage::Sets;
            state.sets.clear();
            RecoverEffect::ListSets(argv)
        }
        Err(e) => {
            state.error = Some(e);
            RecoverEffect::None
        }
    }
}

/// The sets arrived (newest first), or the reason there are none, in words.
pub fn on_sets_loaded(state: &mut RecoverState, sets: Result<Vec<RemoteSet>, String>) {
    // The operator went back meanwhile: this listing is for a form they may have changed.
    if state.stage != Stage::Sets {
        return;
    }
    state.busy = None;
    match sets {
        Ok(sets) => {
            state.sets = sets;
            state.set_selected = 0;
            state.error = None;
        }
        Err(e) => state.error = Some(explain_listing(&e)),
    }
}

/// A listing that failed, in words that lead with the fix; the repository's own words after.
pub fn explain_listing(e: &str) -> String {
    let lower = e.to_lowercase();
    let fix = if lower.contains("credential") {
        "No S3 credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) before starting lifeboat"
    } else if lower.contains("no complete set") {
        "No sets there: check the URL's bucket and prefix (Esc: back to the form)"
    } else if lower.contains("connect") || lower.contains("dns") || lower.contains("timed out") {
        "The repository does not answer: check the endpoint and the network (Esc: back to the form)"
    } else {
        "Check the URL, the endpoint and the S3 credentials in the environment (Esc: back to the form)"
    };
    format!("{fix}, then R to list again. {e}")
}

fn on_sets(state: &mut RecoverState, action: Action) -> RecoverEffect {
    match action {
        Action::Up => state.set_selected = state.set_selected.saturating_sub(1),
        Action::Down => {
            state.set_selected = (state.set_selected + 1).min(state.sets.len().saturating_sub(1))
        }
        Action::Back => {
            state.stage = Stage::Form;
            state.error = None;
            state.busy = None;
        }
        Action::Refresh if state.busy.is_none() => return list_sets(state),
        Action::Open if state.picked().is_some() && state.busy.is_none() => {
            state.stage = Stage::Target;
            state.error = None;
        }
        _ => {}
    }
    RecoverEffect::None
}

fn on_target(state: &mut RecoverState, action: Action) -> RecoverEffect {
    match action {
        Action::Up | Action::PrevScreen => move_focus(state, -1),
        Action::Down | Action::NextScreen => move_focus(state, 1),
        Action::Back => {
            state.stage = Stage::Sets;
            state.error = None;
        }
        Action::TickStep if state.target_focus == T_KIND => {
            state.target_is_url = !state.target_is_url
        }
        Action::Open => match state.target_focus {
            T_KIND => state.target_is_url = !state.target_is_url,
            T_PLAN => match state.worker_args() {
                Ok(argv) => {
                    state.error = None;
                    state.plan = None;
                    state.plan_scroll = 0;
                    state.busy =
                        Some("making the plan: verifying the set, reading the target…".into());
                    state.stage = Stage::Plan;
                    return RecoverEffect::Plan(argv);
                }
                Err(e) => state.error = Some(e),
            },
            T_DATADIR if state.target_is_url => {}
            T_URL if !state.target_is_url => {}
            _ => state.editing = true,
        },
        _ => {}
    }
    RecoverEffect::None
}

/// The plan was made, or why it could not be.
pub fn on_plan_loaded(state: &mut RecoverState, plan: Result<PlanView, String>) {
    // The operator went back meanwhile: a plan for a target they may have changed.
    if state.stage != Stage::Plan {
        return;
    }
    state.busy = None;
    match plan {
        Ok(plan) => {
            state.error = None;
            state.replace_asked = false;
            state.plan_id = crate::storage::setid::SetId::new(state.now).to_string();
            state.prompt = plan.problems.is_empty().then(|| Prompt {
                text: "This restores the database, files and secrets above.".into(),
                typed: String::new(),
                expect: plan.database.clone(),
            });
            state.plan = Some(plan);
        }
        Err(e) => state.error = Some(e),
    }
}

fn on_plan(state: &mut RecoverState, action: Action) -> RecoverEffect {
    match action {
        Action::Back => {
            state.stage = Stage::Target;
            state.plan = None;
            state.error = None;
            state.busy = None;
        }
        Action::Up => state.plan_scroll = state.plan_scroll.saturating_sub(1),
        Action::Down => scroll_down(state),
        Action::Top | Action::Bottom => scroll_to(state, action),
        _ => {}
    }
    RecoverEffect::None
}

/// Home or End of the plan (the drawing keeps the end on the last screenful).
fn scroll_to(state: &mut RecoverState, action: Action) {
    state.plan_scroll = if action == Action::Top {
        0
    } else {
        plan_rows(state)
    };
}

/// An upper bound of how far the plan scrolls: its lines before wrapping.
fn plan_rows(state: &RecoverState) -> u16 {
    state
        .plan
        .as_ref()
        .map(|p| p.text.lines().count() + p.problems.len())
        .unwrap_or(0) as u16
}

fn scroll_down(state: &mut RecoverState) {
    state.plan_scroll = (state.plan_scroll + 1).min(plan_rows(state));
}

/// The typed confirmation: Enter with the name typed goes on; Esc gives up (the plan stays).
fn on_prompt(state: &mut RecoverState, action: Action) -> RecoverEffect {
    match action {
        Action::Back => {
            state.prompt = None;
            state.replace_asked = false;
            if state.stage == Stage::Plan {
                state.stage = Stage::Target;
                state.plan = None;
            }
            RecoverEffect::None
        }
        Action::Up => {
            state.plan_scroll = state.plan_scroll.saturating_sub(1);
            RecoverEffect::None
        }
        Action::Down => {
            scroll_down(state);
            RecoverEffect::None
        }
        Action::Top | Action::Bottom => {
            scroll_to(state, action);
            RecoverEffect::None
        }
        Action::Open => confirm(state),
        _ => RecoverEffect::None,
    }
}

fn confirm(state: &mut RecoverState) -> RecoverEffect {
    let Some(p) = state.prompt.clone() else {
        return RecoverEffect::None;
    };
    if p.typed.trim() != p.expect {
        state.error = Some(format!(
            "`{}` is not `{}`: type the database name exactly",
            p.typed.trim(),
            p.expect
        ));
        if let Some(p) = &mut state.prompt {
            p.typed.clear();
        }
        return RecoverEffect::None;
    }
    state.error = None;
    if state.stage == Stage::Run {
        state.prompt = None;
        let Some(run) = &state.run else {
            return RecoverEffect::None;
        };
        return RecoverEffect::Resume {
            id: run.id.clone(),
            replace: Some(p.expect),
        };
    }
    let holds = state.plan.as_ref().and_then(|pl| pl.holds.clone());
    if let (Some(holds), false) = (holds, state.replace_asked) {
        state.replace_asked = true;
        state.prompt = Some(Prompt {
            text: format!(
                "The target holds {holds}: it will be DROPPED and restored again. Type its name again."
            ),
            typed: String::new(),
            expect: p.expect,
        });
        return RecoverEffect::None;
    }
    if let Err(e) = state.worker_args() {
        state.error = Some(e);
        return RecoverEffect::None;
    }
    state.prompt = None;
    let Some(argv) = state.start_args() else {
        return RecoverEffect::None;
    };
    let id = state.plan_id.clone();
    RecoverEffect::Start { argv, id }
}

/// The worker's line as started: the plan's line, confirmed (`--yes`), named (`--recovery`),
/// and `--replace-target` when the operator typed the name again.
pub fn start_line(mut argv: Vec<String>, id: &str, replace: Option<&str>) -> Vec<String> {
    argv.extend(["--recovery".to_string(), id.to_string(), "--yes".into()]);
    if let Some(name) = replace {
        argv.extend(["--replace-target".to_string(), name.to_string()]);
    }
    argv
}

/// The resume line for recovery `id`.
pub fn resume_line(id: &str, replace: Option<&str>) -> Vec<String> {
    let mut argv: Vec<String> = ["recover", "--resume", "--recovery", id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(name) = replace {
        argv.extend(["--replace-target".to_string(), name.to_string()]);
    }
    argv
}

fn on_run(state: &mut RecoverState, action: Action) -> RecoverEffect {
    let Some(run) = &state.run else {
        return RecoverEffect::None;
    };
    let idle = run.stopped_at().is_some() || (run.finished() && !run.child_alive);
    // Back from a recovery that nothing runs: the form, to start another one.
    if action == Action::Back && idle {
        state.run = None;
        state.stage = Stage::Form;
        return RecoverEffect::None;
    }
    // r resumes a stopped recovery (the keymap's restore key).
    if action != Action::Restore || run.stopped_at().is_none() {
        return RecoverEffect::None;
    }
    let id = run.id.clone();
    if run.restore_cut_off() {
        let name = run
            .book
            .as_ref()
            .map(|b| b.database.clone())
            .unwrap_or_default();
        state.prompt = Some(Prompt {
            text: "pg_restore was cut off: the target may hold part of the data. It will be emptied and restored again.".into(),
            typed: String::new(),
            expect: name,
        });
        return RecoverEffect::None;
    }
    RecoverEffect::Resume { id, replace: None }
}

/// The worker was started (or resumed): watch recovery `id`.
pub fn on_started(state: &mut RecoverState, run: RunView) {
    state.stage = Stage::Run;
    state.prompt = None;
    state.editing = false;
    state.run = Some(run);
}

/// A new read of the runbook and the lock.
pub fn on_polled(
    state: &mut RecoverState,
    book: Option<Runbook>,
    worker: Worker,
    exited: Option<i32>,
    child_alive: bool,
    log_tail: Vec<String>,
) {
    if let Some(run) = &mut state.run {
        run.child_alive = child_alive;
        if book.is_some() {
            run.book = book;
        }
        run.worker = worker;
        if exited.is_some() {
            run.exited = exited;
        }
        run.log_tail = log_tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::setid::SetId;

    fn state() -> RecoverState {
        RecoverState::new(
            "2026-12-05T09:00:00Z".parse().unwrap(),
            "/var/lib/postgresql/lifeboat-recovered".into(),
        )
    }

    fn type_in(s: &mut RecoverState, text: &str) {
        for c in text.chars() {
            on_char(s, c);
        }
    }

    #[test]
    fn the_form_makes_the_line_an_operator_could_type() {
        let mut s = state();
        assert_eq!(on_action(&mut s, Action::Open), RecoverEffect::None);
        assert!(s.typing());
        type_in(&mut s, "s3://b/p");
        on_action(&mut s, Action::Open);
        assert!(!s.typing() && s.form_focus == F_ENDPOINT);
        // q quits only when not typing.
        assert_eq!(on_action(&mut s, Action::Quit), RecoverEffect::Quit);
        s.form_focus = F_LIST;
        // No passphrase file and no keyring: refused in words, nothing loads.
        assert_eq!(on_action(&mut s, Action::Open), RecoverEffect::None);
        assert!(s.error.as_deref().unwrap().contains("passphrase file"));
        s.form_focus = F_PASSFILE;
        on_action(&mut s, Action::Open);
        type_in(&mut s, "/kit/pass phrase");
        on_action(&mut s, Action::Open);
        assert_eq!(s.form_focus, F_LIST);
        let effect = on_action(&mut s, Action::Open);
        let argv = match effect {
            RecoverEffect::ListSets(a) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            s.shell_line(&argv),
            "lifeboat recover --repository s3://b/p --passphrase-file '/kit/pass phrase'"
        );
        let now = s.now;
        on_sets_loaded(
            &mut s,
            Ok(vec![RemoteSet {
                id: SetId::parse("20261205T080000Z-a1b2").unwrap(),
                started_at: now,
                stored_bytes: 10,
                verified: true,
            }]),
        );
        on_action(&mut s, Action::Open);
        assert_eq!(s.stage, Stage::Target);
        // The suggestion is replaced by what is typed.
        on_action(&mut s, Action::Open);
        type_in(&mut s, "/srv/pg");
        on_action(&mut s, Action::Open);
        s.target_focus = T_PLAN;
        let argv = match on_action(&mut s, Action::Open) {
            RecoverEffect::Plan(a) => a,
            other => panic!("{other:?}"),
        };
        assert!(s
            .shell_line(&argv)
            .ends_with("--set 20261205T080000Z-a1b2 --new-cluster /srv/pg"));
        on_plan_loaded(
            &mut s,
            Ok(PlanView {
                text: "plan".into(),
                problems: vec![],
                database: "shop".into(),
                holds: Some("3 tables".into()),
            }),
        );
        // A wrong name is refused; the right one twice (the target holds data) starts.
        type_in(&mut s, "shap");
        assert_eq!(on_action(&mut s, Action::Open), RecoverEffect::None);
        assert!(s.error.is_some());
        type_in(&mut s, "shop");
        assert_eq!(on_action(&mut s, Action::Open), RecoverEffect::None);
        assert!(s.replace_asked);
        type_in(&mut s, "shop");
        match on_action(&mut s, Action::Open) {
            RecoverEffect::Start { id, argv } => {
                assert!(s
                    .shell_line(&argv)
                    .ends_with(&format!("--recovery {id} --yes --replace-target shop")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plan_arriving_after_the_operator_went_back_is_dropped() {
        let mut s = state();
        s.stage = Stage::Plan;
        s.busy = Some("making the plan".into());
        on_action(&mut s, Action::Back);
        assert_eq!((s.stage, s.busy.as_deref()), (Stage::Target, None));
        on_plan_loaded(
            &mut s,
            Ok(PlanView {
                text: "plan".into(),
                problems: vec![],
                database: "shop".into(),
                holds: None,
            }),
        );
        assert!(s.plan.is_none() && s.prompt.is_none() && !s.typing());
    }

    fn run_view(worker: Worker, pg_restore: StepState) -> RunView {
        let mut book = Runbook::new(
            "r1".into(),
            crate::jobs::recover::RecoverSpec {
                repository: Default::default(),
                secrets_repository: None,
                key: crate::jobs::recover::KeySource::Keyring,
                set: None,
                target: crate::jobs::recover::TargetChoice::Url("postgresql:///shop".into()),
                files_prefix: None,
                config_out: "/c".into(),
                pg_bin_dir: None,
                jobs: 1,
                create_roles: false,
                post_restore: Vec::new(),
                health: None,
                freshness_query: None,
                manual: Vec::new(),
                rehearse: false,
            },
            SetId::parse("20261205T080000Z-a1b2").unwrap(),
            "shop".into(),
            "postgresql:///shop".into(),
        );
        for s in &mut book.steps[..3] {
            s.state = StepState::Done;
        }
        book.steps[3].state = pg_restore;
        RunView {
            id: "r1".into(),
            runbook_path: "/s/r1.json".into(),
            log: "/s/r1.log".into(),
            book: Some(book),
            worker,
            exited: None,
            log_tail: Vec::new(),
            command: String::new(),
            child_alive: false,
        }
    }

    #[test]
    fn r_resumes_only_a_stopped_recovery_and_asks_for_the_name_after_a_cut_off_restore() {
        let mut s = state();
        on_started(&mut s, run_view(Worker::Running(7), StepState::Running));
        assert_eq!(on_action(&mut s, Action::Restore), RecoverEffect::None);
        assert_eq!(on_action(&mut s, Action::Back), RecoverEffect::None);
        assert_eq!(
            s.stage,
            Stage::Run,
            "Esc leaves a running recovery on screen"
        );

        on_polled(&mut s, None, Worker::Stopped, None, false, Vec::new());
        assert_eq!(s.run.as_ref().unwrap().stopped_at(), Some("pg_restore"));
        assert_eq!(on_action(&mut s, Action::Restore), RecoverEffect::None);
        assert!(s.typing(), "the typed name is asked for first");
        type_in(&mut s, "shop");
        assert_eq!(
            on_action(&mut s, Action::Open),
            RecoverEffect::Resume {
                id: "r1".into(),
                replace: Some("shop".into())
            }
        );

        // Stopped before pg_restore started: r resumes at once.
        let mut s = state();
        on_started(&mut s, run_view(Worker::Stopped, StepState::Pending));
        assert_eq!(
            on_action(&mut s, Action::Restore),
            RecoverEffect::Resume {
                id: "r1".into(),
                replace: None
            }
        );
        // Esc from a stopped recovery: the form, for a new one.
        on_action(&mut s, Action::Back);
        assert_eq!((s.stage, s.run.is_none()), (Stage::Form, true));
        assert_eq!(
            resume_line("r1", Some("shop")).join(" "),
            "recover --resume --recovery r1 --replace-target shop"
        );
    }

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("s3://b/p"), "s3://b/p");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
