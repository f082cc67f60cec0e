"""Web map servers on loopback for the tests and the benchmarks, as GIS people run them:

- MapServer 8 (mapserv) and QGIS Server 3.22 (qgis_mapserv.fcgi) as FastCGI process pools
  (spawn-fcgi) behind one nginx, which also serves static files (the map page);
- MapCache 1.14 as mod_mapcache in an apache2 of its own, its tiles coming from MapServer's WMS
  and kept in a disk cache.

Everything listens on 127.0.0.1 on free ports, lives in one directory and is stopped by stop()
(or the context managers), even when a test fails. The packages come from
scripts/install-deps.sh; available() says which are there.

    with WebSite(workdir, mapfile_layers={"mosaic": "PGMOSAIC:... mosaic=m"}, srid=32631,
                 extent=(x0, y0, x1, y1), env={...}) as site:
        site.get("/wms?SERVICE=WMS&...")         # (status, content type, body)
        site.get(site.tile_path("mosaic", z, x, y))
"""

import os
import pwd
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

MAPSERV = "/usr/lib/cgi-bin/mapserv"
QGIS_SERVER = "/usr/lib/cgi-bin/qgis_mapserv.fcgi"
SPAWN_FCGI = "/usr/bin/spawn-fcgi"
NGINX = "/usr/sbin/nginx"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
MAPCACHE_SEED = "/usr/bin/mapcache_seed"
CHROMIUM = "/usr/bin/chromium"
WEB_USER = "www-data"  # apache2 drops to it; MapCache's cache belongs to it

COMPONENTS = {
    "mapserver": (MAPSERV, SPAWN_FCGI, NGINX),
    "qgis_server": (QGIS_SERVER, SPAWN_FCGI, NGINX),
    "mapcache": (APACHE, os.path.join(APACHE_MODULES, "mod_mapcache.so"), MAPCACHE_SEED),
    "chromium": (CHROMIUM, NGINX),
}


def available(component="mapserver"):
    return all(os.path.exists(p) for p in COMPONENTS[component])


