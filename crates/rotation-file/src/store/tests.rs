//! Tests of the file store: layout, permissions, contract behaviour, crash leftovers and
//! concurrent compare-and-swap.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rotation_core::{ErrorKind, RotationId, SecretPath, SecretStore, SecretValue, VersionId};
use tempfile::TempDir;

use super::*;

fn rid(s: &str) -> RotationId {
    RotationId::parse(s).unwrap()
}

fn v(n: u64) -> VersionId {
    VersionId::new(n.to_string())
}

fn val(s: &str) -> SecretValue {
    SecretValue::from(s)
}

fn store(tmp: &TempDir) -> FileStore {
    FileStore::builder(tmp.path().join("root")).build().unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn current(s: &FileStore, p: &SecretPath) -> (VersionId, Vec<u8>) {
    let c = s.read_current(p).await.unwrap();
    (c.version, c.value.expose().to_vec())
}

#[tokio::test]
async fn layout_and_permissions() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let root = tmp.path().join("root");
    assert_eq!(mode(&root), 0o700);
    let p = SecretPath::new("demo/api-key");
    s.write_current(&p, &rid("a"), &val("one"), None)
        .await
        .unwrap();
    s.stage(&p, &rid("b"), &val("two")).await.unwrap();

    let dir = root.join("demo%2Fapi-key");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("v")), 0o700);
    for f in ["index.json", "lock", "v/1", "v/2"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(fs::read(dir.join("v/1")).unwrap(), b"one");
    assert_eq!(fs::read(dir.join("v/2")).unwrap(), b"two");
    let names: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["demo%2Fapi-key"]);
    let book: VersionBook =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(book.current, Some(1));
    assert_eq!(book.pending.get(&rid("b")), Some(&2));
}

#[tokio::test]
async fn builder_checks_root_and_max_versions() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = FileStore::builder(&file).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().starts_with("root"), "{err}");

    let err = FileStore::builder(tmp.path().join("ok"))
        .max_versions(1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().contains("max_versions"));

    let s = FileStore::builder(tmp.path().join("a/b")).build().unwrap();
    assert_eq!(s.max_versions(), DEFAULT_MAX_VERSIONS);
    assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
    assert_eq!(
        fs::read_dir(s.root()).unwrap().count(),
        0,
        "probe file left behind"
    );
    let debug = format!("{s:?}");
    assert!(debug.contains("FileStore") && debug.contains("max_versions"));
    assert_eq!(s.kind(), "file");
}

