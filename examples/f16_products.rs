//! Would half-precision X speed up RBCD's products (issue 17)? Times the two skinny products
//! of an RBCD block step, X g (n x d by d x 3) and X^T r (d x n by n x 3), at Table 1 size on
//! flex in f32 and in f16 (best of 5 each, same process), and the f16 product's error.
//! BENCHMARKS.md, "Half-precision X".
//!
//!   cargo run --example f16_products
use burn::tensor::{Distribution, FloatDType, Tensor};
use std::time::Instant;
type B = burn::backend::Flex;
fn best(mut f: impl FnMut() -> f64) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..5 {
        b = b.min(f());
    }
    b
}
fn main() {
    let dev = Default::default();
    let (n, d) = (10000, 3073);
    let x = Tensor::<B, 2>::random([n, d], Distribution::Normal(0.0, 1.0), &dev);
    let xt = x.clone().transpose().into_data();
    let xt = Tensor::<B, 2>::from_data(xt, &dev);
    let g = Tensor::<B, 2>::random([d, 3], Distribution::Normal(0.0, 1.0), &dev);
    let r = Tensor::<B, 2>::random([n, 3], Distribution::Normal(0.0, 1.0), &dev);
    let x16 = x.clone().cast(FloatDType::F16);
    let xt16 = xt.clone().cast(FloatDType::F16);
    let g16 = g.clone().cast(FloatDType::F16);
    let r16 = r.clone().cast(FloatDType::F16);
    let t = |a: &Tensor<B, 2>, b: &Tensor<B, 2>| {
        let (a, b) = (a.clone(), b.clone());
        best(move || {
            let s = Instant::now();
            let o = a.clone().matmul(b.clone());
            let _ = o.sum().into_scalar();
            s.elapsed().as_secs_f64()
        })
    };
    println!(
        "X g   f32 {:.2} ms  f16 {:.2} ms",
        1e3 * t(&x, &g),
        1e3 * t(&x16, &g16)
    );
    println!(
        "X^T r f32 {:.2} ms  f16 {:.2} ms",
        1e3 * t(&xt, &r),
        1e3 * t(&xt16, &r16)
    );
    let e = (x.clone().matmul(g.clone()) - x16.matmul(g16).cast(FloatDType::F32))
        .abs()
        .max()
        .into_scalar();
    let m = x.matmul(g).abs().max().into_scalar();
    println!("max abs err X g f16: {e} of max {m}");
}
