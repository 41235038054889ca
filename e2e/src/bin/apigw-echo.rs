//! `apigw-echo ADDRESS [NAME]`: the echo backend of `apigw_e2e::echo`, for the demo and benchmarks.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(address) = args.next() else {
        eprintln!("usage: apigw-echo ADDRESS [NAME]   (for example 127.0.0.1:9001 release)");
        return ExitCode::FAILURE;
    };
    let name = args.next().unwrap_or_else(|| address.clone());
    match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => {
            eprintln!("apigw-echo {name} listening on {address}");
            apigw_e2e::echo::serve(listener, name).await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("apigw-echo: binding {address}: {error}");
            ExitCode::FAILURE
        }
    }
}
