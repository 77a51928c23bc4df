"""The private cluster's folder belongs to the cluster user; root never follows a link
there (issue 21, item 7): whoever can act as that user could otherwise point ``run`` or a
lock file at ``/etc`` and have root ``chown``/``chmod``/create through it."""

from __future__ import annotations

import os
import pwd
import shutil
import stat

import pytest

from desk_desktop.db.local_cluster import ClusterError, LocalCluster


@pytest.fixture
def cluster(tmp_path):
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    c = LocalCluster(tmp_path / "cluster", cluster_user=user)
    c.base_dir.mkdir(parents=True, exist_ok=True)
    yield c
    shutil.rmtree(c.base_dir, ignore_errors=True)


def _state(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_a_linked_run_folder_is_refused_and_its_target_untouched(cluster, tmp_path):
    victim = tmp_path / "etc"
    victim.mkdir(mode=0o755)
    before = _state(victim)
    (cluster.base_dir / "run").symlink_to(victim)
    with pytest.raises(ClusterError, match="symbolic link"):
        cluster.start()
    assert _state(victim) == before
    assert not (cluster.base_dir / "pgdata").exists()  # nothing started


@pytest.mark.parametrize("name", ["start.lock", "clients.lock", "keep-running"])
def test_a_linked_lock_or_pin_file_is_refused_and_nothing_is_created_through_it(cluster, tmp_path, name):
    target = tmp_path / "created-by-root"
    (cluster.base_dir / "run").mkdir()
    (cluster.base_dir / name).symlink_to(target)
    with pytest.raises(ClusterError, match="symbolic link"):
        {"start.lock": cluster.start, "clients.lock": cluster.acquire_lease, "keep-running": cluster.pin}[name]()
    assert not target.exists()


def test_without_links_the_folders_are_prepared_for_the_cluster_user(cluster):
    cluster.pin()
    cluster.unpin()
    cluster.acquire_lease()
    try:
        uid = pwd.getpwnam(cluster.cluster_user).pw_uid
        cluster._prepare_dirs()
        for d in (cluster.base_dir, cluster.socket_dir):
            st = os.lstat(d)
            assert stat.S_ISDIR(st.st_mode) and st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o700
    finally:
        cluster.release_lease_and_stop_if_last()
