//! The numeric assertions: comparisons that report both sides (`always_lt!`, `always_le!`,
//! `always_gt!`, `always_ge!`, `always_eq!`, `always_ne!`) and watermarks that keep the best
//! value reached (`sometimes_max!`, `sometimes_min!`).

use std::fmt;

use super::{always_failed, record, AssertionKind};

/// Records one value of a watermark of `kind` ([`Max`](AssertionKind::Max) or
/// [`Min`](AssertionKind::Min)), keeping the best. Used by
/// [`sometimes_max!`](crate::sometimes_max) and [`sometimes_min!`](crate::sometimes_min); does
/// nothing outside a campaign, or for another kind.
#[doc(hidden)]
pub fn record_watermark(name: &str, kind: AssertionKind, value: impl WatermarkValue) {
    if kind.is_watermark() {
        record(name, None, kind, true, Some(value.watermark()));
    }
}

/// An integer a watermark can record: converted to `i64`, saturating.
pub trait WatermarkValue {
    /// The value as an `i64` (saturating at `i64::MIN` / `i64::MAX`).
    fn watermark(self) -> i64;
}

macro_rules! watermark_value {
    ($($t:ty),*) => {$(
        impl WatermarkValue for $t {
            fn watermark(self) -> i64 {
                // Out of range records as the nearest bound.
                i64::try_from(self).unwrap_or(if self > <$t>::default() {
                    i64::MAX
                } else {
                    i64::MIN
                })
            }
        }
    )*};
}

watermark_value!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

/// Panics for a failed comparison (`always_le!` and friends) with both sides' values.
///
/// # Panics
/// Always.
#[doc(hidden)]
#[track_caller]
pub fn comparison_failed(
    name: &str,
    comparison: &str,
    left: &dyn fmt::Debug,
    right: &dyn fmt::Debug,
    message: Option<fmt::Arguments<'_>>,
) -> ! {
    match message {
        Some(message) => always_failed(
            name,
            format_args!("{comparison} with left = {left:?}, right = {right:?}: {message}"),
        ),
        None => always_failed(
            name,
            format_args!("{comparison} with left = {left:?}, right = {right:?}"),
        ),
    }
}

/// The body of `always_lt!` and friends: evaluates both sides once, counts the check under
/// `name`, and on failure panics with both sides' expressions and values.
#[doc(hidden)]
#[macro_export]
macro_rules! __always_compare {
    ($name:expr, $left:expr, $op:tt, $right:expr, $message:expr) => {{
        let name: &str = $name;
        match (&$left, &$right) {
            (left, right) => {
                if !$crate::testing::assertions::record_always(name, *left $op *right) {
                    $crate::testing::assertions::comparison_failed(
                        name,
                        ::core::concat!(
                            ::core::stringify!($left),
                            " ",
                            ::core::stringify!($op),
                            " ",
                            ::core::stringify!($right)
                        ),
                        left,
                        right,
                        $message,
                    );
                }
            }
        }
    }};
}

/// Asserts `left < right` every time, as [`always_assert!`](crate::always_assert) does, and on
/// failure reports both expressions and both values.
///
/// `always_lt!(name, left, right)` or `always_lt!(name, left, right, "format", args...)`; each
/// side is evaluated once and must be `PartialOrd` and `Debug`.
///
/// # Examples
/// ```
/// use moonpool::always_lt;
///
/// let (sent, limit) = (3, 10);
/// always_lt!("under_limit", sent, limit);
/// let caught = std::panic::catch_unwind(|| always_lt!("never", limit, sent, "at {}", 1));
/// assert!(caught.is_err());
/// ```
#[macro_export]
macro_rules! always_lt {
    ($name:expr, $left:expr, $right:expr $(,)?) => {
        $crate::__always_compare!($name, $left, <, $right, None)
    };
    ($name:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        $crate::__always_compare!($name, $left, <, $right, Some(::core::format_args!($($arg)+)))
    };
}

/// Asserts `left <= right` every time, reporting both sides on failure (see
/// [`always_lt!`](crate::always_lt)).
///
/// # Examples
/// ```
/// use moonpool::always_le;
///
/// let (queued, max_queue_size) = (16, 16);
/// always_le!("queue_bounded", queued, max_queue_size, "while disconnected");
/// let message = std::panic::catch_unwind(|| always_le!("tight", 17, max_queue_size))
///     .unwrap_err()
///     .downcast::<String>()
///     .unwrap();
/// assert!(message.contains("17 <= max_queue_size with left = 17, right = 16"), "{message}");
/// ```
#[macro_export]
macro_rules! always_le {
    ($name:expr, $left:expr, $right:expr $(,)?) => {
        $crate::__always_compare!($name, $left, <=, $right, None)
    };
    ($name:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        $crate::__always_compare!($name, $left, <=, $right, Some(::core::format_args!($($arg)+)))
    };
}