def missing(component):
    """The files a component lacks (for a skip message)."""
    return [p for p in COMPONENTS[component] if not os.path.exists(p)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, what="server", timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{what} did not start: {err}")
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


def http_get(url, timeout=60):
    """(HTTP status, content type, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def _running(pid):
    """Alive and not a zombie (spawn-fcgi's children are reparented; nobody may reap them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _stop_pids(pids, timeout=3):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    for pid in pids:
        while _running(pid) and time.time() < deadline:
            time.sleep(0.05)
        if _running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _stop_popen(proc, timeout=10):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- MapServer's mapfile ------------------------------------------------------------------

def mapfile_text(layers, srid, extent, resample="NEAREST", processing=None):
    """A mapfile with one raster layer per (name, DATA), in EPSG:srid, answering WMS in that SRS
    and EPSG:3857 (tile mode). A DATA of the form ("POSTGIS", connection, data) is a
    PostGISRaster layer given by CONNECTION-less GDAL string; processing maps a layer name to
    extra PROCESSING directives (a stretch, say)."""
    x0, y0, x1, y1 = extent
    # The map's NAME is WMS's root layer (asking for it draws every layer): no layer's name.
    out = [f"""MAP
  NAME "pgmosaic_site_root"
  EXTENT {x0!r} {y0!r} {x1!r} {y1!r}
  SIZE 256 256
  MAXSIZE 4096
  PROJECTION "init=epsg:{srid}" END
  OUTPUTFORMAT
    NAME "png"
    DRIVER AGG/PNG
    MIMETYPE "image/png"
    IMAGEMODE RGBA
    EXTENSION "png"
    FORMATOPTION "COMPRESSION=1"
  END
  WEB METADATA "wms_title" "pgmosaic" "wms_srs" "EPSG:{srid} EPSG:3857"
    "wms_enable_request" "*" END END"""]
    for name, data in layers.items():
        extra = "".join(f'    PROCESSING "{p}"\n' for p in (processing or {}).get(name, []))
        out.append(f"""  LAYER
    NAME "{name}"
    TYPE RASTER
    STATUS ON
    DATA "{data}"
    PROJECTION "init=epsg:{srid}" END
    PROCESSING "RESAMPLE={resample}"
{extra}    METADATA "wms_title" "{name}" END
  END""")
    out.append("END\n")
    return "\n".join(out)


# --- FastCGI pools and nginx --------------------------------------------------------------

class FcgiPool:
    """`processes` FastCGI processes of one program on one loopback port (spawn-fcgi)."""

    def __init__(self, program, env, processes, workdir, name):
        self.program, self.env, self.processes = program, env, processes
        self.port = free_port()
        self.pidfile = os.path.join(workdir, f"{name}-fcgi.pid")
        self.log = os.path.join(workdir, f"{name}-fcgi.log")
        self.pids = []

    def start(self):
        with open(self.log, "ab") as log:
            subprocess.run([SPAWN_FCGI, "-a", "127.0.0.1", "-p", str(self.port),
                            "-F", str(self.processes), "-P", self.pidfile, "--", self.program],
                           env=self.env, check=True, stdout=log, stderr=log)
        with open(self.pidfile) as f:
            self.pids = [int(p) for p in f.read().split()]
        wait_port(self.port, what=os.path.basename(self.program))

    def stop(self):
        _stop_pids(self.pids)
        self.pids = []


# The CGI variables both programs need; QUERY_STRING is set by each location.
_FCGI_PARAMS = """      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param DOCUMENT_URI $document_uri;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param REQUEST_SCHEME $scheme;
      fastcgi_param SERVER_ADDR $server_addr;
      fastcgi_param SERVER_PORT $server_port;
      fastcgi_param SERVER_NAME $server_name;
      fastcgi_param REMOTE_ADDR $remote_addr;
"""


class WebSite:
    """MapServer (and QGIS Server, and static files) behind one nginx on loopback.

    Routes: /wms (the mapfile's WMS), /tiles/<layer>/<z>/<x>/<y>.png (MapServer's tile mode:
    web mercator XYZ, 256 px), /qgis (QGIS Server's WMS of `qgis_project`), / (the files of
    `static_root`)."""

    def __init__(self, workdir, layers=None, srid=None, extent=None, env=None, processes=2,
                 resample="NEAREST", processing=None, qgis_project=None, qgis_processes=2,
                 static_root=None):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        env = dict(env or {})
        self.pools = {}
        if layers:
            self.mapfile = os.path.join(self.dir, "site.map")
            with open(self.mapfile, "w") as f:
                f.write(mapfile_text(layers, srid, extent, resample, processing))
            config = os.path.join(self.dir, "mapserver.conf")
            extra = "".join(f'    {k} "{v}"\n' for k, v in env.items())
            with open(config, "w") as f:
                f.write(f'CONFIG\n  ENV\n    MS_MAP_PATTERN "^{self.dir}/"\n'
                        f'    MS_MAPFILE "{self.mapfile}"\n{extra}  END\nEND\n')
            self.pools["mapserver"] = FcgiPool(
                MAPSERV, dict(os.environ, MAPSERVER_CONFIG_FILE=config, MS_MAPFILE=self.mapfile,
                              **env), processes, self.dir, "mapserver")
        if qgis_project:
            qenv = dict(os.environ, QGIS_PROJECT_FILE=str(qgis_project),
                        QT_QPA_PLATFORM="offscreen", QGIS_SERVER_LOG_STDERR="1",
                        QGIS_SERVER_LOG_LEVEL="2", HOME=self.dir,
                        QGIS_OPTIONS_PATH=os.path.join(self.dir, "qgis-options"),
                        QGIS_AUTH_DB_DIR_PATH=os.path.join(self.dir, "qgis-auth"), **env)
            self.pools["qgis"] = FcgiPool(QGIS_SERVER, qenv, qgis_processes, self.dir, "qgis")
        self.static_root = static_root
        self._nginx = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        for pool in self.pools.values():
            pool.start()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._nginx_conf())
        self._nginx = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf, "-g", "daemon off;"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, self._nginx, "nginx")

    def _nginx_conf(self):
        locations = []
        ms = self.pools.get("mapserver")
        if ms:
            locations.append(f"""    location /wms {{
{_FCGI_PARAMS}      fastcgi_param QUERY_STRING $query_string;
      fastcgi_pass 127.0.0.1:{ms.port};
    }}
    location ~ ^/tiles/(?<layer>[A-Za-z0-9_]+)/(?<z>[0-9]+)/(?<x>[0-9]+)/(?<y>[0-9]+)\\.png$ {{
{_FCGI_PARAMS}      fastcgi_param QUERY_STRING mode=tile&tilemode=gmap&tile=$x+$y+$z&layers=$layer&map.imagetype=png;
      fastcgi_pass 127.0.0.1:{ms.port};
    }}""")
        qg = self.pools.get("qgis")
        if qg:
            locations.append(f"""    location /qgis {{
{_FCGI_PARAMS}      fastcgi_param QUERY_STRING $query_string;
      fastcgi_pass 127.0.0.1:{qg.port};
    }}""")
        if self.static_root:
            locations.append(f"""    location / {{
      root {self.static_root};
    }}""")
        body = "\n".join(locations)
        return f"""worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  include /etc/nginx/mime.types;
  client_body_temp_path {self.dir}/tmp-body;
  fastcgi_temp_path {self.dir}/tmp-fastcgi;
  proxy_temp_path {self.dir}/tmp-proxy;
  uwsgi_temp_path {self.dir}/tmp-uwsgi;
  scgi_temp_path {self.dir}/tmp-scgi;
  fastcgi_read_timeout 120s;
  server {{
    listen 127.0.0.1:{self.port};
{body}
  }}
}}
"""

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def tile_path(self, layer, z, x, y):
        return f"/tiles/{layer}/{z}/{x}/{y}.png"

    def get(self, path, timeout=60):
        return http_get(self.url(path), timeout)

    def fcgi_pids(self, name="mapserver"):
        return list(self.pools[name].pids)

    def stop(self):
        _stop_popen(self._nginx)
        self._nginx = None
        for pool in self.pools.values():
            pool.stop()


