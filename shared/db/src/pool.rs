//! The connection pool of a service, named after its schema, measured as
//! the OpenTelemetry database-client conventions name a pool's metrics:
//! connections by state, the most it opens, calls waiting, how long they
//! wait, and how many give up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, PoolError, Status, Timeouts};

/// A pool of connections to one service's schema. Cloning shares it.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Named>,
}

struct Named {
    pool: deadpool_postgres::Pool,
    name: String,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.inner.name)
            .field("status", &self.status())
            .finish()
    }
}

impl Pool {
    /// `pool` named `name` (its schema); its state gauges are sampled on
    /// every metrics scrape for as long as it lives.
    pub fn new(pool: deadpool_postgres::Pool, name: &str) -> Self {
        let inner = Arc::new(Named {
            pool,
            name: name.to_string(),
        });
        estate_telemetry::metrics::sample_while(&inner, Named::sample);
        Self { inner }
    }

    /// The pool's name (its schema).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A connection, waiting at most the pool's wait timeout.
    pub async fn get(&self) -> Result<Object, PoolError> {
        self.timed(self.inner.pool.get()).await
    }

    /// A connection only if one is free now, without waiting.
    pub async fn get_if_free(&self) -> Option<Object> {
        let timeouts = Timeouts {
            wait: Some(Duration::ZERO),
            ..self.inner.pool.timeouts()
        };
        self.inner.pool.timeout_get(&timeouts).await.ok()
    }

    /// Sizes and waiters now.
    pub fn status(&self) -> Status {
        self.inner.pool.status()
    }

    /// Closes the pool: idle connections are dropped, `get` fails.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    async fn timed(
        &self,
        get: impl Future<Output = Result<Object, PoolError>>,
    ) -> Result<Object, PoolError> {
        let started = Instant::now();
        let result = get.await;
        let pool = self.inner.name.clone();
        metrics::histogram!("db_client_connection_wait_time_seconds", "pool_name" => pool.clone())
            .record(started.elapsed().as_secs_f64());
        if let Err(PoolError::Timeout(_)) = &result {
            metrics::counter!("db_client_connection_timeouts_total", "pool_name" => pool)
                .increment(1);
        }
        result
    }
}

impl Named {
    fn sample(&self) {
        let status = self.pool.status();
        let name = self.name.clone();
        let used = status.size.saturating_sub(status.available);
        for (state, count) in [("idle", status.available), ("used", used)] {
            metrics::gauge!("db_client_connection_count", "pool_name" => name.clone(), "state" => state)
                .set(count as f64);
        }
        metrics::gauge!("db_client_connection_max", "pool_name" => name.clone())
            .set(status.max_size as f64);
        metrics::gauge!("db_client_connection_pending_requests", "pool_name" => name)
            .set(status.waiting as f64);
    }
}