/// Asserts `left > right` every time, reporting both sides on failure (see
/// [`always_lt!`](crate::always_lt)).
///
/// # Examples
/// ```
/// moonpool::always_gt!("positive", 2, 0);
/// ```
#[macro_export]
macro_rules! always_gt {
    ($name:expr, $left:expr, $right:expr $(,)?) => {
        $crate::__always_compare!($name, $left, >, $right, None)
    };
    ($name:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        $crate::__always_compare!($name, $left, >, $right, Some(::core::format_args!($($arg)+)))
    };
}

/// Asserts `left >= right` every time, reporting both sides on failure (see
/// [`always_lt!`](crate::always_lt)).
///
/// # Examples
/// ```
/// moonpool::always_ge!("received_all_sent", 5, 5);
/// ```
#[macro_export]
macro_rules! always_ge {
    ($name:expr, $left:expr, $right:expr $(,)?) => {
        $crate::__always_compare!($name, $left, >=, $right, None)
    };
    ($name:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        $crate::__always_compare!($name, $left, >=, $right, Some(::core::format_args!($($arg)+)))
    };
}

/// Asserts `left == right` every time, reporting both sides on failure (see
/// [`always_lt!`](crate::always_lt)).
///
/// # Examples
/// ```
/// moonpool::always_eq!("accounted", 2 + 3, 5, "sent = received + dropped");
/// ```
#[macro_export]
macro_rules! always_eq {
    ($name:expr, $left:expr, $right:expr $(,)?) => {
        $crate::__always_compare!($name, $left, ==, $right, None)
    };
    ($name:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        $crate::__always_compare!($name, $left, ==, $right, Some(::core::format_args!($($arg)+)))
    };
}

/// Asserts `left != right` every time, reporting both sides on failure (see
/// [`always_lt!`](crate::always_lt)).
///
/// # Examples
/// ```
/// moonpool::always_ne!("fresh_id", 4, 7);
/// ```
#[macro_export]
macro_rules! always_ne {
    ($name:expr, $left:expr, $right:expr $(,)?) => {
        $crate::__always_compare!($name, $left, !=, $right, None)
    };
    ($name:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        $crate::__always_compare!($name, $left, !=, $right, Some(::core::format_args!($($arg)+)))
    };
}

/// Records a value and keeps the highest one reached in the campaign: a watermark, such as the
/// longest queue seen.
///
/// `sometimes_max!(name, value)` with any integer `value` (kept as an `i64`, saturating). The
/// report shows the best value next to the assertion's counts; it never fails a campaign.
/// Exploration ([`explore`](crate::testing::SimulationBuilder::explore)) treats a new highest
/// value as a discovery worth branching from. Outside a campaign it records nothing.
///
/// # Examples
/// ```
/// use moonpool::testing::SimulationBuilder;
/// use moonpool::sometimes_max;
///
/// let report = SimulationBuilder::new()
///     .register_workload("w", |seed, _net, _topology| async move {
///         sometimes_max!("queue_len", seed % 7);
///         Ok::<(), String>(())
///     })
///     .iterations(20)
///     .seed_from_env(false)
///     .run();
/// assert_eq!(report.assertions["queue_len"].best, Some(6));
/// assert!(report.to_string().contains("best 6"));
/// ```
#[macro_export]
macro_rules! sometimes_max {
    ($name:expr, $value:expr $(,)?) => {
        $crate::testing::assertions::record_watermark(
            $name,
            $crate::testing::AssertionKind::Max,
            $value,
        )
    };
}

/// Records a value and keeps the lowest one reached in the campaign (see
/// [`sometimes_max!`](crate::sometimes_max)), such as the smallest gap between two attempts.
///
/// # Examples
/// ```
/// moonpool::sometimes_min!("free_slots", 3u32);
/// ```
#[macro_export]
macro_rules! sometimes_min {
    ($name:expr, $value:expr $(,)?) => {
        $crate::testing::assertions::record_watermark(
            $name,
            $crate::testing::AssertionKind::Min,
            $value,
        )
    };
}
