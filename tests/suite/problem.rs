//! A gates file that does not fit the data is refused with a message naming the file.

use crate::common::optimum;
use admm_runner::manifest::ProblemSection;
use burn::backend::NdArray;

type F64 = NdArray<f64>;

#[test]
fn wrong_gate_shape_is_a_clear_error() {
    let opt = optimum("opt_small");
    let section = ProblemSection {
        patterns: opt.patterns,
        beta: opt.beta,
        loss: Default::default(),
        bias: true, // d grows by one: the fixture's gates no longer fit
        gates: Some(opt.gates.clone()),
    };
    let err = section
        .build::<F64>(&opt.data, 0, &Default::default())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("gates.npy") && msg.contains("expected shape"),
        "{msg}"
    );
}