# --- MapCache under apache2 ---------------------------------------------------------------

def grid_xml(name, srid, origin, resolutions, size=256, units="m"):
    """A MapCache grid in EPSG:srid whose top-left corner is `origin` (x, y) and whose levels
    have these resolutions, finest last; the extent holds the finest level's 2^n tiles."""
    x0, y1 = origin
    span = resolutions[0] * size * 1  # one tile at the coarsest level
    ext = f"{x0!r} {y1 - span!r} {x0 + span!r} {y1!r}"
    res = " ".join(repr(r) for r in resolutions)
    return f"""  <grid name="{name}">
    <srs>EPSG:{srid}</srs>
    <units>{units}</units>
    <size>{size} {size}</size>
    <extent>{ext}</extent>
    <resolutions>{res}</resolutions>
    <origin>top-left</origin>
  </grid>"""


class MapCacheSite:
    """mod_mapcache in an apache2 of its own, caching the WMS layer `layer` of `wms_url` in a
    disk cache under workdir/cache, for the grids given (GoogleMapsCompatible is MapCache's
    own; others as grid_xml() texts). Tiles: /mapcache/gmaps/<layer>@<grid>/<z>/<x>/<y>.png
    (XYZ rows) and WMTS."""

    def __init__(self, workdir, wms_url, layer, grids=("GoogleMapsCompatible",),
                 grid_defs=(), threads=150):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.layer = layer
        self.cache_dir = os.path.join(self.dir, "cache")
        self.lock_dir = os.path.join(self.dir, "locks")
        web = pwd.getpwnam(WEB_USER)
        for d in (self.cache_dir, self.lock_dir):
            os.makedirs(d, exist_ok=True)
            os.chown(d, web.pw_uid, web.pw_gid)
        os.chmod(self.dir, 0o755)
        self.config = os.path.join(self.dir, "mapcache.xml")
        grid_refs = "".join(f"<grid>{g}</grid>" for g in grids)
        defs = "\n".join(grid_defs)
        with open(self.config, "w") as f:
            f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<mapcache>
{defs}
  <cache name="disk" type="disk">
    <base>{self.cache_dir}</base>
  </cache>
  <format name="PNGexact" type="PNG"><compression>fast</compression></format>
  <source name="wms" type="wms">
    <getmap><params>
      <FORMAT>image/png</FORMAT><LAYERS>{layer}</LAYERS><TRANSPARENT>true</TRANSPARENT>
    </params></getmap>
    <http><url>{wms_url}</url><connection_timeout>30</connection_timeout><timeout>120</timeout></http>
  </source>
  <tileset name="{layer}">
    <source>wms</source>
    <cache>disk</cache>
    {grid_refs}
    <format>PNGexact</format>
    <metatile>1 1</metatile>
    <metabuffer>0</metabuffer>
  </tileset>
  <service type="wms" enabled="true"/>
  <service type="wmts" enabled="true"/>
  <service type="gmaps" enabled="true"/>
  <locker type="disk"><directory>{self.lock_dir}</directory><retry>0.01</retry><timeout>60</timeout></locker>
  <threaded_fetching>true</threaded_fetching>
  <log_level>warn</log_level>
