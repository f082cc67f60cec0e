#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/ (checked in; run again only to remake them)."""
import os
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


for i, s in enumerate(["/data/a.tif", "@nas1/2020//./a.tif", "https://Example.COM/x/a.tif?s=1",
                       "/vsicurl/http://h:8080/a%2e/b.tif", "s3://bucket/key/a.tif",
                       "gs://b/k.tif", "/vsiaz/container/dir/", "/vsizip/x.zip/a.tif",
                       "//vsis3/x", "@r/../x"]):
    write("pathref", "seed%d" % i, s)

for i, s in enumerate(["0231", "4/3/9", "", "29/536870911/0", "0/0/0", "33333333333333333333333333333",
                       "12/2074/1409"]):
    write("tilekey", "seed%d" % i, s)
write("tilekey", "bits", struct.pack("<Q", (0b0110 << (5 + 2 * 27)) | 2))

for i, s in enumerate(["dbname=gis host=localhost mosaic=ortho",
                       "dbname='my db' password='s\\'ecret' METHOD=max bands=4,3,2",
                       "host=h port=5432 where='cloud_cover < 10' sort=newest ids=3,17",
                       "user=a\\ b mosaic=x time=2020-01-01/ prefetch=neighbors",
                       "application_name= dbname=x"]):
    write("conninfo", "seed%d" % i, s)

for i, s in enumerate(["(b2 - b4) / (b2 + b4) > 0.1", "b1 > 200 and b2 > 200", "not (b3 <= 10)",
                       "b1 \u00d7 2 \u00f7 b2 != 1 or b3 <> 4", "-(-1.5e3) == +b12", "1/0 = 0/0"]):
    write("expression", "seed%d" % i, s)


def wkb_point(x, y):
    return struct.pack("<BIdd", 1, 1, x, y)


def wkb_line(pts, zm=False):
    t = 3002 if zm else 2
    out = struct.pack("<BII", 1, t, len(pts))
    for x, y in pts:
        out += struct.pack("<dd", x, y) + (struct.pack("<dd", 0, 0) if zm else b"")
    return out


def wkb_polygon(rings, big=False):
    out = struct.pack(">BII", 0, 3, len(rings)) if big else struct.pack("<BII", 1, 3, len(rings))
    for r in rings:
        out += struct.pack(">I" if big else "<I", len(r))
        for x, y in r:
            out += struct.pack(">dd" if big else "<dd", x, y)
    return out


def collection(t, parts, srid=None):
    if srid is None:
        return struct.pack("<BII", 1, t, len(parts)) + b"".join(parts)
    return struct.pack("<BIII", 1, t | 0x20000000, srid, len(parts)) + b"".join(parts)


sq = [(0.2, 0.2), (0.7, 0.2), (0.7, 0.7), (0.2, 0.7), (0.2, 0.2)]
hole = [(0.3, 0.3), (0.4, 0.3), (0.4, 0.4), (0.3, 0.4), (0.3, 0.3)]
seeds = [
    (4, 2, wkb_point(0.3, 0.6)),
    (6, 3, wkb_polygon([sq, hole])),
    (5, 2, wkb_polygon([sq], big=True)),
    (7, 2, wkb_line([(0.1, 0.9), (0.8, 0.15), (0.95, 0.5)], zm=True)),
    (3, 0, collection(7, [wkb_point(261845.7, 6250566.7), wkb_polygon(
        [[(-1e6, -1e6), (2e6, -1e6), (2e6, 3e6), (-1e6, -1e6)]])], srid=3857)),
    (8, 3, collection(6, [wkb_polygon([sq]), wkb_polygon([[(0.75, 0.1), (0.9, 0.1), (0.8, 0.3)]])])),
]
for i, (zoom, flags, wkb) in enumerate(seeds):
    write("wkb_cover", "seed%d" % i, bytes([zoom, flags]) + wkb)


# TIFF layouts: 20x13, tiles of 16x16 or strips of 5 rows; blocks of varied values.
def tiff_seed(name, codec, predictor, separate, tiled, nodata, type_index, bands):
    sizes = [1, 2, 4, 8]
    flags0 = codec | (4 if predictor else 0) | (8 if separate else 0) | (16 if tiled else 0) | \
        (32 if nodata else 0)
    flags1 = type_index | ((bands - 1) << 2)
    spp = 1 if separate else bands
    planes = bands if separate else 1
    rows = [16, 16] if tiled else [5, 5, 3]
    width = 16 if tiled else 20
    out = bytes([flags0, flags1])
    k = 0
    for _ in range(planes):
        for r in rows:
            k += 1
            raw = bytes((k * 37 + i * 11 + (i // 7) * 5) % 251 for i in range(width * r * spp * sizes[type_index]))
            if codec == 1:
                block = zlib.compress(raw, 6)
            elif codec == 2:
                block = subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE,
                                       check=True).stdout
            else:
                block = raw
            out += struct.pack("<H", len(block)) + block
    write("tiff_blocks", name, out)


tiff_seed("deflate_pred_tiled_rgb_u8", 1, True, False, True, False, 0, 3)
tiff_seed("zstd_strips_u16", 2, True, False, False, False, 1, 1)
tiff_seed("none_tiled_separate_f32", 0, False, True, True, False, 2, 2)
tiff_seed("deflate_strips_separate_f64", 1, False, True, False, False, 3, 2)
tiff_seed("zstd_tiled_nodata_u16x4", 2, True, False, True, True, 1, 4)
tiff_seed("none_strips_pred_u8", 0, True, False, False, False, 0, 1)