#[tokio::test]
async fn missing_secret_is_not_found_and_creates_nothing() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let p = SecretPath::new("nope");
    fn kind<T>(r: Result<T>) -> ErrorKind {
        r.map(drop).unwrap_err().kind()
    }
    assert_eq!(kind(s.read_current(&p).await), ErrorKind::NotFound);
    assert_eq!(kind(s.read_previous(&p).await), ErrorKind::NotFound);
    assert_eq!(kind(s.read_version(&p, &v(1)).await), ErrorKind::NotFound);
    assert_eq!(kind(s.list_versions(&p).await), ErrorKind::NotFound);
    assert_eq!(
        kind(s.stage(&p, &rid("a"), &val("x")).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(s.promote(&p, &rid("a"), &v(1)).await),
        ErrorKind::NotFound
    );
    assert_eq!(kind(s.restore(&p, &v(1), &v(1)).await), ErrorKind::NotFound);
    let err = s
        .write_current(&p, &rid("a"), &val("x"), Some(&v(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(s.read_pending(&p, &rid("a")).await.unwrap().is_none());
    s.discard_pending(&p, &rid("a")).await.unwrap();
    assert_eq!(fs::read_dir(s.root()).unwrap().count(), 0);
}

#[tokio::test]
async fn invalid_paths_and_values() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let big = SecretValue::new(vec![0; MAX_VALUE_BYTES + 1]);
    let p = SecretPath::new("p");
    let err = s
        .write_current(&p, &rid("a"), &big, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert_eq!(fs::read_dir(s.root()).unwrap().count(), 0);
    let max = SecretValue::new(vec![0xff; MAX_VALUE_BYTES]);
    s.write_current(&p, &rid("a"), &max, None).await.unwrap();
    let err = s.stage(&p, &rid("b"), &big).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    for bad in [String::new(), "x".repeat(MAX_PATH_BYTES + 1)] {
        let err = s.read_current(&SecretPath::new(bad)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
    }
}

#[tokio::test]
async fn stage_promote_restore_and_prune() {
    let tmp = TempDir::new().unwrap();
    let s = FileStore::builder(tmp.path())
        .max_versions(3)
        .build()
        .unwrap();
    let p = SecretPath::new("db/password");
    assert_eq!(
        s.write_current(&p, &rid("a"), &val("1"), None)
            .await
            .unwrap(),
        v(1)
    );
    let err = s
        .write_current(&p, &rid("x"), &val("x"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    assert_eq!(s.stage(&p, &rid("b"), &val("2")).await.unwrap(), v(2));
    assert_eq!(s.stage(&p, &rid("b"), &val("other")).await.unwrap(), v(2));
    let pending = s.read_pending(&p, &rid("b")).await.unwrap().unwrap();
    assert_eq!(pending.value.expose(), b"2");
    assert_eq!(current(&s, &p).await, (v(1), b"1".to_vec()));
    assert_eq!(
        s.read_version(&p, &v(2)).await.unwrap().value.expose(),
        b"2"
    );

    let err = s.promote(&p, &rid("b"), &v(7)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(s.promote(&p, &rid("b"), &v(1)).await.unwrap(), v(2));
    assert_eq!(s.promote(&p, &rid("b"), &v(1)).await.unwrap(), v(2));
    assert_eq!(current(&s, &p).await, (v(2), b"2".to_vec()));
    let prev = s.read_previous(&p).await.unwrap().unwrap();
    assert_eq!((prev.version, prev.value.expose()), (v(1), &b"1"[..]));

    s.stage(&p, &rid("c"), &val("3")).await.unwrap();
    s.discard_pending(&p, &rid("c")).await.unwrap();
    s.discard_pending(&p, &rid("c")).await.unwrap();
    assert!(s.read_pending(&p, &rid("c")).await.unwrap().is_none());
    let vdir = s.root().join("db%2Fpassword/v");
    assert!(!vdir.join("3").exists());

    assert_eq!(s.restore(&p, &v(1), &v(2)).await.unwrap(), v(1));
    assert_eq!(current(&s, &p).await, (v(1), b"1".to_vec()));

    let mut cur = v(1);
    for i in 0..4 {
        cur = s
            .write_current(
                &p,
                &rid(&format!("w{i}")),
                &val(&format!("w{i}")),
                Some(&cur),
            )
            .await
            .unwrap();
    }
    let list = s.list_versions(&p).await.unwrap();
    let numbers: Vec<_> = list.iter().map(|i| i.version.clone()).collect();
    assert_eq!(numbers, [v(7), v(6), v(5)]);
    let mut files: Vec<_> = fs::read_dir(&vdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["5", "6", "7"]);

    let reopened = FileStore::builder(tmp.path()).build().unwrap();
    assert_eq!(current(&reopened, &p).await, (v(7), b"w3".to_vec()));
}

#[tokio::test]
async fn crash_leftovers_are_harmless() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let p = SecretPath::new("k");
    s.write_current(&p, &rid("a"), &val("one"), None)
        .await
        .unwrap();
    let dir = s.root().join("k");
    // Orphans: value files written but never named by a saved index, and tmp files.
    fs::write(dir.join("v/2"), b"orphan-next").unwrap();
    fs::write(dir.join("v/9"), b"orphan-high").unwrap();
    fs::write(dir.join("v/2.tmp"), b"partial").unwrap();
    fs::write(dir.join("index.json.tmp"), b"{ garbage").unwrap();
    assert_eq!(current(&s, &p).await, (v(1), b"one".to_vec()));
    assert_eq!(s.list_versions(&p).await.unwrap().len(), 1);
    assert_eq!(
        s.read_version(&p, &v(9)).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Number 2 is allocated again: the orphan is overwritten.
    let n = s
        .write_current(&p, &rid("b"), &val("two"), Some(&v(1)))
        .await
        .unwrap();
    assert_eq!(n, v(2));
    assert_eq!(current(&s, &p).await, (v(2), b"two".to_vec()));
    assert!(!dir.join("index.json.tmp").exists());
    assert_eq!(mode(&dir.join("v/2")), 0o600);

    // A directory created but never indexed (crash before the first index) is absent.
    fs::create_dir(s.root().join("half")).unwrap();
    let half = SecretPath::new("half");
    assert_eq!(
        s.read_current(&half).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    s.write_current(&half, &rid("a"), &val("h"), None)
        .await
        .unwrap();
    assert_eq!(current(&s, &half).await, (v(1), b"h".to_vec()));
}

#[tokio::test]
async fn corrupt_index_is_internal_and_names_the_file() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let p = SecretPath::new("k");
    s.write_current(&p, &rid("a"), &val("hunter2"), None)
        .await
        .unwrap();
    fs::write(s.root().join("k/index.json"), b"{ not json").unwrap();
    let err = s.read_current(&p).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("index.json"), "{err}");
    assert!(err.to_string().contains("secret k"), "{err}");
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_promotes_have_one_winner_per_expected_version() {
    const TASKS: usize = 12;
    const ROUNDS: usize = 4;
    let tmp = TempDir::new().unwrap();
    let s = Arc::new(store(&tmp));
    let p = SecretPath::new("shared/secret");
    let mut expected = s
        .write_current(&p, &rid("init"), &val("0"), None)
        .await
        .unwrap();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (s, p, expected) = (s.clone(), p.clone(), expected.clone());
            tasks.push(tokio::spawn(async move {
                let id = rid(&format!("r{round}-t{t}"));
                s.stage(&p, &id, &val(&format!("{round}-{t}")))
                    .await
                    .unwrap();
                match s.promote(&p, &id, &expected).await {
                    Ok(n) => Some((n, format!("{round}-{t}"))),
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        s.discard_pending(&p, &id).await.unwrap();
                        None
                    }
                    Err(e) => panic!("{e}"),
                }
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (n, value) = winners.remove(0);
        assert_eq!(current(&s, &p).await, (n.clone(), value.into_bytes()));
        assert_eq!(
            s.read_previous(&p).await.unwrap().unwrap().version,
            expected
        );
        expected = n;
    }
    // Concurrent immediate writes: again exactly one wins per expected version.
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (s, p, expected) = (s.clone(), p.clone(), expected.clone());
        tasks.push(tokio::spawn(async move {
            s.write_current(&p, &rid(&format!("w{t}")), &val("w"), Some(&expected))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict),
        }
    }
    assert_eq!(ok, 1);
    let book: VersionBook =
        serde_json::from_slice(&fs::read(s.root().join("shared%2Fsecret/index.json")).unwrap())
            .unwrap();
    assert!(book.pending.is_empty());
    assert!(book.versions.len() <= DEFAULT_MAX_VERSIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_have_one_winner() {
    let tmp = TempDir::new().unwrap();
    let s = Arc::new(store(&tmp));
    let p = SecretPath::new("new");
    let tasks: Vec<_> = (0..10)
        .map(|t| {
            let (s, p) = (s.clone(), p.clone());
            tokio::spawn(async move {
                s.write_current(&p, &rid(&format!("c{t}")), &val("v"), None)
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(n) => {
                assert_eq!(n, v(1));
                ok += 1;
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict),
        }
    }
    assert_eq!(ok, 1);
}

/// Child side of [`cas_counter_across_processes`]: increments the counter with CAS retries.
#[tokio::test]
#[ignore = "child process of a multi-process test; run by its parent with --ignored"]
async fn child_cas_counter() {
    let root = std::env::var("ROTATION_FILE_TEST_STORE_ROOT")
        .expect("run by cas_counter_across_processes");
    let s = FileStore::builder(root).build().unwrap();
    let p = SecretPath::new("counter");
    for i in 0..10 {
        loop {
            let (ver, bytes) = current(&s, &p).await;
            let n: u64 = String::from_utf8(bytes).unwrap().parse().unwrap();
            let id = rid(&format!("p{}-{i}", std::process::id()));
            let next = val(&(n + 1).to_string());
            match s.write_current(&p, &id, &next, Some(&ver)).await {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[tokio::test]
async fn cas_counter_across_processes() {
    const CHILDREN: u64 = 6;
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let p = SecretPath::new("counter");
    s.write_current(&p, &rid("init"), &val("0"), None)
        .await
        .unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "--ignored",
                    "store::tests::child_cas_counter",
                    "--test-threads=1",
                ])
                .env("ROTATION_FILE_TEST_STORE_ROOT", s.root())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let (_, bytes) = current(&s, &p).await;
    assert_eq!(bytes, (CHILDREN * 10).to_string().into_bytes());
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every entry under `dir` (relative name, mode, contents of files), to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                out.push((name, mode(&path), Vec::new()));
                stack.push(path);
            } else {
                out.push((name, mode(&path), fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn group_or_world_writable_root_is_refused_at_build_and_on_access() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    for (m, who) in [
        (0o777, "world-writable (mode 0777)"),
        (0o770, "group-writable (mode 0770)"),
        (0o702, "world-writable (mode 0702)"),
        (0o1777, "world-writable (mode 1777)"),
        (0o720, "group-writable (mode 0720)"),
    ] {
        chmod(&root, m);
        for builder in [
            FileStore::builder(&root),
            FileStore::builder(&root).read_only(),
        ] {
            let err = builder.build().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
            let want = format!(
                "root: file store root {} is {who}: chmod 700 it",
                root.display()
            );
            assert_eq!(err.message(), want);
        }
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "nothing written");
    }

    // A root that becomes writable by others after the store was opened is refused too.
    chmod(&root, 0o755);
    let s = FileStore::builder(&root).build().unwrap();
    let p = SecretPath::new("k");
    s.write_current(&p, &rid("a"), &val("one"), None)
        .await
        .unwrap();
    chmod(&root, 0o775);
    let before = snapshot(&root);
    let err = s.read_current(&p).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.message().contains("group-writable (mode 0775)"),
        "{err}"
    );
    let err = s.stage(&p, &rid("b"), &val("two")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert_eq!(snapshot(&root), before);
    chmod(&root, 0o700);
    assert_eq!(current(&s, &p).await, (v(1), b"one".to_vec()));
}

#[tokio::test]
async fn a_root_given_through_a_symlink_is_resolved_once() {
    let tmp = TempDir::new().unwrap();
    let real = tmp.path().join("real");
    let link = tmp.path().join("link");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let s = FileStore::builder(&link).build().unwrap();
    assert_eq!(s.root(), fs::canonicalize(&real).unwrap());
    let p = SecretPath::new("k");
    s.write_current(&p, &rid("a"), &val("one"), None)
        .await
        .unwrap();
    assert_eq!(fs::read(real.join("k/v/1")).unwrap(), b"one");
    // A world-writable target is refused however it is reached.
    chmod(&real, 0o777);
    let err = FileStore::builder(&link).build().unwrap_err();
    assert!(err.message().contains("world-writable"), "{err}");
}

#[tokio::test]
async fn a_symlinked_secret_directory_is_refused_and_nothing_is_written_through_it() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    // Outside the root: a real secret of another store, and an empty directory.
    let other = FileStore::builder(tmp.path().join("other"))
        .build()
        .unwrap();
    let p = SecretPath::new("k");
    other
        .write_current(&p, &rid("a"), &val("outside"), None)
        .await
        .unwrap();
    other.stage(&p, &rid("b"), &val("pending")).await.unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let outside = |_: ()| (snapshot(other.root()), snapshot(&empty));
    let before = outside(());

    for (name, target) in [("k", other.root().join("k")), ("e", empty.clone())] {
        let link = s.root().join(name);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let p = SecretPath::new(name);
        let refused = |err: rotation_core::Error| {
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
            let want = format!("secret directory {} is a symlink", link.display());
            assert!(err.message().contains(&want), "{err}");
            assert!(
                err.message()
                    .starts_with(&format!("file store: secret {name}:"))
            );
        };
        refused(s.read_current(&p).await.unwrap_err());
        refused(s.read_previous(&p).await.unwrap_err());
        refused(s.read_version(&p, &v(1)).await.unwrap_err());
        refused(s.read_pending(&p, &rid("b")).await.unwrap_err());
        refused(s.list_versions(&p).await.unwrap_err());
        refused(
            s.write_current(&p, &rid("c"), &val("x"), None)
                .await
                .unwrap_err(),
        );
        refused(
            s.write_current(&p, &rid("c"), &val("x"), Some(&v(1)))
                .await
                .unwrap_err(),
        );
        refused(s.stage(&p, &rid("c"), &val("x")).await.unwrap_err());
        refused(s.promote(&p, &rid("b"), &v(1)).await.unwrap_err());
        refused(s.discard_pending(&p, &rid("b")).await.unwrap_err());
        refused(s.restore(&p, &v(1), &v(1)).await.unwrap_err());
    }
    assert_eq!(outside(()), before, "the outside directories are unchanged");
    assert_eq!(current(&other, &p).await, (v(1), b"outside".to_vec()));
}

#[tokio::test]
async fn a_secret_or_value_directory_writable_by_others_or_symlinked_is_refused() {
    let tmp = TempDir::new().unwrap();
    let s = store(&tmp);
    let p = SecretPath::new("k");
    s.write_current(&p, &rid("a"), &val("one"), None)
        .await
        .unwrap();
    let dir = s.root().join("k");
    for (target, m, why) in [
        (dir.clone(), 0o770, "secret directory"),
        (dir.join("v"), 0o777, "value directory"),
    ] {
        chmod(&target, m);
        let before = snapshot(s.root());
        let want = format!("{why} {} is ", target.display());
        for err in [
            s.read_current(&p).await.unwrap_err(),
            s.stage(&p, &rid("b"), &val("two")).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
            assert!(err.message().contains(&want), "{err}");
            assert!(
                err.message()
                    .contains(&format!("(mode {m:04o}): chmod 700 it"))
            );
        }
        assert_eq!(snapshot(s.root()), before, "nothing written");
        chmod(&target, 0o700);
        assert_eq!(current(&s, &p).await, (v(1), b"one".to_vec()));
    }

    // A `v/` that is a symlink (here to a directory inside the root) is refused as well.
    let outside = tmp.path().join("values");
    fs::create_dir(&outside).unwrap();
    fs::rename(dir.join("v"), outside.join("v")).unwrap();
    std::os::unix::fs::symlink(outside.join("v"), dir.join("v")).unwrap();
    let err = s.read_current(&p).await.unwrap_err();
    assert!(err.message().contains("value directory"), "{err}");
    assert!(err.message().contains("is a symlink"), "{err}");
}
