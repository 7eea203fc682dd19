//! The `plaza` binary: the command line with the messengers and plugins Plaza ships.
//! A town with its own messenger builds the same with `.channel(its::Kind)` added.

fn main() -> std::process::ExitCode {
    plaza::main(plaza::Registry::standard())
}
