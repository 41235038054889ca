//! Every example applies cleanly to a real kube-apiserver, and its apigw objects are stored.

use std::fs;

use apigw_e2e::{Namespace, repo_root};

#[test]
fn every_example_applies_cleanly() {
    let mut folders: Vec<_> = fs::read_dir(repo_root().join("examples"))
        .expect("examples/ exists")
        .map(|entry| entry.expect("examples/ is readable").path())
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    assert!(folders.len() >= 7, "expected the seven example folders, found {folders:?}");
    for folder in folders {
        let name = folder.file_name().expect("a folder name").to_string_lossy().into_owned();
        assert!(folder.join("README.md").is_file(), "examples/{name} has no README.md");
        let namespace = Namespace::create("e2e-example");
        let mut files: Vec<_> = fs::read_dir(&folder)
            .expect("example folder is readable")
            .map(|entry| entry.expect("example folder is readable").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "yaml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "examples/{name} has no YAML");
        let mut declared = 0;
        for file in files {
            let yaml = fs::read_to_string(&file).expect("example is readable");
            declared += yaml.lines().filter(|line| line.starts_with("apiVersion: apigw.io/")).count();
            namespace.apply(&yaml).expect_success(&format!("applying {}", file.display()));
        }
        let stored = namespace.kubectl(&["get", "apigw", "-o", "name"]).expect_success("listing apigw objects");
        assert_eq!(stored.lines().count(), declared, "examples/{name}: stored objects differ:\n{stored}");
    }
}
