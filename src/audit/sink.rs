//! Real-time sinks: each event, as it is recorded, goes to standard output or error as one JSON
//! line, and to webhooks (a Slack-compatible message or the raw JSON event).
//!
//! Design choices:
//! - **The log is the record; sinks are notifications.** An event reaches a sink only after it
//!   is appended to the log, carrying the hash of its line, so a receiver can deduplicate
//!   retried deliveries and check what it got against the log (`audit verify`).
//! - **Nothing waits for a sink.** Each sink has its own thread fed by a bounded queue:
//!   [`Sinks::send`] only enqueues (it never blocks; when a queue is full the event is dropped
//!   from that sink and reported), so a slow or failing webhook, or a stdout pipe nobody reads,
//!   cannot hold up a grant, a revert or the next pass of `watch`. A webhook's thread has its
//!   own small runtime; deliveries are in order, each retried with exponential backoff on
//!   connection failures, timeouts, 408, 429 and 5xx; any other answer is final.
//! - **Exit is bounded.** [`Sinks::finish`] closes the queues and waits at most each webhook's
//!   `timeout` (a stream's 2s) for what is still queued, then reports what was not delivered
//!   and returns; the process exits whatever the endpoint does.
//! - **The URL is a secret.** A Slack webhook URL is a bearer token, so it comes from the
//!   environment (`url_env`), is held as a [`Secret`], and no message ever includes it:
//!   transport errors are stripped of their URL, and sinks are named by their block label.
//! - **Problems are reported, not printed.** The caller passes a [`Reporter`]; the CLI prints
//!   to stderr.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breakglass_provider::Secret;

use super::summary::summarize;
use crate::event::{EventResult, Stamped};
use crate::policy::blocks::{AuditSettings, SinkFormat, SinkKind, SinkSettings};

/// Receives a sentence about each problem (an undeliverable event, a missing URL).
pub type Reporter = Arc<dyn Fn(String) + Send + Sync>;

/// Events a sink's queue holds before it drops new ones.
const QUEUE: usize = 1024;
/// Attempts per event before a webhook gives it up.
const MAX_ATTEMPTS: u32 = 5;
/// The first wait between attempts; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long the command waits at exit for a stream sink to write what is queued.
const STREAM_FLUSH: Duration = Duration::from_secs(2);

/// A standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The running sinks of one command.
pub struct Sinks {
    channels: Vec<Channel>,
    report: Reporter,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("channels", &self.channels.iter().map(|c| &c.name).collect::<Vec<_>>())
            .finish()
    }
}

/// One sink: a queue and the thread that empties it (writing to a stream, or posting to a
/// webhook). Even a stream gets a thread: a full pipe (a stuck log shipper reading stdout)
/// must not block a revert either.
struct Channel {
    name: String,
    /// `None` for `--events json`: every action.
    filter: Option<SinkSettings>,
    /// How long [`Sinks::finish`] waits for the queue to drain.
    flush: Duration,
    queue: Mutex<Option<SyncSender<Stamped>>>,
    drained: Mutex<Receiver<()>>,
    shared: Arc<Shared>,
}

/// What a sink's thread and its owner share.
#[derive(Default)]
struct Shared {
    queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Set by [`Sinks::finish`]: retries stop at this instant.
    deadline: Mutex<Option<Instant>>,
}

impl Shared {
    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Statistics of one sink, for tests and the final report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Events handed to it.
    pub queued: u64,
    /// Events it delivered.
    pub delivered: u64,
    /// Events it gave up on.
    pub failed: u64,
    /// Events dropped because its queue was full.
    pub dropped: u64,
}

