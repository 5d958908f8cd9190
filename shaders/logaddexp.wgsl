// numpy's logaddexp in `Real`, from +, -, * and / alone, so that every adapter computes it the
// same way (WGSL's exp and log may be as coarse as 3 ulp, and have no float64 form). The
// prelude defines `Real` and the constants of its precision: `LN2_HI + LN2_LO` is ln 2 with
// `LN2_HI` short enough that `k * LN2_HI` is exact (Cody and Waite), and `EXP_MIN` is where
// exp underflows to 0.

const INV_LN2: Real = 1.4426950408889634;
const LN2: Real = 0.6931471805599453;

// exp(x) for x <= 0: x = k ln 2 + r with |r| <= ln 2 / 2, a Taylor polynomial of r to r^12
// (its truncation is below float64's rounding), then a scale by 2^k.
fn exp_nonpositive(x: Real) -> Real {
    if x < EXP_MIN {
        return Real(0.0);
    }
    let k = floor(x * INV_LN2 + 0.5);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    var p = Real(1.0 / 479001600.0);
    p = p * r + Real(1.0 / 39916800.0);
    p = p * r + Real(1.0 / 3628800.0);
    p = p * r + Real(1.0 / 362880.0);
    p = p * r + Real(1.0 / 40320.0);
    p = p * r + Real(1.0 / 5040.0);
    p = p * r + Real(1.0 / 720.0);
    p = p * r + Real(1.0 / 120.0);
    p = p * r + Real(1.0 / 24.0);
    p = p * r + Real(1.0 / 6.0);
    p = p * r + Real(0.5);
    p = p * r + Real(1.0);
    p = p * r + Real(1.0);
    return ldexp(p, i32(k));
}

// log(1 + t) for 0 <= t <= 1, as 2 atanh(s) with s = t / (2 + t) <= 1/3: the odd series to
// s^35, whose remainder is below float64's rounding.
fn log1p_unit(t: Real) -> Real {
    let s = t / (Real(2.0) + t);
    let z = s * s;
    var p = Real(1.0 / 35.0);
    for (var k = 33.0; k > 2.0; k -= 2.0) {
        p = p * z + Real(1.0) / Real(k);
    }
    p = p * z + Real(1.0);
    return Real(2.0) * s * p;
}

// Equal arguments are special-cased, as numpy does: -inf and -inf give -inf (not NaN), inf
// and inf give inf. NaN propagates.
fn logaddexp(a: Real, b: Real) -> Real {
    if real_is_nan(a) {
        return a;
    }
    if real_is_nan(b) {
        return b;
    }
    if a == b {
        return a + LN2;
    }
    let d = a - b;
    if d > Real(0.0) {
        return a + log1p_unit(exp_nonpositive(-d));
    }
    return b + log1p_unit(exp_nonpositive(d));
}
