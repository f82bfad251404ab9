//! [`Mode`]: what a ping-pong campaign's clients promise (their [`Delivery`]) and what their
//! full queue does ([`OverflowPolicy`]).

use crate::peer::{Delivery, OverflowPolicy};

/// A campaign's delivery mode and overflow policy.
///
/// A bare [`Delivery`] converts with its default policy (the library's,
/// [`OverflowPolicy::ByDelivery`]): drop-oldest in unreliable mode, reject in the reliable
/// modes (whose checks then require every request). [`Mode::drop_oldest`] runs a reliable mode that drops instead: every dropped
/// request must be one the server never received, and the checks allow gaps only that many.
///
/// # Examples
/// ```
/// use moonpool::peer::{Delivery, OverflowPolicy};
/// use moonpool::testing::ping_pong::Mode;
///
/// let mode = Mode::from(Delivery::ExactlyOnce);
/// assert_eq!(mode.overflow, OverflowPolicy::Reject);
/// assert!(!mode.drops());
/// let dropping = Mode::drop_oldest(Delivery::AtLeastOnce);
/// assert!(dropping.drops() && !dropping.is_default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mode {
    /// What the clients' Peers promise.
    pub delivery: Delivery,
    /// What a client's full queue does with a new request.
    pub overflow: OverflowPolicy,
}

impl Mode {
    /// `delivery` with its default policy (see [`Mode`]).
    pub fn new(delivery: Delivery) -> Self {
        Self::with_overflow(delivery, OverflowPolicy::ByDelivery.for_delivery(delivery))
    }

    /// `delivery` with the drop-oldest policy.
    pub fn drop_oldest(delivery: Delivery) -> Self {
        Self::with_overflow(delivery, OverflowPolicy::DropOldest)
    }

    /// `delivery` with `overflow` ([`OverflowPolicy::ByDelivery`] resolved).
    pub fn with_overflow(delivery: Delivery, overflow: OverflowPolicy) -> Self {
        Self {
            delivery,
            overflow: overflow.for_delivery(delivery),
        }
    }

    /// A reliable mode that may drop requests: gaps in the numbering are allowed, as many as
    /// the Peer counted dropped.
    pub fn drops(self) -> bool {
        self.delivery.is_reliable() && self.overflow == OverflowPolicy::DropOldest
    }

    /// True when the policy is the delivery's default (the example then needs no
    /// `--overflow`).
    pub fn is_default(self) -> bool {
        self == Self::new(self.delivery)
    }
}

impl From<Delivery> for Mode {
    fn from(delivery: Delivery) -> Self {
        Self::new(delivery)
    }
}

/// Which [`Mode`] each seed of a campaign runs: one for all, or [`Modes::Mixed`], every mode
/// in turn (the example's default), so that one campaign exercises the Peer's reliable
/// bookkeeping (resends, acknowledgements, sessions, drops of unsent frames) as well as the
/// unreliable path.
///
/// # Examples
/// ```
/// use moonpool::peer::{Delivery, OverflowPolicy};
/// use moonpool::testing::ping_pong::{Mode, Modes};
///
/// assert_eq!(Modes::from(Delivery::ExactlyOnce).for_seed(7), Mode::new(Delivery::ExactlyOnce));
/// let modes: Vec<Mode> = (0..8).map(|seed| Modes::Mixed.for_seed(seed)).collect();
/// assert_eq!(modes[0], Mode::new(Delivery::Unreliable));
/// assert_eq!(modes[1], Mode::new(Delivery::AtLeastOnce));
/// assert_eq!(modes[2], Mode::new(Delivery::ExactlyOnce));
/// assert_eq!(modes[3], Mode::drop_oldest(Delivery::AtLeastOnce));
/// assert_eq!(modes[7], Mode::drop_oldest(Delivery::ExactlyOnce));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    /// Every seed in this mode.
    Fixed(Mode),
    /// Seed `s` in the mode `s % 4` picks: unreliable, at-least-once, exactly-once, then a
    /// reliable mode with the drop-oldest policy (at-least-once and exactly-once in turn).
    /// A seed's replay needs no mode: the seed says it.
    Mixed,
}

impl Modes {
    /// The mode of `seed`.
    pub fn for_seed(self, seed: u64) -> Mode {
        match self {
            Modes::Fixed(mode) => mode,
            Modes::Mixed => match seed % 4 {
                0 => Mode::new(Delivery::Unreliable),
                1 => Mode::new(Delivery::AtLeastOnce),
                2 => Mode::new(Delivery::ExactlyOnce),
                _ if (seed / 4).is_multiple_of(2) => Mode::drop_oldest(Delivery::AtLeastOnce),
                _ => Mode::drop_oldest(Delivery::ExactlyOnce),
            },
        }
    }

    /// True if some seed runs a reliable mode.
    pub fn any_reliable(self) -> bool {
        match self {
            Modes::Fixed(mode) => mode.delivery.is_reliable(),
            Modes::Mixed => true,
        }
    }
}

impl From<Mode> for Modes {
    fn from(mode: Mode) -> Self {
        Modes::Fixed(mode)
    }
}

impl From<Delivery> for Modes {
    fn from(delivery: Delivery) -> Self {
        Modes::Fixed(Mode::new(delivery))
    }
}

/// The command-line name of an overflow policy: `drop-oldest` or `reject`.
pub fn overflow_name(policy: OverflowPolicy) -> &'static str {
    match policy {
        OverflowPolicy::Reject => "reject",
        _ => "drop-oldest",
    }
}

/// The policy a command-line name names (see [`overflow_name`]).
///
/// # Examples
/// ```
/// use moonpool::peer::OverflowPolicy;
/// use moonpool::testing::ping_pong;
///
/// assert_eq!(ping_pong::parse_overflow("reject"), Some(OverflowPolicy::Reject));
/// assert_eq!(ping_pong::parse_overflow("drop"), None);
/// ```
pub fn parse_overflow(name: &str) -> Option<OverflowPolicy> {
    [OverflowPolicy::DropOldest, OverflowPolicy::Reject]
        .into_iter()
        .find(|&policy| overflow_name(policy) == name)
}
