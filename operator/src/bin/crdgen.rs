//! `crdgen DIR` writes the CRDs of every apigw kind as YAML, one file per kind, into DIR (default
//! `crds`); `crdgen --reference FILE` writes the CRD reference document. `make crds` runs both;
//! tests keep the committed files in sync.

use std::{env, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let written = match args.as_slice() {
        [flag, file] if flag == "--reference" => std::fs::write(file, apigw_operator::reference::render_reference())
            .map(|()| vec![PathBuf::from(file)])
            .map_err(|error| format!("writing {file}: {error}")),
        _ => {
            let dir = PathBuf::from(args.first().map_or("crds", String::as_str));
            apigw_operator::crdgen::write_crds(&dir).map_err(|error| error.to_string())
        }
    };
    match written {
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
