//! The `faultline` binary's subcommands: one module per subcommand, each turning its flags
//! ([`args`]) into a call of the library and printing the result. No test logic lives here.

pub mod args;
pub mod bench;
pub mod bugs;
pub mod check;
pub mod cleanup;
pub mod maelstrom;
pub mod mem_register;
pub mod output;
pub mod relay;
pub mod report;
pub mod serve;
pub mod suite;
pub mod test;

/// Runs the subcommand `command` names.
pub fn run(command: args::Command) -> anyhow::Result<faultline::exit::ExitCode> {
    use args::Command;
    match command {
        Command::Test(args) => test::run(&args),
        Command::Cleanup(args) => cleanup::run(&args),
        Command::Suite(args) => suite::run(&args),
        Command::Bugs(args) => bugs::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::MemRegister(args) => mem_register::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Maelstrom(args) => maelstrom::run(&args),
        Command::Relay(args) => relay::run(&args),
    }
}