impl Sinks {
    /// Starts the sinks `settings` declares, plus `events` (the `--events json` flag) if given.
    /// `env` reads environment variables (for `url_env`). A sink that cannot start is reported
    /// and left out; the others run.
    pub fn start(
        settings: &AuditSettings,
        events: Option<Stream>,
        env: &dyn Fn(&str) -> Option<String>,
        report: Reporter,
    ) -> Self {
        let mut started = Vec::new();
        if let Some(stream) = events {
            started.push(Channel::stream("--events", None, stream, report.clone()));
        }
        for sink in settings.sinks.values() {
            started.push(match sink.kind {
                SinkKind::Stdout => {
                    Channel::stream(&sink.name, Some(sink), Stream::Stdout, report.clone())
                }
                SinkKind::Stderr => {
                    Channel::stream(&sink.name, Some(sink), Stream::Stderr, report.clone())
                }
                SinkKind::Webhook => webhook_url(sink, env)
                    .and_then(|url| Channel::webhook(sink, url, report.clone())),
            });
        }
        let mut channels = Vec::new();
        for channel in started {
            match channel {
                Ok(channel) => channels.push(channel),
                Err(problem) => report(problem),
            }
        }
        Self { channels, report }
    }

    /// Whether any sink runs.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Hands `stamped` to every sink that wants it. Only enqueues: never blocks on a stream or
    /// the network.
    pub fn send(&self, stamped: &Stamped) {
        let action = stamped.event.action.as_str();
        for channel in &self.channels {
            if channel.filter.as_ref().is_none_or(|s| s.wants(action)) {
                channel.enqueue(stamped, &self.report);
            }
        }
    }

    /// Closes the queues and waits, at most each sink's flush time (a webhook's `timeout`), for
    /// them to drain; then reports what was not delivered. Returns each sink's statistics.
    pub fn finish(&self) -> Vec<(String, Delivery)> {
        let started = Instant::now();
        for channel in &self.channels {
            *channel.shared.deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(started + channel.flush);
            channel.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        }
        let mut deliveries = Vec::new();
        for channel in &self.channels {
            let wait = (started + channel.flush).saturating_duration_since(Instant::now());
            let drained = channel
                .drained
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .recv_timeout(wait)
                .is_ok();
            let delivery = channel.delivery();
            let pending = delivery
                .queued
                .saturating_sub(delivery.delivered + delivery.failed + delivery.dropped);
            if !drained && pending > 0 {
                (self.report)(format!(
                    "sink \"{}\": {pending} event(s) not delivered within {} at exit; they are in \
                     the audit log",
                    channel.name,
                    crate::policy::Duration::from_secs(channel.flush.as_secs())
                ));
            }
            deliveries.push((channel.name.clone(), delivery));
        }
        deliveries
    }
}

/// The webhook's URL, from `url` or the environment variable `url_env` names.
fn webhook_url(
    sink: &SinkSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, String> {
    let name = &sink.name;
    let text = match (&sink.url, &sink.url_env) {
        (Some(url), _) => url.clone(),
        (None, Some(variable)) => env(variable).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            format!(
                "sink \"{name}\": the environment variable {variable} is not set; events are not \
                 sent to it"
            )
        })?,
        (None, None) => return Err(format!("sink \"{name}\" has no URL; events are not sent to it")),
    };
    match reqwest::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Secret::new(url.to_string())),
        _ => Err(format!(
            "sink \"{name}\": its URL{} is not an http(s) URL; events are not sent to it",
            sink.url_env.as_ref().map_or_else(String::new, |v| format!(" (from {v})"))
        )),
    }
}

impl Channel {
    /// Starts the thread that runs `body` on the queue.
    fn start(
        name: &str,
        filter: Option<&SinkSettings>,
        flush: Duration,
        body: impl FnOnce(Receiver<Stamped>, Arc<Shared>) + Send + 'static,
    ) -> Result<Self, String> {
        let (queue, receiver) = sync_channel::<Stamped>(QUEUE);
        let (drained_tx, drained) = sync_channel::<()>(1);
        let shared = Arc::new(Shared::default());
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name(format!("sink-{name}"))
            .spawn(move || {
                body(receiver, for_thread);
                let _ = drained_tx.send(());
            })
            .map_err(|error| format!("sink \"{name}\": cannot start: {error}"))?;
        Ok(Self {
            name: name.to_owned(),
            filter: filter.cloned(),
            flush,
            queue: Mutex::new(Some(queue)),
            drained: Mutex::new(drained),
            shared,
        })
    }

