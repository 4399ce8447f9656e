//! `breakglass { … }`: settings for the whole policy.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::diagnostics::{Diagnostic, SourceRange};
use crate::policy::duration::Duration;
use crate::policy::reader::{BlockReader, Presence, header_range};
use crate::policy::reference::{Reference, ReferenceKind};
use crate::policy::spanned::Spanned;

/// Where state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// One SQLite database beside the policy (state and audit log), with a lock file.
    Local,
    /// Tables in a PostgreSQL database shared by many executors.
    Postgres,
}

/// `state { … }` inside `breakglass`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StateSettings {
    /// `"local"` (default) or `"postgres"`.
    pub backend: StateBackend,
    /// The local state database, relative to the policy directory (a path ending in `.json`,
    /// as earlier versions used, names the database beside it with `.db`).
    pub path: String,
    /// The environment variable holding the PostgreSQL connection string (postgres backend).
    pub connection_env: String,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            backend: StateBackend::Local,
            path: ".breakglass/state.db".to_owned(),
            connection_env: "BREAKGLASS_STATE_CONNECTION".to_owned(),
        }
    }
}

/// `audit { … }` inside `breakglass`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditSettings {
    /// Where earlier versions kept the hash-chained audit log as a JSONL file, relative to the
    /// policy directory: `state migrate --from json` carries it into the state's database, where
    /// the log now lives.
    pub path: String,
    /// The hours in which activations are expected; `audit report` flags those outside them.
    /// When left out, the report uses Monday to Friday, 08:00 to 18:00 UTC, and says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<WorkingHours>,
    /// Where `apply`, `reconcile`, `watch` and `revoke` send each event as it is recorded, by
    /// name.
    #[serde(rename = "sink", skip_serializing_if = "BTreeMap::is_empty")]
    pub sinks: BTreeMap<String, SinkSettings>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            path: ".breakglass/audit.jsonl".to_owned(),
            working_hours: None,
            sinks: BTreeMap::new(),
        }
    }
}

/// Where a sink sends events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// An HTTP POST to a URL, in the background, with retries.
    Webhook,
    /// One JSON line per event on standard output.
    Stdout,
    /// One JSON line per event on standard error.
    Stderr,
}

/// The shape of what a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    /// The event as recorded, plus its `hash` (receivers deduplicate retries by it).
    Json,
    /// A Slack-compatible message: `{"text": "…"}` (Slack, Mattermost, Teams workflows).
    Slack,
}

/// `sink "NAME" { … }` inside `audit`: a real-time destination for events.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SinkSettings {
    /// The block's name.
    #[serde(skip)]
    pub name: String,
    /// `"webhook"`, `"stdout"` or `"stderr"`.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// The webhook's URL, for URLs that carry no secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The environment variable holding the webhook's URL, for URLs that carry a token
    /// (a Slack incoming webhook): the URL never appears in the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// `"json"` (default) or `"slack"`.
    pub format: SinkFormat,
    /// Only these actions (`"refusal"`, `"activation.*"`); every action when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// How long one delivery may take, and how long the command waits at exit for deliveries
    /// still queued (default 5s).
    pub timeout: Duration,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl SinkSettings {
    /// Whether the sink wants events with `action`.
    pub fn wants(&self, action: &str) -> bool {
        self.actions.is_empty()
            || self.actions.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => action.starts_with(prefix),
                None => pattern == action,
            })
    }
}

/// A day of the week, as `working_hours` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Day {
    /// The words `days` accepts.
    pub const WORDS: [(&'static str, Day); 7] = [
        ("mon", Day::Mon),
        ("tue", Day::Tue),
        ("wed", Day::Wed),
        ("thu", Day::Thu),
        ("fri", Day::Fri),
        ("sat", Day::Sat),
        ("sun", Day::Sun),
    ];

    /// The day `jiff` calls `weekday`.
    pub fn of(weekday: jiff::civil::Weekday) -> Self {
        use jiff::civil::Weekday;
        match weekday {
            Weekday::Monday => Day::Mon,
            Weekday::Tuesday => Day::Tue,
            Weekday::Wednesday => Day::Wed,
            Weekday::Thursday => Day::Thu,
            Weekday::Friday => Day::Fri,
            Weekday::Saturday => Day::Sat,
            Weekday::Sunday => Day::Sun,
        }
    }

    /// Its three-letter name.
    pub fn as_str(self) -> &'static str {
        Self::WORDS.iter().find(|(_, day)| *day == self).map_or("?", |(word, _)| word)
    }
}

