//! Two-sided confidence intervals of SPEC §5, so a rule can judge the evidence instead of the value:
//! Wilson for proportions, the NPS interval, mean ± z·s/√n, and the two-proportion interval of lift.
//!
//! Every interval here contains its point estimate (mathematically; rounding is clamped away), so
//! a lower bound never exceeds the value and an upper bound is never below it. That is why a rule
//! with `confidence` can only fire where the same rule without it would.

/// Φ⁻¹(p), the standard normal quantile, by Wichura's algorithm AS 241 (PPND16, Applied Statistics
/// 37(3), 1988): rational approximations with a relative error about 1e-16. `None` outside (0, 1).
/// The coefficients are written as published, with more digits than an f64 holds.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    let horner = |c: &[f64; 8], x: f64| c.iter().rev().fold(0.0, |acc, k| acc * x + k);
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return Some(q * horner(&A, r) / horner(&B, r));
    }
    let r = (-(if q < 0.0 { p } else { 1.0 - p }).ln()).sqrt();
    let x =
        if r <= 5.0 { horner(&C, r - 1.6) / horner(&D, r - 1.6) } else { horner(&E, r - 5.0) / horner(&F, r - 5.0) };
    Some(if q < 0.0 { -x } else { x })
}

/// `z = Φ⁻¹((1 + confidence) / 2)` of a two-sided interval at `confidence`.
pub fn z_for(confidence: f64) -> Option<f64> {
    normal_quantile((1.0 + confidence) / 2.0)
}

/// A two-sided interval around a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    /// `value ± half`, kept around `value` against rounding.
    fn around(value: f64, lower: f64, upper: f64) -> Interval {
        Interval { lower: lower.min(value), upper: upper.max(value) }
    }
}

/// Wilson score interval of `x` successes in `n` (x capped at n); none while n is 0.
pub fn wilson(x: i64, n: i64, z: f64) -> Option<Interval> {
    if n <= 0 {
        return None;
    }
    let n_f = n as f64;
    let p = x.clamp(0, n) as f64 / n_f;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    Some(Interval::around(p, (center - half).max(0.0), (center + half).min(1.0)))
}

/// The NPS interval `100 × ((p − d) ± z × sqrt((p + d − (p − d)²) / n))`, clamped to [−100, 100];
/// none while n < 2.
pub fn nps(promoters: i64, detractors: i64, n: i64, z: f64) -> Option<Interval> {
    if n < 2 {
        return None;
    }
    let n_f = n as f64;
    let (p, d) = (promoters as f64 / n_f, detractors as f64 / n_f);
    let diff = p - d;
    let half = z * ((p + d - diff * diff).max(0.0) / n_f).sqrt();
    let value = 100.0 * diff;
    Some(Interval::around(
        value,
        (100.0 * (diff - half)).clamp(-100.0, 100.0),
        (100.0 * (diff + half)).clamp(-100.0, 100.0),
    ))
}

/// `mean ± z × s / sqrt(n)` with `s` the sample standard deviation, from the count, sum and sum of
/// squares; none while n < 2.
pub fn mean(n: i64, sum: f64, sum_sq: f64, z: f64) -> Option<Interval> {
    if n < 2 {
        return None;
    }
    let n_f = n as f64;
    let m = sum / n_f;
    let variance = ((sum_sq - sum * m) / (n_f - 1.0)).max(0.0);
    let half = z * variance.sqrt() / n_f.sqrt();
    Some(Interval::around(m, m - half, m + half))
}

/// `(p₁ − p₂) ± z × sqrt(p₁(1 − p₁)/n₁ + p₂(1 − p₂)/n₂)`; none while either group is empty.
pub fn difference(x1: i64, n1: i64, x2: i64, n2: i64, z: f64) -> Option<Interval> {
    if n1 <= 0 || n2 <= 0 {
        return None;
    }
    let (p1, p2) = (x1.clamp(0, n1) as f64 / n1 as f64, x2.clamp(0, n2) as f64 / n2 as f64);
    let half = z * (p1 * (1.0 - p1) / n1 as f64 + p2 * (1.0 - p2) / n2 as f64).sqrt();
    let value = p1 - p2;
    Some(Interval::around(value, value - half, value + half))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_published_values() {
        // Reference values: R's qnorm / Abramowitz & Stegun, to 15+ digits.
        for (p, x) in [
            (0.5, 0.0),
            (0.75, 0.674_489_750_196_081_7),
            (0.9, 1.281_551_565_544_600_5),
            (0.95, 1.644_853_626_951_472_2),
            (0.975, 1.959_963_984_540_054),
            (0.99, 2.326_347_874_040_841),
            (0.995, 2.575_829_303_548_900_4),
            (0.9995, 3.290_526_731_491_926),
            (1e-10, -6.361_340_902_404_056),
            (0.025, -1.959_963_984_540_054),
        ] {
            let got = normal_quantile(p).unwrap();
            assert!((got - x).abs() < 1e-12, "Φ⁻¹({p}) = {got}, want {x}");
        }
        assert_eq!(normal_quantile(0.0), None);
        assert_eq!(normal_quantile(1.0), None);
        assert!((z_for(0.95).unwrap() - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn intervals_contain_their_value() {
        let z = z_for(0.95).unwrap();
        for (x, n) in [(0, 1), (1, 1), (0, 50), (50, 50), (3, 7), (9, 4)] {
            let w = wilson(x, n, z).unwrap();
            let p = x.min(n) as f64 / n as f64;
            assert!(w.lower <= p && p <= w.upper && w.lower >= 0.0 && w.upper <= 1.0, "{x}/{n}: {w:?}");
        }
        assert_eq!(wilson(0, 0, z), None);
        assert_eq!(nps(1, 0, 1, z), None);
        assert_eq!(mean(1, 5.0, 25.0, z), None);
        let m = mean(3, 6.0, 14.0, z).unwrap(); // 1, 2, 3: s = 1
        assert!((m.upper - (2.0 + z / 3f64.sqrt())).abs() < 1e-12);
        assert_eq!(difference(1, 0, 1, 2, z), None);
    }
}
