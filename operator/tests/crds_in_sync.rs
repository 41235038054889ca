//! The committed `crds/*.yaml` (and their copies in the Helm chart, which installs CRDs from
//! `charts/apigw/crds/`) are exactly what crdgen renders from the Rust types.

use std::{collections::BTreeSet, fs, path::Path};

use apigw_operator::crdgen::render_crds;
use apigw_operator::reference::render_reference;

#[test]
fn committed_crds_match_the_types() {
    for folder in ["crds", "charts/apigw/crds"] {
        check(folder);
    }
}

fn check(folder: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(folder);
    let rendered = render_crds().expect("CRDs render");
    for (file, yaml) in &rendered {
        let committed = fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(committed == *yaml, "{folder}/{file} differs from the types in core/src/resources: run `make crds`");
    }
    let expected: BTreeSet<_> = rendered.into_iter().map(|(file, _)| file).collect();
    let present: BTreeSet<_> = fs::read_dir(&dir)
        .expect("the CRD folder exists")
        .map(|entry| entry.expect("the CRD folder is readable").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(present, expected, "{folder}/ holds files crdgen does not write: run `make crds`");
}

#[test]
fn the_committed_reference_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/crd-reference.md");
    let committed = fs::read_to_string(path).unwrap_or_default();
    assert!(committed == render_reference(), "docs/crd-reference.md differs from the types: run `make crds`");
}
