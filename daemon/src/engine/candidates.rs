//! Planner candidates (portfolio.md §7.5, §7.7 steps 1–3): the per-category selection that mixes priority with
//! diversity, and the normalisation of generated sequences. Deterministic: no randomness, ties broken by symbol.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// A candidate trade, as the calculators produce it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub symbol: String,
    pub buy: bool,
    pub priority: f64,
    /// The security's country, else its first industry, else `SYM:` and the symbol's first 3 characters.
    pub cluster: String,
}

impl Candidate {
    /// The cluster of a security for diverse selection.
    pub fn cluster_of(symbol: &str, country: Option<&str>, industry: Option<&str>) -> String {
        let first_industry =
            industry.and_then(|i| crate::store::universe::split_industries(i).next().map(str::to_owned));
        match (country.filter(|c| !c.is_empty()), first_industry) {
            (Some(c), _) => c.to_owned(),
            (None, Some(i)) => i,
            (None, None) => format!("SYM:{}", symbol.chars().take(3).collect::<String>()),
        }
    }
}

/// Sort a category: priority descending, ties by symbol ascending.
pub fn sort_category(list: &mut [Candidate]) {
    list.sort_by(|a, b| b.priority.total_cmp(&a.priority).then_with(|| a.symbol.cmp(&b.symbol)));
}

/// Keep at most `n` of a (sorted) category. Without diversity: the first `n`. With it: greedily the largest
/// `a = (1 − w)·priority/pmax + w / (1 + 0.5k)`, `k` = picks already made in the candidate's cluster (ties: higher
/// priority, then symbol); the first `n` when the highest priority is ≤ 0.
pub fn select(sorted: &[Candidate], n: usize, diverse: bool, diversity_weight: f64) -> Vec<Candidate> {
    let pmax = sorted.first().map_or(0.0, |c| c.priority);
    if !diverse || pmax <= 0.0 {
        return sorted.iter().take(n).cloned().collect();
    }
    let mut remaining: Vec<&Candidate> = sorted.iter().collect();
    let mut picked: Vec<Candidate> = Vec::new();
    let mut per_cluster: BTreeMap<&str, usize> = BTreeMap::new();
    while picked.len() < n && !remaining.is_empty() {
        let score = |c: &Candidate| {
            let k = per_cluster.get(c.cluster.as_str()).copied().unwrap_or(0) as f64;
            (1.0 - diversity_weight) * c.priority / pmax + diversity_weight / (1.0 + 0.5 * k)
        };
        let (index, _) = remaining
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| {
                score(a)
                    .total_cmp(&score(b))
                    .then(a.priority.total_cmp(&b.priority))
                    .then_with(|| b.symbol.cmp(&a.symbol))
            })
            .expect("not empty");
        let chosen = remaining.remove(index);
        *per_cluster.entry(chosen.cluster.as_str()).or_default() += 1;
        picked.push(chosen.clone());
    }
    picked
}

/// §7.7 steps 1–3: drop empty sequences and those naming a symbol twice; sells first, then buys, each in their
/// order; keep the first of sequences with the same `(symbol, side)` list.
pub fn normalise(sequences: Vec<Vec<Candidate>>) -> Vec<Vec<Candidate>> {
    let mut seen: BTreeSet<Vec<(String, bool)>> = BTreeSet::new();
    let mut out = Vec::new();
    for sequence in sequences {
        let symbols: BTreeSet<&str> = sequence.iter().map(|c| c.symbol.as_str()).collect();
        if sequence.is_empty() || symbols.len() != sequence.len() {
            continue;
        }
        let (sells, buys): (Vec<Candidate>, Vec<Candidate>) = sequence.into_iter().partition(|c| !c.buy);
        let ordered: Vec<Candidate> = sells.into_iter().chain(buys).collect();
        let key: Vec<(String, bool)> = ordered.iter().map(|c| (c.symbol.clone(), c.buy)).collect();
        if seen.insert(key) {
            out.push(ordered);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(symbol: &str, priority: f64, cluster: &str) -> Candidate {
        Candidate { symbol: symbol.into(), buy: true, priority, cluster: cluster.into() }
    }

    #[test]
    fn a_category_is_sorted_by_priority_then_symbol() {
        let mut list = vec![c("B", 1.0, "x"), c("A", 1.0, "x"), c("C", 2.0, "x")];
        sort_category(&mut list);
        assert_eq!(list.iter().map(|c| c.symbol.as_str()).collect::<Vec<_>>(), ["C", "A", "B"]);
    }

    #[test]
    fn diverse_selection_spreads_over_clusters() {
        // Three strong US names and one weaker German one: plain selection takes the US names in order.
        let mut list = vec![c("AAA", 1.0, "US"), c("BBB", 0.95, "US"), c("CCC", 0.9, "US"), c("DDD", 0.8, "DE")];
        sort_category(&mut list);
        let plain: Vec<String> = select(&list, 2, false, 0.3).into_iter().map(|c| c.symbol).collect();
        assert_eq!(plain, ["AAA", "BBB"]);
        // Second pick: BBB 0.7·0.95 + 0.3/1.5 = 0.865; DDD 0.7·0.8 + 0.3 = 0.86 → BBB; third: CCC 0.7·0.9 + 0.3/2
        // = 0.78; DDD 0.86 → DDD.
        let diverse: Vec<String> = select(&list, 3, true, 0.3).into_iter().map(|c| c.symbol).collect();
        assert_eq!(diverse, ["AAA", "BBB", "DDD"]);
        let strong_diversity: Vec<String> = select(&list, 2, true, 0.9).into_iter().map(|c| c.symbol).collect();
        assert_eq!(strong_diversity, ["AAA", "DDD"]);
        assert_eq!(select(&[c("Z", 0.0, "x"), c("Y", -1.0, "y")], 1, true, 0.3)[0].symbol, "Z", "pmax ≤ 0: first n");
    }

    #[test]
    fn clusters_fall_back_from_country_to_industry_to_symbol() {
        assert_eq!(Candidate::cluster_of("AAPL.US", Some("United States"), Some("Tech")), "United States");
        assert_eq!(Candidate::cluster_of("AAPL.US", None, Some(" Software, Chips")), "Software");
        assert_eq!(Candidate::cluster_of("AAPL.US", Some(""), None), "SYM:AAP");
    }

    #[test]
    fn sequences_are_normalised_sells_first_and_deduplicated() {
        let sell = |s: &str| Candidate { buy: false, ..c(s, 1.0, "x") };
        let sequences = vec![
            vec![c("A", 1.0, "x"), sell("B")],
            vec![sell("B"), c("A", 1.0, "x")],
            vec![c("A", 1.0, "x"), c("A", 1.0, "x")],
            vec![],
            vec![sell("B")],
        ];
        let out = normalise(sequences);
        let keys: Vec<Vec<(String, bool)>> =
            out.iter().map(|s| s.iter().map(|c| (c.symbol.clone(), c.buy)).collect()).collect();
        assert_eq!(keys, [vec![("B".into(), false), ("A".into(), true)], vec![("B".into(), false)]]);
    }
}
