//! `pier-payload`: the workload binary run natively, in containers and in VMs.

fn main() {
    // Read the clock before anything else: `start` measures launch-to-first-instruction.
    let entry_ns = pier_record::clock::realtime_ns();
    let args: Vec<String> = std::env::args().collect();
    // Fast path: skip argument parsing for the start-up probe.
    if args.len() == 2 && args[1] == "start" {
        if let Err(e) = pier_payload::start::run(entry_ns) {
            eprintln!("pier-payload: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = pier_payload::run(args, entry_ns) {
        eprintln!("pier-payload: {e:#}");
        std::process::exit(1);
    }
}
