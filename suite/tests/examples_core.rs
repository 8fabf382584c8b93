//! The core examples print exactly what docs/examples.md says.

mod common;

#[test]
fn interleave_prints_gevent_order() {
    let out = common::run_example("interleave");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = [
        "run func: f1, index: 0",
        "run func: f2, index: 0",
        "run func: f1, index: 1",
        "run func: f2, index: 1",
        "run func: f1, index: 2",
        "run func: f2, index: 2",
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}
