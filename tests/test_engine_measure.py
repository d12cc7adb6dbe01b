"""sim.engine_measure runs a workload through the engine and reports consistent figures."""

from hdl.layouts import Auth, Op
from sim.engine_measure import WORKLOADS, Workload, measure

SMALL = (("conns", 16), ("cbc_lanes", 4), ("hash_lanes", 2), ("slots", 8), ("max_job_bytes", 256))


def test_measure_small_esp_workload():
    w = Workload("tiny-esp", Op.ENCRYPT_AUTH, 64, 16, jobs=8, sas=4, auth=Auth.HMAC_SHA1_96, params=SMALL)
    m = measure(w)
    assert (m.workload, m.bytes, m.jobs, m.sas) == ("tiny-esp", 8 * 64, 8, 4)
    assert m.cycles > 8 * (2 + 1 + 10)  # at most one job word per cycle goes in
    assert m.bytes_per_cycle == round(m.bytes / m.cycles, 3)
    assert 0 < m.bytes_per_cycle <= 8


def test_target_workloads_are_defined():
    names = {w.name for w in WORKLOADS}
    assert len(names) == len(WORKLOADS)
    assert all(w.sas >= 16 for w in WORKLOADS if w.op is not Op.DECRYPT)
