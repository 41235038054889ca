//! `apigw-echo [ADDRESS [NAME]]`: the echo backend of `apigw_e2e::echo`, for the demo, benchmarks
//! and the test node's pods. Without arguments it listens on 0.0.0.0:8080, named after its host
//! (a pod's name).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "0.0.0.0:8080".to_owned());
    let name = args.next().or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_else(|| address.clone());
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
