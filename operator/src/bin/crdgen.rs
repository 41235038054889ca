//! Writes the CRDs of every apigw kind as YAML, one file per kind, into the folder given as the
//! first argument (default `crds`). `make crds` runs it; a test keeps the committed files in sync.

use std::{env, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let dir = PathBuf::from(env::args().nth(1).unwrap_or_else(|| "crds".to_owned()));
    match apigw_operator::crdgen::write_crds(&dir) {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("crdgen: {error}");
            ExitCode::FAILURE
        }
    }
}
