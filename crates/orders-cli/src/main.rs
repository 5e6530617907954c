//! The `orders` command; everything but this call is in the library (`orders_cli::cli`).

fn main() -> std::process::ExitCode {
    orders_cli::cli::main()
}
