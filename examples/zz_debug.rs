use std::time::{Duration, Instant};
fn main() {
    green::monkey::patch_all();
    let start = Instant::now();
    let sleeper = green::spawn(|| {
        eprintln!("sleeper start");
        std::thread::sleep(Duration::MAX);
        eprintln!("sleeper after std sleep");
        green::sleep(Duration::ZERO);
        "not killed"
    });
    green::sleep(Duration::from_millis(50));
    eprintln!("main killing");
    sleeper.kill();
    eprintln!("main joining");
    eprintln!("{:?}", sleeper.join().map_err(|e| format!("{e:?}")));
    let t0 = Instant::now();
    let r = green::timeout(Duration::from_millis(50), || {
        std::thread::sleep(Duration::from_secs(3600));
    });
    eprintln!("timeout {:?} {:?} {:?}", r, t0.elapsed(), start.elapsed());
}