/// `working_hours { … }` inside `audit`: when activations are expected.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WorkingHours {
    /// The working days (default Monday to Friday).
    pub days: Vec<Day>,
    /// When the working day starts, `"HH:MM"` (default `"08:00"`).
    #[schemars(with = "String")]
    #[serde(serialize_with = "serialize_time")]
    pub start: jiff::civil::Time,
    /// When it ends, `"HH:MM"` (default `"18:00"`); after `start`.
    #[schemars(with = "String")]
    #[serde(serialize_with = "serialize_time")]
    pub end: jiff::civil::Time,
    /// The IANA time zone the hours are in (default `"UTC"`).
    pub time_zone: String,
}

fn serialize_time<S: serde::Serializer>(
    time: &jiff::civil::Time,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.strftime("%H:%M").to_string())
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self {
            days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
            start: jiff::civil::time(8, 0, 0, 0),
            end: jiff::civil::time(18, 0, 0, 0),
            time_zone: "UTC".to_owned(),
        }
    }
}

impl WorkingHours {
    /// Whether `at` falls within the hours. An unknown time zone (checked at validate time)
    /// counts as UTC.
    pub fn contains(&self, at: jiff::Timestamp) -> bool {
        let zone = jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let local = at.to_zoned(zone);
        self.days.contains(&Day::of(local.weekday()))
            && local.time() >= self.start
            && local.time() < self.end
    }

    /// `mon–fri 08:00–18:00 UTC`.
    pub fn describe(&self) -> String {
        let days: Vec<&str> = self.days.iter().map(|d| d.as_str()).collect();
        format!(
            "{} {}–{} {}",
            days.join(","),
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M"),
            self.time_zone
        )
    }
}

/// `console { … }` inside `breakglass`: the web console (`breakglass serve`) and the passkeys
/// it ceremonies. The origin and relying-party id are here, in the policy, because
/// `apply --emergency` checks every passkey assertion against them with no server.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ConsoleSettings {
    /// The console's address as browsers reach it (`https://breakglass.example.com`): the
    /// WebAuthn origin every passkey assertion must carry, and the base of the links that
    /// sinks send.
    pub url: String,
    /// The WebAuthn relying-party id (default: the host of `url`).
    pub rp_id: String,
    /// Teams and persons who may see the dashboard and every request.
    pub viewers: Vec<Spanned<Reference>>,
    /// Teams and persons who may sign in to submit requests and see their own requests only.
    /// Approvers always see the requests they may approve.
    pub requesters: Vec<Spanned<Reference>>,
    /// The block header.
    #[serde(skip)]
    pub range: SourceRange,
}

impl ConsoleSettings {
    /// The WebAuthn origin: `url` without a path or a trailing slash.
    pub fn origin(&self) -> String {
        origin_of(&self.url).unwrap_or_else(|| self.url.trim_end_matches('/').to_owned())
    }

    /// The link to a request's page.
    pub fn request_url(&self, id: &str) -> String {
        format!("{}/requests/{id}", self.url.trim_end_matches('/'))
    }
}

/// `scheme://host[:port]` of a URL, if it is http(s).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// The host of an origin (`localhost` of `http://localhost:8080`).
fn host_of(origin: &str) -> Option<&str> {
    let authority = origin.split_once("://")?.1;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    Some(host)
}