</mapcache>
""")
        self.apache_conf = os.path.join(self.dir, "apache2.conf")
        with open(self.apache_conf, "w") as f:
            f.write(f"""ServerRoot {self.dir}
DefaultRuntimeDir {self.dir}
PidFile {self.dir}/apache2.pid
ErrorLog {self.dir}/apache2-error.log
LogLevel warn
LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule mapcache_module {APACHE_MODULES}/mod_mapcache.so
User {WEB_USER}
Group {WEB_USER}
Listen 127.0.0.1:{self.port}
ServerName 127.0.0.1
ServerLimit 4
StartServers 2
ThreadsPerChild 50
ThreadLimit 64
MaxRequestWorkers {threads}
KeepAlive On
MapCacheAlias /mapcache {self.config}
<Directory />
  Require all granted
</Directory>
""")
        self._apache = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._apache = subprocess.Popen([APACHE, "-f", self.apache_conf, "-DFOREGROUND"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env=dict(os.environ, APACHE_RUN_DIR=self.dir))
        wait_port(self.port, self._apache, "apache2")

    def tile_path(self, z, x, y, grid="GoogleMapsCompatible"):
        return f"/mapcache/gmaps/{self.layer}@{grid}/{z}/{x}/{y}.png"

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, timeout=60):
        return http_get(self.url(path), timeout)

    def tile_file(self, z, x, y, grid="GoogleMapsCompatible"):
        """The cached file of a tile, or None. MapCache's disk cache ('default' template):
        <base>/<tileset>/<grid>/<z>/<x/1e6>/<x/1e3%1e3>/<x%1e3>/<y/1e6>/..., y counted from the
        grid's origin row at the bottom for a bottom-left origin; found by walking instead."""
        return self._find(z, x, y, grid)

    def _find(self, z, x, y, grid):
        base = os.path.join(self.cache_dir, self.layer, grid, f"{z:02d}")
        xs = f"{x // 1000000:03d}/{x // 1000 % 1000:03d}/{x % 1000:03d}"
        for yy in (y, self._flip(z, y, grid)):
            ys = f"{yy // 1000000:03d}/{yy // 1000 % 1000:03d}/{yy % 1000:03d}"
            p = os.path.join(base, xs, ys + ".png")
            if os.path.exists(p):
                return p
        return None

    @staticmethod
    def _flip(z, y, grid):
        return (1 << z) - 1 - y

    def seed_command(self):
        """mapcache_seed as the cache's owner (apache2's user), for this configuration."""
        return ["runuser", "-u", WEB_USER, "--", MAPCACHE_SEED, "-c", self.config]

    def seed(self, zooms, grid="GoogleMapsCompatible", extent=None, threads=2, mode="seed"):
        cmd = self.seed_command() + ["-t", self.layer, "-g", grid, "-z",
                                     f"{zooms[0]},{zooms[1]}", "-n", str(threads), "-q",
                                     "-m", mode]
        if extent:
            cmd += ["-e", ",".join(repr(v) for v in extent)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {(r.stdout + r.stderr)[-2000:]}")

    def stop(self):
        if self._apache is not None and self._apache.poll() is None:
            # apache2 stops gracefully on SIGTERM (its children with it)
            self._apache.send_signal(signal.SIGTERM)
            try:
                self._apache.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._apache.kill()
                self._apache.wait()
        self._apache = None


# --- headless Chromium --------------------------------------------------------------------

def chromium_screenshot(url, out_png, workdir, size=(800, 800), budget_ms=15000):
    """A screenshot of `url` by headless Chromium with a fresh profile, after the page had
    `budget_ms` of virtual time to load (tiles included)."""
    profile = os.path.join(str(workdir), "chromium-profile")
    os.makedirs(profile, exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
           "--force-device-scale-factor=1", "--force-color-profile=srgb",
           f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={budget_ms}",
           f"--screenshot={out_png}", url]
    r = subprocess.run(cmd, capture_output=True, timeout=120,
                       env=dict(os.environ, HOME=str(workdir)))
    if not os.path.exists(out_png):
        raise RuntimeError("chromium made no screenshot: " + r.stderr.decode()[-2000:])
    return out_png

