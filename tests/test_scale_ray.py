"""The Ray backend of aigif.scale on a real local Ray cluster (``ray.init(num_cpus=2)``):
actors keep their pipeline, the pixels equal a single-process render, a rerun skips."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
ray = pytest.importorskip("ray")
from aigif.scale import render_many  # noqa: E402

from test_scale import _pixels, make_files, scale_model  # noqa: E402,F401


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def test_ray_cluster_renders_the_same_pixels_and_resumes(make_files, tmp_path, local_ray):
    files = make_files(4)
    one = render_many(files, tmp_path / "one", device="cpu").wait()
    run = render_many(files, tmp_path / "ray", ray=True, device="cpu")
    items = list(run)
    r = run.report
    assert r.backend == "ray" and r.workers == 2, r
    assert (r.done, r.failed) == (4, 0), r.failures
    assert r.loads == 2                       # one pipeline load per actor
    assert {i.worker for i in items} == {"ray0", "ray1"}
    for f in files:
        assert _pixels(tmp_path / "ray" / (f.stem + ".png")) == \
            _pixels(tmp_path / "one" / (f.stem + ".png"))
    assert one.done == 4
    again = render_many(files, tmp_path / "ray", ray=True, device="cpu").wait()
    assert (again.done, again.skipped) == (0, 4)
