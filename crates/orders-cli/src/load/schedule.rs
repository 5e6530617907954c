//! The arrival schedule: when each order is *meant* to be sent, as an offset from the start
//! of the run. It is an open model: the offsets do not depend on how fast the API answers,
//! so a slow API cannot slow the arrivals down (and hide its own slowness).

use std::time::Duration;

use serde::Serialize;

/// When a run stops generating orders.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// This many orders in all.
    Count(u64),
    /// Orders whose intended send time falls within this span (serialized in seconds).
    #[serde(serialize_with = "seconds")]
    Duration(Duration),
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// How orders arrive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Schedule {
    /// Constant arrival rate: order `i` is due at `i / per_second` seconds.
    Rate {
        /// Orders per second.
        per_second: f64,
        /// When to stop.
        limit: Limit,
    },
    /// The original design's traffic: `size` orders at once, every `every`.
    Bursts {
        /// Orders per burst.
        size: u64,
        /// Time between the starts of two bursts (serialized in seconds).
        #[serde(serialize_with = "seconds")]
        every: Duration,
        /// When to stop (a count may end on a partial burst).
        limit: Limit,
    },
}

impl Schedule {
    /// Refuses schedules that would send nothing or never end.
    pub fn validate(&self) -> anyhow::Result<()> {
        let limit = match *self {
            Schedule::Rate { per_second, limit } => {
                anyhow::ensure!(
                    per_second.is_finite() && per_second > 0.0,
                    "--rate must be a positive number of orders per second"
                );
                limit
            }
            Schedule::Bursts { size, every, limit } => {
                anyhow::ensure!(size > 0, "--burst must be at least 1");
                anyhow::ensure!(!every.is_zero(), "--every must be longer than 0");
                limit
            }
        };
        match limit {
            Limit::Count(n) => anyhow::ensure!(n > 0, "--count must be at least 1"),
            Limit::Duration(d) => anyhow::ensure!(!d.is_zero(), "--duration must be longer than 0"),
        }
        anyhow::ensure!(
            self.planned() <= 100_000_000,
            "more than 100 million orders planned: lower the rate, count or duration"
        );
        Ok(())
    }

    /// Orders the schedule sends in all.
    pub fn planned(&self) -> u64 {
        match *self {
            Schedule::Rate {
                limit: Limit::Count(n),
                ..
            }
            | Schedule::Bursts {
                limit: Limit::Count(n),
                ..
            } => n,
            Schedule::Rate {
                per_second,
                limit: Limit::Duration(d),
            } => {
                // Every i with i / rate < d (the small epsilon absorbs rounding: 10 s at
                // 200/s is 2000 orders, not 2001).
                (d.as_secs_f64() * per_second - 1e-9).ceil().max(1.0) as u64
            }
            Schedule::Bursts {
                size,
                every,
                limit: Limit::Duration(d),
            } => bursts_within(every, d) * size,
        }
    }

    /// The rate asked for, in orders per second (a burst schedule's average).
    pub fn requested_rate(&self) -> f64 {
        match *self {
            Schedule::Rate { per_second, .. } => per_second,
            Schedule::Bursts { size, every, .. } => size as f64 / every.as_secs_f64(),
        }
    }

    /// The span the schedule covers: the last order's slot ends here (`n / rate`, or the
    /// number of bursts × `every`). Sending on time, `planned / span` is the requested rate.
    pub fn span(&self) -> Duration {
        match *self {
            Schedule::Rate { per_second, .. } => {
                Duration::from_secs_f64(self.planned() as f64 / per_second)
            }
            Schedule::Bursts { size, every, .. } => every * self.planned().div_ceil(size) as u32,
        }
    }

    /// The intended send time of each order, as an offset from the start, in order.
    pub fn intended(&self) -> impl Iterator<Item = Duration> + Send + 'static {
        let planned = self.planned();
        let schedule = *self;
        (0..planned).map(move |i| match schedule {
            Schedule::Rate { per_second, .. } => {
                Duration::from_nanos((i as f64 * 1e9 / per_second).round() as u64)
            }
            Schedule::Bursts { size, every, .. } => every * (i / size) as u32,
        })
    }
}

