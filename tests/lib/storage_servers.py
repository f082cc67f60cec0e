"""Storage servers on loopback for the remote-read tests and benchmark (the web map servers are
servers.py's), each on a free port in a temporary directory and stopped at the end: nginx
(plain HTTP with range requests, an access log to count requests), s3rver (S3-compatible,
installed by scripts/install-test-servers.sh) and the latency proxy (latency_proxy.py).
Nothing listens beyond 127.0.0.1. They run without the sanitizer's preload (tests/sanitize/
run.sh): none of them is instrumented."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S3RVER = os.path.join(REPO, "tests", "servers", "node_modules", ".bin", "s3rver")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def clean_env():
    """The environment without the sanitizer's preload."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def available():
    """Why the servers cannot run here (None when they can)."""
    if not os.path.exists(NGINX):
        return "nginx is not installed (scripts/install-deps.sh installs it)"
    if not os.path.exists(S3RVER):
        return "s3rver is not installed (scripts/install-test-servers.sh installs it)"
    return None


class Nginx:
    """Serves `root` over plain HTTP on 127.0.0.1 (range requests, ETags, If-Match), with
    /forbidden/ answering 403 and /truncated/<file> sending fewer bytes than it announces."""

    def __init__(self, root):
        self.root = root
        self.dir = tempfile.mkdtemp(prefix="pgmosaic-nginx-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(self.dir, "access.log")
        conf = os.path.join(self.dir, "nginx.conf")
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        with open(conf, "w") as f:
            f.write(f"""
{user}
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    log_format counted '$request_method $uri $status $body_bytes_sent "$http_range" "$http_x_pgmosaic_test"';
    access_log {self.log} counted;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
        location /forbidden/ {{ return 403; }}
    }}
}}
""")
        self.proc = subprocess.Popen([NGINX, "-c", conf, "-p", self.dir], env=clean_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, self.proc, "nginx")

    def requests(self):
        """The requests served so far: (method, uri, status, bytes, range header, the value of
        an X-Pgmosaic-Test header or "-")."""
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log) as f:
            for line in f:
                m = re.match(r'(\S+) (\S+) (\d+) (\d+) "(.*?)" "(.*)"', line)
                if m:
                    out.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4)),
                                m.group(5), m.group(6)))
        return out

    def clear_log(self):
        # nginx keeps the file open: truncate it in place.
        if os.path.exists(self.log):
            with open(self.log, "w"):
                pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class S3rver:
    """An S3-compatible server (s3rver) on 127.0.0.1 with bucket `bucket`; its log counts the
    requests. `gdal_options` are the GDAL configuration options that reach it."""

    ACCESS_KEY = "S3RVER"
    SECRET_KEY = "S3RVER"

    def __init__(self, bucket="pgmosaic"):
        self.bucket = bucket
        self.dir = tempfile.mkdtemp(prefix="pgmosaic-s3rver-")
        self.port = free_port()
        self.logpath = os.path.join(self.dir, "s3rver.log")
        self._log = open(self.logpath, "w")
        self.proc = subprocess.Popen(
            [S3RVER, "-d", os.path.join(self.dir, "data"), "-a", "127.0.0.1", "-p",
             str(self.port), "--no-vhost-buckets", "--configure-bucket", bucket],
            stdout=self._log, stderr=subprocess.STDOUT, env=clean_env())
        wait_port(self.port, self.proc, "s3rver")
        self.endpoint = f"127.0.0.1:{self.port}"
        self.gdal_options = {
            "AWS_S3_ENDPOINT": self.endpoint,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def requests(self):
        """The requests served so far: (method, path, status)."""
        self._log.flush()
        out = []
        with open(self.logpath) as f:
            for line in f:
                m = re.search(r"--> (\w+) (\S+) (\d+)", line)
                if m:
                    out.append((m.group(1), m.group(2).split("?")[0], int(m.group(3))))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class LatencyProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:`target` with `delay_ms` added each way; stops
    itself after `max_seconds`."""

    def __init__(self, target, delay_ms, max_seconds=3600):
        self.port = free_port()
        self.stats_path = tempfile.mktemp(prefix="pgmosaic-proxy-", suffix=".json")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(__file__), "latency_proxy.py"),
             "--listen", str(self.port), "--target", str(target), "--delay-ms", str(delay_ms),
             "--max-seconds", str(max_seconds), "--stats", self.stats_path],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env())
        self.proc.stdout.readline()  # "ready"
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.exists(self.stats_path):
            os.unlink(self.stats_path)
