//! The portfolio engine (portfolio.md): valuation in EUR with FX, the fee model and trade sizing, the numeric
//! primitives on oldest-first series, and analytics. Money is `Decimal`; scoring and analytics maths is `f64`,
//! converted from decimals only when their inputs are built (portfolio.md §0).
//!
//! Still to come (see the engine issue's note): the security score, allocation, the planner, execution checks,
//! DRIP decisions and the jobs and commands that use them.

pub mod allocation;
pub mod analytics;
pub mod evaluation;
pub mod money;
pub mod planner;
pub mod primitives;
pub mod runs;
pub mod score;
pub mod status;