fn decode_console(reader: &mut BlockReader<'_>) -> Option<ConsoleSettings> {
    let range = reader.range().clone();
    let url = reader.string("url", Presence::Required)?;
    let Some(origin) = origin_of(&url.value) else {
        reader.push(
            Diagnostic::error(
                "the console url is not an http(s) URL",
                "write the address browsers use, as in url = \"https://breakglass.example.com\" \
                 (http only for localhost)",
            )
            .at(url.range),
        );
        return None;
    };
    let host = host_of(&origin).unwrap_or_default().to_owned();
    if origin.starts_with("http://") && host != "localhost" && !host.ends_with(".localhost") {
        reader.push(
            Diagnostic::error(
                "the console url must be https",
                "browsers allow passkeys only in a secure context: https://, or http://localhost \
                 for a console used on this machine",
            )
            .at(url.range.clone()),
        );
    }
    let rp_id = match reader.string("rp_id", Presence::Optional) {
        None => host.clone(),
        Some(rp) => {
            if host != rp.value && !host.ends_with(&format!(".{}", rp.value)) {
                reader.push(
                    Diagnostic::error(
                        format!("rp_id \"{}\" does not match the console url", rp.value),
                        format!(
                            "the relying-party id must be the url's host ({host}) or a domain it \
                             is under; leave rp_id out to use {host}"
                        ),
                    )
                    .at(rp.range.clone()),
                );
            }
            rp.value
        }
    };
    let people = [ReferenceKind::Person, ReferenceKind::Team];
    let viewers = reader
        .references("viewers", Presence::Optional, &people)
        .map(|list| list.value)
        .unwrap_or_default();
    let requesters = reader
        .references("requesters", Presence::Optional, &people)
        .map(|list| list.value)
        .unwrap_or_default();
    Some(ConsoleSettings { url: url.value, rp_id, viewers, requesters, range })
}

/// `breakglass { … }`: at most one per policy; every attribute has a default.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Settings {
    /// Where state is kept.
    pub state: StateSettings,
    /// Where the audit log is kept.
    pub audit: AuditSettings,
    /// No role or override may last longer than this (default 12h).
    pub max_duration: Duration,
    /// Persons whose keys may sign plans that `apply` accepts.
    pub plan_signers: Vec<Spanned<Reference>>,
    /// How long a saved plan stays applicable (default 1h).
    pub plan_lifetime: Duration,
    /// How long an emergency request waits for approval and apply (default 1h).
    pub request_lifetime: Duration,
    /// How far a requester's or approver's clock may be from the executor's before a time they
    /// signed is refused as skewed (default 2m).
    pub clock_skew_tolerance: Duration,
    /// Provider calls in flight at once (default 10).
    pub parallelism: u32,
    /// The executor's TOTP secrets file, relative to the policy directory. Overridden by the
    /// `BREAKGLASS_TOTP_SECRETS` environment variable. Never commit real secrets to git.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_secrets_file: Option<String>,
    /// The web console, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            state: StateSettings::default(),
            audit: AuditSettings::default(),
            max_duration: Duration::from_hours(12),
            plan_signers: Vec::new(),
            plan_lifetime: Duration::from_hours(1),
            request_lifetime: Duration::from_hours(1),
            clock_skew_tolerance: Duration::from_mins(2),
            parallelism: 10,
            totp_secrets_file: None,
            console: None,
        }
    }
}

