//! Group commit, for both backends: one writer task per store takes the next
//! write, begins a transaction, runs it and every write that arrived
//! meanwhile (each in a savepoint of its own, so a failing one rolls back
//! alone), then commits them together and answers their callers. One commit,
//! one fsync, for the whole group; a caller is answered only after it.
//!
//! A caller that gives up (a timeout) does not interrupt the writer: its
//! write still commits or not as a whole, and a retry with the same request
//! id finds it.

use super::{BoxFuture, Error, Result, StoreEvent};
use tokio::sync::{mpsc, oneshot};

/// Called once the group's fate is known: `None` committed, `Some` failed.
type Outcome = Box<dyn FnOnce(Option<&Error>) + Send>;

/// One caller's write: runs on the group's connection (`None`: no transaction
/// could be begun), says whether it succeeded, and how to answer its caller.
pub(crate) type Job<C> =
    Box<dyn for<'c> FnOnce(Option<&'c mut C>) -> BoxFuture<'c, (bool, Outcome)> + Send>;

/// A write's result and the events to announce once it is committed.
pub(crate) type Written<R> = Result<(R, Vec<StoreEvent>)>;

/// Writes waiting for the writer before callers wait to queue.
const QUEUE: usize = 4096;

/// How a backend runs a group's transaction.
pub(crate) trait Session: Send + 'static {
    type Conn: Send + 'static;
    /// Most writes one transaction carries.
    const MAX_GROUP: usize;
    /// Begins a group's transaction (taking whatever locks every group needs first).
    fn begin(&mut self) -> BoxFuture<'_, Result<()>>;
    /// The connection the open transaction runs on.
    fn conn(&mut self) -> &mut Self::Conn;
    fn exec(&mut self, sql: &'static str) -> BoxFuture<'_, Result<()>>;
    /// Commits the open transaction.
    fn commit(&mut self) -> BoxFuture<'_, Result<()>>;
    /// Ends the open transaction without keeping anything (after a failure).
    fn abandon(&mut self) -> BoxFuture<'_, ()>;
}

/// The sending side of a store's writer task.
pub(crate) struct Writer<C> {
    jobs: mpsc::Sender<Job<C>>,
}

impl<C: Send + 'static> Writer<C> {
    /// Starts the writer task on `session`; it ends when the `Writer` is dropped.
    pub fn start<S: Session<Conn = C>>(session: S, name: &'static str) -> Writer<C> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(session, queue, name));
        Writer { jobs }
    }

    /// Runs `f` in the writer's next group and answers once the group committed.
    pub async fn write<R, F>(&self, f: F) -> Written<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut C) -> BoxFuture<'c, Written<R>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Written<R>>();
        let job: Job<C> = Box::new(move |conn| {
            Box::pin(async move {
                let result = match conn {
                    Some(conn) => Some(f(conn).await),
                    None => None,
                };
                let ok = matches!(result, Some(Ok(_)));
                let outcome: Outcome = Box::new(move |group: Option<&Error>| {
                    let _ = answer.send(match (result, group) {
                        (Some(Err(e)), _) => Err(e),
                        (_, Some(e)) => Err(e.clone()),
                        (Some(Ok(value)), None) => Ok(value),
                        (None, None) => Err(Error::Internal("the write was not run".into())),
                    });
                });
                (ok, outcome)
            })
        });
        let stopped = || Error::Unavailable("the database writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

async fn run<S: Session>(mut session: S, mut queue: mpsc::Receiver<Job<S::Conn>>, name: &str) {
    let sizes = GROUP_SIZE.with_label_values(&[name]);
    while let Some(first) = queue.recv().await {
        if let Err(e) = session.begin().await {
            let (_, outcome) = first(None).await;
            outcome(Some(&e));
            continue;
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut broken = None;
        // The first write runs without a savepoint: if it fails, it is alone
        // in the transaction, which is then abandoned. Writes that join later
        // get savepoints, so that one failing leaves the others in.
        let (ok, outcome) = first(Some(session.conn())).await;
        outcomes.push(outcome);
        if !ok {
            session.abandon().await;
            sizes.observe(1.0);
            for outcome in outcomes {
                outcome(None);
            }
            continue;
        }
        // Each later write runs in a savepoint; closing one and opening the
        // next is one round trip.
        let mut next = queue.try_recv().ok();
        if next.is_some()
            && let Err(e) = session.exec("SAVEPOINT write").await
        {
            broken = Some(e);
        }
        while broken.is_none()
            && let Some(job) = next.take()
        {
            let (ok, outcome) = job(Some(session.conn())).await;
            outcomes.push(outcome);
            if !ok && let Err(e) = session.exec("ROLLBACK TO write").await {
                broken = Some(e);
                break;
            }
            if outcomes.len() < S::MAX_GROUP {
                next = queue.try_recv().ok();
            }
            let close = match next {
                Some(_) => "RELEASE write; SAVEPOINT write",
                None => "RELEASE write",
            };
            // A savepoint that cannot be closed fails the whole group rather
            // than commit half a write (the connection is gone, usually).
            if let Err(e) = session.exec(close).await {
                broken = Some(e);
            }
        }
        // A write taken from the queue but not run is answered with the group's failure.
        if let Some(job) = next {
            let (_, outcome) = job(None).await;
            outcomes.push(outcome);
        }
        let failure = match broken {
            Some(e) => {
                session.abandon().await;
                Some(e)
            }
            None => match session.commit().await {
                Ok(()) => None,
                Err(e) => {
                    session.abandon().await;
                    Some(e)
                }
            },
        };
        if let Some(e) = &failure {
            tracing::warn!(store = name, error = %e, writes = outcomes.len(), "group commit failed");
        }
        sizes.observe(outcomes.len() as f64);
        for outcome in outcomes {
            outcome(failure.as_ref());
        }
    }
}

static GROUP_SIZE: std::sync::LazyLock<prometheus::HistogramVec> = std::sync::LazyLock::new(|| {
    prometheus::register_histogram_vec!(
        "replygate_group_commit_writes",
        "Writes made durable by one commit (one fsync), by store",
        &["store"],
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    )
    .unwrap()
});
