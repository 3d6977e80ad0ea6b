"""Which role a process of a benchmark run gets, and CPU net of idle."""

import pytest

from bench.cpu import listening_inodes, net_of_idle, role_of, squall_total


@pytest.mark.parametrize(
    ("cmd", "role"),
    [
        ("/w/.venv/bin/python -P -m squall.runner.bootstrap -s json bolts.parse.ParseBolt", "parse"),
        (
            "/w/.venv/bin/python -P -m squall.runner.bootstrap -s msgpack bolts.aggregate.AggregateBolt",
            "aggregate",
        ),
        ("/w/.venv/bin/python -P -m squall.runner.bootstrap -s json spouts.events.EventSpout", "event_spout"),
        ("/w/.venv/bin/python -P -m squall.runner.bootstrap -s json bolts.dlq.DeadLetterBolt", "deadletter"),
        ("/w/.venv/bin/streamparse_run -s json bolts.persist.PersistBolt", "persist"),
        ("/w/.venv-bench/bin/python -m bench.quix_job --broker 127.0.0.1:9092 --input t", "quix"),
        ("java -Xmx1g -cp /c/lib/* org.apache.cassandra.service.CassandraDaemon", "cassandra"),
        ("java -cp /k/libs/* kafka.Kafka /k/config/server.properties", "kafka"),
        ("/usr/bin/python3.11 -c pass", "python3.11"),
        ("", "?"),
    ],
)
def test_role_of_a_child_process(cmd: str, role: str) -> None:
    assert role_of(cmd, root=False) == role


def test_the_root_of_a_squall_run_is_the_runner_and_the_quix_job_stays_quix() -> None:
    assert role_of("/w/.venv/bin/python -m squall run iot_pipeline -e dev --json", root=True) == "runner"
    assert role_of("/w/.venv-bench/bin/python -m bench.quix_job --group g", root=True) == "quix"


def test_net_of_idle_subtracts_the_idle_rate_over_the_busy_span_and_never_goes_below_zero() -> None:
    busy = {"parse": 10.0, "runner": 1.0, "kafka": 4.0}
    idle = {"parse": 0.5, "runner": 2.0}  # over 5 s: 0.1 and 0.4 CPU s per s
    assert net_of_idle(busy, 20.0, idle, 5.0) == {"parse": 8.0, "runner": 0.0, "kafka": 4.0}
    assert net_of_idle(busy, 20.0, idle, 0.0) == busy


def test_squall_total_counts_runner_spout_and_bolts_but_not_the_services() -> None:
    assert (
        squall_total({"runner": 1.0, "event_spout": 2.0, "parse": 3.5, "kafka": 9.0, "cassandra": 9.0}) == 6.5
    )


TCP_TABLE = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4711 1 0
   1: 0100007F:2352 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4712 1 0
   2: 0100007F:2384 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4713 1 0
"""


def test_listening_inodes_are_the_listen_state_sockets_of_the_port() -> None:
    assert listening_inodes(TCP_TABLE, 9092) == {"4711"}  # 0x2384; the established one (01) is not listening
    assert listening_inodes(TCP_TABLE, 9042) == {"4712"}  # 0x2352
    assert listening_inodes(TCP_TABLE, 7000) == set()
