"""PostGIS rasters in Python: a parser of the raster WKB (ST_AsBinary) for the tests and
benchmarks of functions that return rasters."""

import struct

import numpy as np

# PostGIS pixel types (the low 4 bits of a band's first byte) as numpy type codes.
PIXTYPES = {0: "u1", 1: "u1", 2: "u1", 3: "i1", 4: "u1", 5: "i2", 6: "u2", 7: "i4", 8: "u4",
            10: "f4", 11: "f8"}


class Raster:
    """A PostGIS in-db raster parsed from its WKB: srid, width, height, gt (GDAL order),
    nodata (per band, None when the band has none) and array (bands, rows, cols)."""

    def __init__(self, wkb):
        wkb = bytes(wkb)
        end = "<" if wkb[0] == 1 else ">"
        (_, self.nbands, sx, sy, ux, uy, kx, ky, self.srid, self.width,
         self.height) = struct.unpack(end + "HHddddddiHH", wkb[1:61])
        self.gt = (ux, sx, kx, uy, ky, sy)
        off = 61
        self.nodata, bands = [], []
        for _ in range(self.nbands):
            flags = wkb[off]
            if flags & 0x80:
                raise ValueError("an out-db band")
            dt = np.dtype(end + PIXTYPES[flags & 0x0F])
            off += 1
            nd = np.frombuffer(wkb, dt, 1, off)[0]
            off += dt.itemsize
            self.nodata.append(float(nd) if flags & 0x40 else None)
            n = self.width * self.height
            bands.append(np.frombuffer(wkb, dt, n, off).reshape(self.height, self.width))
            off += n * dt.itemsize
        self.array = np.stack(bands) if bands else np.zeros((0, self.height, self.width))