impl Settings {
    /// Reads a `breakglass` block.
    pub fn decode(reader: &mut BlockReader<'_>) -> Self {
        let defaults = Self::default();
        let state = reader.blocks("state");
        let state = match state.as_slice() {
            [] => StateSettings::default(),
            [block, rest @ ..] => {
                for extra in rest {
                    let range = crate::policy::reader::header_range(reader.file(), extra);
                    reader.push(
                        Diagnostic::error(
                            "more than one state block",
                            "a policy keeps its state in one place; remove the extra block",
                        )
                        .at(range),
                    );
                }
                let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
                let state = decode_state(&mut inner);
                for diagnostic in inner.finish() {
                    reader.push(diagnostic);
                }
                state
            }
        };
        let audit_blocks = reader.blocks("audit");
        for extra in audit_blocks.iter().skip(1) {
            let range = crate::policy::reader::header_range(reader.file(), extra);
            reader.push(
                Diagnostic::error(
                    "more than one audit block",
                    "a policy keeps one audit log; merge the blocks (sinks go inside it)",
                )
                .at(range),
            );
        }
        let audit = match audit_blocks.first() {
            None => AuditSettings::default(),
            Some(block) => {
                let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
                let audit = decode_audit(&mut inner);
                for diagnostic in inner.finish() {
                    reader.push(diagnostic);
                }
                audit
            }
        };
        let console = match reader.blocks("console").as_slice() {
            [] => None,
            [block, rest @ ..] => {
                for extra in rest {
                    reader.push(
                        Diagnostic::error(
                            "more than one console block",
                            "a policy has one console; remove the extra block",
                        )
                        .at(header_range(reader.file(), extra)),
                    );
                }
                let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
                let console = decode_console(&mut inner);
                for diagnostic in inner.finish() {
                    reader.push(diagnostic);
                }
                console
            }
        };
        Self {
            console,
            state,
            audit,
            max_duration: reader
                .duration("max_duration", Presence::Optional)
                .map_or(defaults.max_duration, |d| d.value),
            plan_signers: reader
                .references("plan_signers", Presence::Optional, &[ReferenceKind::Person])
                .map(|list| list.value)
                .unwrap_or_default(),
            plan_lifetime: reader
                .duration("plan_lifetime", Presence::Optional)
                .map_or(defaults.plan_lifetime, |d| d.value),
            request_lifetime: reader
                .duration("request_lifetime", Presence::Optional)
                .map_or(defaults.request_lifetime, |d| d.value),
            clock_skew_tolerance: reader
                .duration("clock_skew_tolerance", Presence::Optional)
                .map_or(defaults.clock_skew_tolerance, |d| d.value),
            parallelism: match reader.count("parallelism", Presence::Optional) {
                None => defaults.parallelism,
                Some(n) if n.value == 0 => {
                    reader.push(
                        Diagnostic::error(
                            "parallelism must be at least 1",
                            "it is how many provider calls may be in flight at once, as in \
                             parallelism = 10",
                        )
                        .at(n.range),
                    );
                    defaults.parallelism
                }
                Some(n) => n.value,
            },
            totp_secrets_file: reader
                .string("totp_secrets_file", Presence::Optional)
                .map(|path| path.value),
        }
    }
}

fn decode_state(reader: &mut BlockReader<'_>) -> StateSettings {
    let defaults = StateSettings::default();
    StateSettings {
        backend: reader
            .keyword(
                "backend",
                Presence::Optional,
                &[("local", StateBackend::Local), ("postgres", StateBackend::Postgres)],
            )
            .map_or(defaults.backend, |b| b.value),
        path: reader.string("path", Presence::Optional).map_or(defaults.path, |p| p.value),
        connection_env: reader
            .string("connection_env", Presence::Optional)
            .map_or(defaults.connection_env, |p| p.value),
    }
}

fn decode_audit(reader: &mut BlockReader<'_>) -> AuditSettings {
    let defaults = AuditSettings::default();
    let path = reader.string("path", Presence::Optional).map_or(defaults.path, |path| path.value);
    let working_hours = match reader.blocks("working_hours").as_slice() {
        [] => None,
        [block, rest @ ..] => {
            for extra in rest {
                reader.push(
                    Diagnostic::error(
                        "more than one working_hours block",
                        "declare the working hours once; remove the extra block",
                    )
                    .at(header_range(reader.file(), extra)),
                );
            }
            let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
            let hours = decode_working_hours(&mut inner);
            for diagnostic in inner.finish() {
                reader.push(diagnostic);
            }
            Some(hours)
        }
    };
    let mut sinks = BTreeMap::new();
    for block in reader.blocks("sink") {
        let range = header_range(reader.file(), block);
        let [label] = block.labels.as_slice() else {
            reader.push(
                Diagnostic::error(
                    "a sink block needs one label, its name",
                    "write sink \"NAME\" { … }, as in sink \"slack\" { type = \"webhook\", … }",
                )
                .at(range),
            );
            continue;
        };
        let name = label.as_str().to_owned();
        let mut inner = BlockReader::new(block, reader.file(), reader.base_dir());
        if sinks.contains_key(&name) {
            inner.push(
                Diagnostic::error(
                    format!("duplicate sink \"{name}\""),
                    "give each sink a distinct name",
                )
                .at(range.clone()),
            );
        }
        let sink = decode_sink(&mut inner, &name, range);
        for diagnostic in inner.finish() {
            reader.push(diagnostic);
        }
        if let Some(sink) = sink {
            sinks.entry(name).or_insert(sink);
        }
    }
    AuditSettings { path, working_hours, sinks }
}

