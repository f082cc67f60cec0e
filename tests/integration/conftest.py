"""Fixtures of the integration suite: a real PostgreSQL cluster with the installed extension,
real rasters made for the test, and the real plugin loaded through GDAL_DRIVER_PATH."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import psycopg2
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from osgeo import gdal  # noqa: E402

gdal.UseExceptions()


def _read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"export (\w+)=(.*)", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
    return env


@pytest.fixture(scope="session")
def cluster():
    """PGHOST/PGPORT/PGUSER of the cluster CTest started, or of one started here."""
    envfile = os.environ.get("PGMOSAIC_CLUSTER_ENV")
    own = None
    if not envfile:
        own = tempfile.mkdtemp(prefix="pgmosaic-pytest-")
        subprocess.run([os.path.join(REPO, "scripts", "pgcluster.sh"), "start", own], check=True)
        envfile = os.path.join(own, "env")
    try:
        yield _read_env(envfile)
    finally:
        if own:
            subprocess.run([os.path.join(REPO, "scripts", "pgcluster.sh"), "stop", own])


@pytest.fixture(scope="session")
def datadir():
    """A directory the database server (another OS user) can read."""
    d = tempfile.mkdtemp(prefix="pgmosaic-it-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Database:
    def __init__(self, cluster, name):
        self.name = name
        self.conninfo = (f"host={cluster['PGHOST']} port={cluster['PGPORT']} "
                         f"user={cluster['PGUSER']} dbname={name}")

    def connect(self):
        conn = psycopg2.connect(self.conninfo)
        conn.autocommit = True
        return conn

    def query(self, sql, params=None):
        # Not "with conn": psycopg2 2.9 opens a transaction there even in autocommit mode.
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def mosaic(self, name):
        return f"PGMOSAIC:{self.conninfo} mosaic={name}"

    def register(self, mosaic, paths, roots, srid=32631, priorities=None):
        """create_mosaic + add_raster of every path, in one transaction; returns the ids."""
        return self.register_into(mosaic, paths, roots, srid, priorities, create=True)

    def register_into(self, mosaic, paths, roots, srid=32631, priorities=None, create=False):
        """add_raster of every path (creating the mosaic first when asked), in one
        transaction; returns the ids."""
        conn = psycopg2.connect(self.conninfo)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SET pgmosaic.enable_file_access = on")
                cur.execute("SET pgmosaic.allowed_roots = %s", (",".join(roots),))
                if create:
                    cur.execute("SELECT pgmosaic.create_mosaic(%s, %s)", (mosaic, srid))
                ids = []
                for i, p in enumerate(paths):
                    prio = priorities[i] if priorities else 0
                    cur.execute("SELECT pgmosaic.add_raster(%s, %s, priority => %s)",
                                (mosaic, p, prio))
                    ids.append(cur.fetchone()[0])
                return ids
        finally:
            conn.close()


@pytest.fixture(scope="module")
def db(cluster, request):
    """A database with the extension, one per test module."""
    name = "pgmosaic_it_" + re.sub(r"\W", "_", request.module.__name__.split(".")[-1])
    admin = Database(cluster, "postgres")
    admin.query(f"DROP DATABASE IF EXISTS {name}")
    admin.query(f"CREATE DATABASE {name}")
    d = Database(cluster, name)
    d.query("CREATE EXTENSION pgmosaic CASCADE")
    yield d
    admin.query(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
