//! The instance's LISTEN connection: one dedicated connection (its own pool of one, named
//! `latchkey-listener` in `pg_stat_activity`), never taken from the request pool.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;

use super::{Snapshots, CHANNEL};

/// The `application_name` of the listening connection.
pub const APPLICATION_NAME: &str = "latchkey-listener";

/// Listens until the task is aborted. On a lost connection it marks the snapshots untrusted at
/// once, then reconnects (backing off up to 2 s) and, once listening again, drops everything.
pub async fn run(snapshots: Arc<Snapshots>, pool: PgPool) {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name(APPLICATION_NAME);
    let mut backoff = Duration::from_millis(50);
    loop {
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options.clone());
        match listen(&listener_pool).await {
            Ok(mut listener) => {
                snapshots.relistened();
                backoff = Duration::from_millis(50);
                tracing::info!("listening for configuration changes");
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => snapshots.notified(n.payload()),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "change listener failed");
                            break;
                        }
                    }
                }
                snapshots.lost();
                tracing::warn!("change listener lost; serving from the database until back");
            }
            Err(e) => {
                snapshots.lost();
                tracing::warn!(error = %e, "cannot listen for configuration changes");
            }
        }
        listener_pool.close().await;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnection is ours to do (so the gap is seen), not the listener's.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
