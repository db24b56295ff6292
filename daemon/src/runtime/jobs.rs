//! The storage jobs of storage.md §9 and when they are due: backups by kind, GC, the daily maintenance. Times are
//! device-local; "next due" is a pure function of the settings and a local time, so the schedule is unit-tested.

use chrono::{DateTime, Datelike, Duration, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Weekday};
use serde::Serialize;

use super::config::{JobsSection, parse_time};
use crate::store::backup::BackupKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    HourlyBackup,
    DailyBackup,
    WeeklyBackup,
    MonthlyBackup,
    Gc,
    Maintenance,
    Scoring,
}

impl Job {
    pub const ALL: [Job; 7] = [
        Job::HourlyBackup,
        Job::DailyBackup,
        Job::WeeklyBackup,
        Job::MonthlyBackup,
        Job::Gc,
        Job::Maintenance,
        Job::Scoring,
    ];

    /// The name in logs, the console and the `job.<name>.last_success` key of cache.db (storage.md §8).
    pub fn name(self) -> &'static str {
        match self {
            Job::HourlyBackup => "backup.hourly",
            Job::DailyBackup => "backup.daily",
            Job::WeeklyBackup => "backup.weekly",
            Job::MonthlyBackup => "backup.monthly",
            Job::Gc => "gc",
            Job::Maintenance => "maintenance",
            Job::Scoring => "scoring",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.name() == name)
    }

    pub fn backup_kind(self) -> Option<BackupKind> {
        match self {
            Job::HourlyBackup => Some(BackupKind::Hourly),
            Job::DailyBackup => Some(BackupKind::Daily),
            Job::WeeklyBackup => Some(BackupKind::Weekly),
            Job::MonthlyBackup => Some(BackupKind::Monthly),
            Job::Gc | Job::Maintenance | Job::Scoring => None,
        }
    }

    /// How long after its last success the job counts as missed, and is caught up once at start.
    pub fn period(self) -> Duration {
        match self {
            Job::HourlyBackup => Duration::hours(1),
            Job::WeeklyBackup => Duration::days(7),
            Job::MonthlyBackup => Duration::days(31),
            Job::DailyBackup | Job::Gc | Job::Maintenance | Job::Scoring => Duration::hours(24),
        }
    }

    /// The first local time strictly after `after` at which the job is due.
    pub fn next_due(self, jobs: &JobsSection, after: NaiveDateTime) -> NaiveDateTime {
        let at = |text: &str| parse_time(text).unwrap_or(NaiveTime::MIN);
        let next_daily = |time: NaiveTime, ok: &dyn Fn(NaiveDate) -> bool| {
            let mut day = after.date();
            loop {
                let candidate = day.and_time(time);
                if candidate > after && ok(day) {
                    return candidate;
                }
                day = day.succ_opt().expect("dates far from the end of time");
            }
        };
        match self {
            Job::HourlyBackup => {
                let this_hour = after.date().and_hms_opt(after.hour(), jobs.hourly_backup_minute, 0).expect("valid");
                if this_hour > after { this_hour } else { this_hour + Duration::hours(1) }
            }
            Job::DailyBackup => next_daily(at(&jobs.daily_backup_at), &|_| true),
            Job::WeeklyBackup => next_daily(at(&jobs.weekly_backup_at), &|d| d.weekday() == Weekday::Sun),
            Job::MonthlyBackup => next_daily(at(&jobs.monthly_backup_at), &|d| d.day() == 1),
            Job::Gc => next_daily(at(&jobs.gc_at), &|_| true),
            Job::Maintenance => next_daily(at(&jobs.maintenance_at), &|_| true),
            Job::Scoring => next_daily(at(&jobs.scoring_at), &|_| true),
        }
    }
}

/// A local wall-clock time as an instant. In a DST gap the time does not exist: the job runs when the clock
/// jumps past it (the earliest instant after); in a repeated hour, the first occurrence.
pub fn local_instant(at: NaiveDateTime) -> DateTime<chrono::Utc> {
    let mut probe = at;
    loop {
        if let Some(t) = Local.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&chrono::Utc);
        }
        probe += Duration::minutes(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn each_job_is_next_due_at_its_documented_time() {
        let jobs = JobsSection::default();
        // 2026-11-25 is a Wednesday.
        let now = t("2026-11-25 01:07");
        assert_eq!(Job::HourlyBackup.next_due(&jobs, now), t("2026-11-25 02:07"));
        assert_eq!(Job::HourlyBackup.next_due(&jobs, t("2026-11-25 01:06")), t("2026-11-25 01:07"));
        assert_eq!(Job::DailyBackup.next_due(&jobs, now), t("2026-11-26 01:07"), "strictly after");
        assert_eq!(Job::WeeklyBackup.next_due(&jobs, now), t("2026-11-29 01:17"), "the next Sunday");
        assert_eq!(Job::MonthlyBackup.next_due(&jobs, now), t("2026-12-01 01:27"));
        assert_eq!(Job::Gc.next_due(&jobs, now), t("2026-11-26 00:10"));
        assert_eq!(Job::Maintenance.next_due(&jobs, now), t("2026-11-25 04:00"));
        assert_eq!(Job::Scoring.next_due(&jobs, now), t("2026-11-25 04:30"));
    }

    #[test]
    fn changed_times_move_the_schedule() {
        let jobs = JobsSection { gc_at: "23:59".into(), hourly_backup_minute: 0, ..JobsSection::default() };
        assert_eq!(Job::Gc.next_due(&jobs, t("2026-11-25 12:00")), t("2026-11-25 23:59"));
        assert_eq!(Job::HourlyBackup.next_due(&jobs, t("2026-12-31 23:30")), t("2027-01-01 00:00"));
    }

    #[test]
    fn names_round_trip() {
        for job in Job::ALL {
            assert_eq!(Job::parse(job.name()), Some(job));
        }
    }
}