fn decode_sink(
    reader: &mut BlockReader<'_>,
    name: &str,
    range: SourceRange,
) -> Option<SinkSettings> {
    let kind = reader.keyword(
        "type",
        Presence::Required,
        &[
            ("webhook", SinkKind::Webhook),
            ("stdout", SinkKind::Stdout),
            ("stderr", SinkKind::Stderr),
        ],
    );
    let url = reader.string("url", Presence::Optional);
    let url_env = reader.string("url_env", Presence::Optional);
    let format = reader.keyword(
        "format",
        Presence::Optional,
        &[("json", SinkFormat::Json), ("slack", SinkFormat::Slack)],
    );
    let actions = string_list(reader, "actions");
    let timeout =
        reader.duration("timeout", Presence::Optional).map_or(Duration::from_secs(5), |d| d.value);
    let kind = kind?.value;
    match kind {
        SinkKind::Webhook => match (&url, &url_env) {
            (None, None) => reader.push(
                Diagnostic::error(
                    format!("sink \"{name}\" has no URL"),
                    "a webhook needs url_env = \"VARIABLE\" (the environment variable holding \
                     the URL, for URLs that carry a token) or url = \"https://…\"",
                )
                .at(range.clone()),
            ),
            (Some(url), Some(_)) => reader.push(
                Diagnostic::error(
                    format!("sink \"{name}\" sets both url and url_env"),
                    "keep one: url_env for a URL that carries a token, url for one that does not",
                )
                .at(url.range.clone()),
            ),
            (Some(url), None) => {
                if !(url.value.starts_with("https://") || url.value.starts_with("http://")) {
                    reader.push(
                        Diagnostic::error(
                            format!("invalid url for sink \"{name}\""),
                            format!("{:?} is not an http:// or https:// URL", url.value),
                        )
                        .at(url.range.clone()),
                    );
                } else if url.value.contains("hooks.slack.com") || url.value.contains('?') {
                    reader.push(
                        Diagnostic::warning(
                            format!("the url of sink \"{name}\" looks like it carries a token"),
                            "a URL in the policy is in git for everyone to read; put it in an \
                             environment variable of the executor and write url_env = \"NAME\"",
                        )
                        .at(url.range.clone()),
                    );
                }
            }
            (None, Some(variable)) => {
                let valid = !variable.value.is_empty()
                    && variable.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !variable.value.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    reader.push(
                        Diagnostic::error(
                            format!("invalid url_env for sink \"{name}\""),
                            format!(
                                "{:?} is not an environment variable name: write the variable's \
                                 name (SLACK_WEBHOOK_URL), not its value",
                                variable.value
                            ),
                        )
                        .at(variable.range.clone()),
                    );
                }
            }
        },
        SinkKind::Stdout | SinkKind::Stderr => {
            if let Some(extra) = url
                .as_ref()
                .map(|u| u.range.clone())
                .or_else(|| url_env.as_ref().map(|u| u.range.clone()))
            {
                reader.push(
                    Diagnostic::error(
                        format!("sink \"{name}\" writes to a stream and takes no URL"),
                        "remove url / url_env, or set type = \"webhook\"",
                    )
                    .at(extra),
                );
            }
        }
    }
    Some(SinkSettings {
        name: name.to_owned(),
        kind,
        url: url.map(|u| u.value),
        url_env: url_env.map(|u| u.value),
        format: format.map_or(SinkFormat::Json, |f| f.value),
        actions,
        timeout,
        range,
    })
}

