"""The demo's timing: one window read through PGMOSAIC: and through a gdalbuildvrt VRT of the
same files, and a check that both give the same bytes."""

import sys
import time

from osgeo import gdal

gdal.UseExceptions()


def timed_read(name, win):
    gdal.SetCacheMax(64 * 1024 * 1024)
    t0 = time.perf_counter()
    ds = gdal.Open(name)
    data = ds.ReadRaster(*win)
    return time.perf_counter() - t0, data


def main():
    mosaic, vrt = sys.argv[1], sys.argv[2]
    ds = gdal.Open(vrt)
    size = min(2048, ds.RasterXSize, ds.RasterYSize)
    win = ((ds.RasterXSize - size) // 2, (ds.RasterYSize - size) // 2, size, size)
    timed_read(vrt, win)  # warm the OS cache for both
    t_vrt, d_vrt = timed_read(vrt, win)
    t_pgm, d_pgm = timed_read(mosaic, win)
    print(f"window {win[2]}x{win[3]} at ({win[0]}, {win[1]}), all bands, open + read:")
    print(f"  gdalbuildvrt VRT : {t_vrt * 1000:8.1f} ms")
    print(f"  PGMOSAIC:        : {t_pgm * 1000:8.1f} ms   ({t_pgm / t_vrt:.2f}x the VRT)")
    print(f"  identical bytes  : {d_vrt == d_pgm}")
    if d_vrt != d_pgm:
        sys.exit("demo: PGMOSAIC and VRT disagree")


if __name__ == "__main__":
    main()
