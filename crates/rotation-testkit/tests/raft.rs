//! A raft-backed server keeps its data across a crash (SIGKILL) and restart.

use rotation_testkit::RaftBao;

#[test]
fn data_survives_stop_and_restart() {
    let mut server = RaftBao::start();
    let bao = server.bao().clone();
    bao.cli_ok(&["kv", "put", "secret/outage", "value=before-crash"]);

    server.stop();
    let down = bao.cli(&["kv", "get", "secret/outage"]);
    assert!(!down.status.success(), "a stopped server still answers");

    server.restart();
    let value = bao.cli_ok(&["kv", "get", "-field=value", "secret/outage"]);
    assert_eq!(value.trim(), "before-crash");
    // The restarted server takes writes again.
    bao.cli_ok(&["kv", "put", "secret/outage", "value=after-restart"]);
    let value = bao.cli_ok(&["kv", "get", "-field=value", "secret/outage"]);
    assert_eq!(value.trim(), "after-restart");
}
