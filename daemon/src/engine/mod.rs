//! The portfolio engine (portfolio.md): valuation in EUR with FX, the fee model and trade sizing, the numeric
//! primitives on oldest-first series, and analytics. Money is `Decimal`; scoring and analytics maths is `f64`,
//! converted from decimals only when their inputs are built (portfolio.md §0).
//!
//! Done: primitives, money, the security score, allocation, analytics, the portfolio hash, profit taking,
//! candidate selection and normalisation, sequence evaluation, and the runs and commands on the databases.
//! Still to come (see the engine issue's note): the other calculators, sequence generation, the filters and the
//! beam search of the planner, recommendations, execution checks and DRIP decisions.

pub mod allocation;
pub mod analytics;
pub mod candidates;
pub mod evaluation;
pub mod money;
pub mod planner;
pub mod primitives;
pub mod runs;
pub mod score;
pub mod status;