    /// A sink writing one JSON line per event to `stream`.
    fn stream(
        name: &str,
        filter: Option<&SinkSettings>,
        stream: Stream,
        report: Reporter,
    ) -> Result<Self, String> {
        let label = name.to_owned();
        Self::start(name, filter, STREAM_FLUSH, move |queue, shared| {
            let mut broken = false;
            while let Ok(stamped) = queue.recv() {
                let mut line = serde_json::to_string(&stamped).unwrap_or_default();
                line.push('\n');
                let written = match stream {
                    Stream::Stdout => write_all(&mut std::io::stdout().lock(), &line),
                    Stream::Stderr => write_all(&mut std::io::stderr().lock(), &line),
                };
                match written {
                    Ok(()) => shared.delivered.fetch_add(1, Ordering::SeqCst),
                    Err(error) => {
                        if !broken {
                            broken = true;
                            report(format!("sink \"{label}\": cannot write: {error}"));
                        }
                        shared.failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        })
    }

    /// A sink posting each event to a webhook.
    fn webhook(settings: &SinkSettings, url: Secret, report: Reporter) -> Result<Self, String> {
        let worker = Worker {
            name: settings.name.clone(),
            url,
            format: settings.format,
            timeout: settings.timeout.to_std(),
            report,
        };
        Self::start(
            &settings.name,
            Some(settings),
            settings.timeout.to_std(),
            move |queue, shared| {
                worker.run(queue, &shared);
            },
        )
    }

    fn enqueue(&self, stamped: &Stamped, report: &Reporter) {
        let queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(queue) = queue.as_ref() else { return };
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        match queue.try_send(stamped.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::SeqCst);
                report(format!(
                    "sink \"{}\": {} events are waiting; {} ({}) was not queued (it is in the \
                     audit log)",
                    self.name,
                    QUEUE,
                    stamped.event.action,
                    short(&stamped.hash)
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn delivery(&self) -> Delivery {
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        Delivery {
            queued: load(&self.shared.queued),
            delivered: load(&self.shared.delivered),
            failed: load(&self.shared.failed),
            dropped: load(&self.shared.dropped),
        }
    }
}

fn write_all(out: &mut dyn Write, line: &str) -> std::io::Result<()> {
    out.write_all(line.as_bytes())?;
    out.flush()
}

/// A webhook's background thread.
struct Worker {
    name: String,
    url: Secret,
    format: SinkFormat,
    timeout: Duration,
    report: Reporter,
}

impl Worker {
    fn run(self, queue: Receiver<Stamped>, shared: &Shared) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                (self.report)(format!("sink \"{}\": cannot start: {error}", self.name));
                return;
            }
        };
        let client = match reqwest::Client::builder()
            .user_agent(concat!("breakglass/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(3)))
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                (self.report)(format!(
                    "sink \"{}\": cannot set up an HTTP client: {}",
                    self.name,
                    error.without_url()
                ));
                return;
            }
        };
        while let Ok(stamped) = queue.recv() {
            let body = payload(self.format, &stamped);
            match runtime.block_on(self.deliver(&client, body, shared)) {
                Ok(()) => {
                    shared.delivered.fetch_add(1, Ordering::SeqCst);
                }
                Err(why) => {
                    shared.failed.fetch_add(1, Ordering::SeqCst);
                    (self.report)(format!(
                        "sink \"{}\": {} ({}) not delivered: {why}; it is in the audit log",
                        self.name,
                        stamped.event.action,
                        short(&stamped.hash)
                    ));
                }
            }
        }
    }

    async fn deliver(
        &self,
        client: &reqwest::Client,
        body: Vec<u8>,
        shared: &Shared,
    ) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = client
                .post(self.url.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let (why, retryable) = match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let retryable = status.is_server_error()
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                    (format!("the endpoint answered {status}"), retryable)
                }
                Err(error) => {
                    let what = if error.is_timeout() {
                        "timed out"
                    } else if error.is_connect() {
                        "could not connect"
                    } else {
                        "the request failed"
                    };
                    (format!("{what} ({})", error.without_url()), true)
                }
            };
            let attempts =
                if attempt == 1 { "1 attempt".to_owned() } else { format!("{attempt} attempts") };
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(format!("{why}, after {attempts}"));
            }
            let wait = backoff(attempt);
            if shared.deadline().is_some_and(|deadline| Instant::now() + wait >= deadline) {
                return Err(format!("{why}, after {attempts}; the command was exiting"));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// The wait after failed attempt `attempt` (1-based): doubling from [`FIRST_BACKOFF`], capped
/// at [`MAX_BACKOFF`], with up to a quarter of jitter so many executors do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base =
        FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(10)).min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// What a webhook receives for `stamped`.
pub fn payload(format: SinkFormat, stamped: &Stamped) -> Vec<u8> {
    match format {
        SinkFormat::Json => serde_json::to_vec(stamped).unwrap_or_default(),
        SinkFormat::Slack => {
            let marker = match stamped.event.result {
                EventResult::Ok => "",
                EventResult::Refused => "[refused] ",
                EventResult::Failed => "[FAILED] ",
            };
            // Events about a request carry the link to its page in the console.
            let link = stamped.event.details["link"]
                .as_str()
                .filter(|l| !l.is_empty())
                .map_or_else(String::new, |l| format!(" <{l}>"));
            let text = format!(
                "breakglass: {marker}{} (`{}` at {}, event {}){link}",
                summarize(&stamped.event),
                stamped.event.action,
                stamped.event.time,
                short(&stamped.hash)
            );
            serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap_or_default()
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Event, action};
    use crate::diagnostics::{Position, SourceRange};
    use crate::policy::Duration as PolicyDuration;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;

    fn stamped(action: &str) -> Stamped {
        Stamped {
            event: Event::new("alice", action, EventResult::Ok).activation("act_1"),
            hash: "ab".repeat(32),
        }
    }

    fn webhook(name: &str, url: Option<&str>, url_env: Option<&str>) -> SinkSettings {
        SinkSettings {
            name: name.to_owned(),
            kind: SinkKind::Webhook,
            url: url.map(str::to_owned),
            url_env: url_env.map(str::to_owned),
            format: SinkFormat::Json,
            actions: Vec::new(),
            timeout: PolicyDuration::from_secs(2),
            range: SourceRange {
                filename: "main.hcl".into(),
                start: Position { line: 1, column: 1, byte: 0 },
                end: Position { line: 1, column: 1, byte: 0 },
            },
        }
    }

    fn collect() -> (Reporter, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        (Arc::new(move |m| sink.lock().unwrap().push(m)), seen)
    }

    /// A server that answers each request with the next status of `statuses` (then 200), and
    /// records the bodies it answered 200 to.
    fn server(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/SECRET-TOKEN", listener.local_addr().unwrap());
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let record = accepted.clone();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let status = statuses.next().unwrap_or(200);
                if status == 200 {
                    record.lock().unwrap().push(String::from_utf8(body).unwrap());
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        (url, accepted)
    }

    #[test]
    fn a_webhook_retries_a_500_and_delivers_each_event_once() {
        let (url, accepted) = server(vec![500]);
        let mut settings = AuditSettings::default();
        settings.sinks.insert("hook".to_owned(), webhook("hook", None, Some("HOOK_URL")));
        let (report, problems) = collect();
        let sinks = Sinks::start(&settings, None, &|_| Some(url.clone()), report);
        sinks.send(&stamped(action::ACTIVATION_ACTIVE));
        sinks.send(&stamped(action::ACTIVATION_REVERTED));
        let deliveries = sinks.finish();
        assert_eq!(
            deliveries[0].1,
            Delivery { queued: 2, delivered: 2, failed: 0, dropped: 0 },
            "{:?}",
            problems.lock().unwrap()
        );
        let bodies = accepted.lock().unwrap();
        assert_eq!(bodies.len(), 2);
        assert!(bodies[0].contains("\"action\":\"activation.active\""), "{}", bodies[0]);
        assert!(bodies[0].contains(&format!("\"hash\":\"{}\"", "ab".repeat(32))));
        assert!(problems.lock().unwrap().is_empty());
    }

    #[test]
    fn a_final_4xx_is_reported_without_the_url() {
        let (url, accepted) = server(vec![404]);
        let mut settings = AuditSettings::default();
        settings.sinks.insert("hook".to_owned(), webhook("hook", Some(&url), None));
        let (report, problems) = collect();
        let sinks = Sinks::start(&settings, None, &|_| None, report);
        sinks.send(&stamped(action::REFUSAL));
        let deliveries = sinks.finish();
        assert_eq!(deliveries[0].1.failed, 1);
        assert!(accepted.lock().unwrap().is_empty());
        let problems = problems.lock().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("answered 404"), "{}", problems[0]);
        assert!(problems[0].contains("after 1 attempt"), "{}", problems[0]);
        assert!(!problems[0].contains("SECRET-TOKEN"), "{}", problems[0]);
    }

    #[test]
    fn an_unreachable_webhook_does_not_hold_up_finish_beyond_its_timeout() {
        // A listener that accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/SECRET-TOKEN", listener.local_addr().unwrap());
        let _held = std::thread::spawn(move || {
            let _connections: Vec<_> = listener.incoming().take(10).collect();
        });
        let mut settings = AuditSettings::default();
        let mut hook = webhook("slow", Some(&url), None);
        hook.timeout = PolicyDuration::from_secs(1);
        settings.sinks.insert("slow".to_owned(), hook);
        let (report, problems) = collect();
        let sinks = Sinks::start(&settings, None, &|_| None, report);
        let sent = Instant::now();
        for _ in 0..3 {
            sinks.send(&stamped(action::APPLY_CHANGE));
        }
        assert!(sent.elapsed() < Duration::from_millis(100), "send does not wait");
        sinks.finish();
        assert!(sent.elapsed() < Duration::from_millis(1800), "took {:?}", sent.elapsed());
        let problems = problems.lock().unwrap();
        assert!(problems.iter().any(|p| p.contains("not delivered")), "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("SECRET-TOKEN")), "{problems:?}");
    }

    #[test]
    fn a_missing_url_variable_is_reported_and_the_sink_left_out() {
        let mut settings = AuditSettings::default();
        settings.sinks.insert("slack".to_owned(), webhook("slack", None, Some("SLACK_URL")));
        let (report, problems) = collect();
        let sinks = Sinks::start(&settings, None, &|_| None, report);
        assert!(sinks.is_empty());
        assert_eq!(
            problems.lock().unwrap().as_slice(),
            [
                "sink \"slack\": the environment variable SLACK_URL is not set; events are not sent to it"
            ]
        );
    }

    #[test]
    fn actions_filter_with_prefixes() {
        let mut sink = webhook("s", None, None);
        assert!(sink.wants("apply.change"));
        sink.actions = vec!["refusal".to_owned(), "activation.*".to_owned()];
        assert!(sink.wants("refusal"));
        assert!(sink.wants("activation.expired"));
        assert!(!sink.wants("apply.change"));
        assert!(!sink.wants("refusals"));
    }

    #[test]
    fn slack_payloads_are_one_text_field() {
        let mut event = stamped(action::REFUSAL);
        event.event.result = EventResult::Refused;
        event.event.reason = Some("quorum not met".to_owned());
        let body: serde_json::Value =
            serde_json::from_slice(&payload(SinkFormat::Slack, &event)).unwrap();
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 1);
        let text = object["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "breakglass: [refused] refused (alice): quorum not met (`refusal` at "
            ),
            "{text}"
        );
    }

    #[test]
    fn slack_payloads_carry_the_console_link() {
        let mut stamped = stamped("request");
        stamped.event.details =
            serde_json::json!({ "link": "https://console.example/requests/act_1" });
        let body = payload(SinkFormat::Slack, &stamped);
        let object: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            object["text"].as_str().unwrap().ends_with(" <https://console.example/requests/act_1>")
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(1) < FIRST_BACKOFF * 2);
        assert!(backoff(2) >= FIRST_BACKOFF * 2);
        assert!(backoff(30) <= MAX_BACKOFF + MAX_BACKOFF / 4);
    }
}