/// Bursts starting before `d`: at 0, `every`, 2 × `every`...
fn bursts_within(every: Duration, d: Duration) -> u64 {
    let (every, d) = (every.as_nanos(), d.as_nanos());
    d.div_ceil(every) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_rate_spaces_orders_evenly_from_zero() {
        let s = Schedule::Rate {
            per_second: 4.0,
            limit: Limit::Count(5),
        };
        let offsets: Vec<_> = s.intended().collect();
        assert_eq!(offsets, vec![ms(0), ms(250), ms(500), ms(750), ms(1000)]);
        assert_eq!(s.planned(), 5);
        assert_eq!(s.span(), ms(1250));
        assert_eq!(s.requested_rate(), 4.0);
    }

    #[test]
    fn a_rate_for_a_duration_sends_rate_times_duration_orders_all_inside_it() {
        let s = Schedule::Rate {
            per_second: 200.0,
            limit: Limit::Duration(Duration::from_secs(10)),
        };
        assert_eq!(s.planned(), 2000);
        let offsets: Vec<_> = s.intended().collect();
        assert_eq!(offsets.len(), 2000);
        assert_eq!(*offsets.last().unwrap(), ms(9995));
        assert_eq!(s.span(), Duration::from_secs(10));

        // A fractional product rounds up: every order due before the end is sent.
        let s = Schedule::Rate {
            per_second: 3.0,
            limit: Limit::Duration(ms(1500)),
        };
        let offsets: Vec<_> = s.intended().collect();
        assert_eq!(offsets.len(), 5, "0, 1/3, 2/3, 1, 4/3 s");
        assert!(offsets.iter().all(|o| *o < ms(1500)));
    }

    #[test]
    fn a_fractional_rate_is_honoured() {
        let s = Schedule::Rate {
            per_second: 0.5,
            limit: Limit::Count(3),
        };
        let offsets: Vec<_> = s.intended().collect();
        assert_eq!(offsets, vec![ms(0), ms(2000), ms(4000)]);
    }

    #[test]
    fn bursts_send_n_orders_at_once_every_interval() {
        let s = Schedule::Bursts {
            size: 3,
            every: Duration::from_secs(2),
            limit: Limit::Count(7),
        };
        let offsets: Vec<_> = s.intended().collect();
        assert_eq!(
            offsets,
            vec![ms(0), ms(0), ms(0), ms(2000), ms(2000), ms(2000), ms(4000)],
            "the last burst is partial"
        );
        assert_eq!(s.requested_rate(), 1.5);
        assert_eq!(s.span(), Duration::from_secs(6));

        let s = Schedule::Bursts {
            size: 100,
            every: Duration::from_secs(2),
            limit: Limit::Duration(Duration::from_secs(10)),
        };
        assert_eq!(s.planned(), 500, "bursts at 0, 2, 4, 6, 8 s");
        assert_eq!(s.intended().last(), Some(ms(8000)));
        assert_eq!(s.span(), Duration::from_secs(10));
        let s = Schedule::Bursts {
            size: 10,
            every: Duration::from_secs(2),
            limit: Limit::Duration(ms(4001)),
        };
        assert_eq!(s.planned(), 30, "bursts at 0, 2 and 4 s");
    }

    #[test]
    fn schedules_serialize_with_seconds() {
        let s = Schedule::Bursts {
            size: 100,
            every: ms(2500),
            limit: Limit::Duration(Duration::from_secs(10)),
        };
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"mode": "bursts", "size": 100, "every": 2.5, "limit": {"duration": 10.0}})
        );
        let s = Schedule::Rate {
            per_second: 200.0,
            limit: Limit::Count(300),
        };
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"mode": "rate", "per_second": 200.0, "limit": {"count": 300}})
        );
    }

    #[test]
    fn schedules_that_send_nothing_are_refused() {
        let bad = [
            Schedule::Rate {
                per_second: 0.0,
                limit: Limit::Count(1),
            },
            Schedule::Rate {
                per_second: f64::NAN,
                limit: Limit::Count(1),
            },
            Schedule::Rate {
                per_second: 1.0,
                limit: Limit::Count(0),
            },
            Schedule::Rate {
                per_second: 1.0,
                limit: Limit::Duration(Duration::ZERO),
            },
            Schedule::Bursts {
                size: 0,
                every: ms(1),
                limit: Limit::Count(1),
            },
            Schedule::Bursts {
                size: 1,
                every: Duration::ZERO,
                limit: Limit::Count(1),
            },
        ];
        for s in bad {
            assert!(s.validate().is_err(), "{s:?}");
        }
        assert!(Schedule::Rate {
            per_second: 1.0,
            limit: Limit::Count(1)
        }
        .validate()
        .is_ok());
    }
}