fn decode_working_hours(reader: &mut BlockReader<'_>) -> WorkingHours {
    let defaults = WorkingHours::default();
    let days = match reader.value("days", Presence::Optional) {
        None => defaults.days.clone(),
        Some(value) => {
            let mut days = Vec::new();
            let words = value
                .value
                .as_array()
                .map(|items| items.iter().map(|i| i.as_str()).collect::<Vec<_>>());
            match words {
                Some(words) if words.iter().all(Option::is_some) => {
                    for word in words.into_iter().flatten() {
                        match Day::WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)) {
                            Some((_, day)) if !days.contains(day) => days.push(*day),
                            Some(_) => {}
                            None => reader.push(
                                Diagnostic::error(
                                    "invalid value for \"days\" in working_hours",
                                    format!(
                                        "{word:?} is not a day: write mon, tue, wed, thu, fri, sat or sun"
                                    ),
                                )
                                .at(value.range.clone()),
                            ),
                        }
                    }
                    days.sort();
                }
                _ => reader.push(
                    Diagnostic::error(
                        "wrong type for \"days\" in working_hours",
                        "expected a list of days, as in days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
                    )
                    .at(value.range.clone()),
                ),
            }
            days
        }
    };
    let time = |reader: &mut BlockReader<'_>, name: &'static str, default: jiff::civil::Time| {
        let Some(text) = reader.string(name, Presence::Optional) else {
            return default;
        };
        match parse_clock(&text.value) {
            Some(time) => time,
            None => {
                reader.push(
                    Diagnostic::error(
                        format!("invalid time for \"{name}\" in working_hours"),
                        format!(
                            "{:?} is not a time of day: write \"HH:MM\", as in \"08:30\"",
                            text.value
                        ),
                    )
                    .at(text.range),
                );
                default
            }
        }
    };
    let start = time(reader, "start", defaults.start);
    let end = time(reader, "end", defaults.end);
    if end <= start {
        reader.push(
            Diagnostic::error(
                "working_hours ends before it starts",
                format!(
                    "end ({}) must be after start ({}); hours that span midnight are not supported",
                    end.strftime("%H:%M"),
                    start.strftime("%H:%M")
                ),
            )
            .at(reader.range().clone()),
        );
    }
    let time_zone = match reader.string("time_zone", Presence::Optional) {
        None => defaults.time_zone,
        Some(zone) => {
            if jiff::tz::TimeZone::get(&zone.value).is_err() {
                reader.push(
                    Diagnostic::error(
                        "invalid time_zone in working_hours",
                        format!(
                            "{:?} is not a time zone this machine knows: write an IANA name, as in \
                             \"Europe/Paris\" or \"America/New_York\", or \"UTC\"",
                            zone.value
                        ),
                    )
                    .at(zone.range.clone()),
                );
            }
            zone.value
        }
    };
    WorkingHours { days, start, end, time_zone }
}

/// `"08:30"` as a time of day.
fn parse_clock(text: &str) -> Option<jiff::civil::Time> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (i8, i8) = (hours.parse().ok()?, minutes.parse().ok()?);
    jiff::civil::Time::new(hours, minutes, 0, 0).ok()
}

/// A list of strings (`["refusal", "activation.*"]`).
fn string_list(reader: &mut BlockReader<'_>, name: &'static str) -> Vec<String> {
    let Some(value) = reader.value(name, Presence::Optional) else {
        return Vec::new();
    };
    let strings = value.value.as_array().and_then(|items| {
        items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
    });
    match strings {
        Some(strings) => strings,
        None => {
            reader.push(
                Diagnostic::error(
                    format!("wrong type for \"{name}\" in {}", reader.what()),
                    format!(
                        "expected a list of strings, as in {name} = [\"refusal\", \"activation.*\"]"
                    ),
                )
                .at(value.range),
            );
            Vec::new()
        }
    }
}
