"""Sample rasters for the demo, the tests and the benchmarks: grids of Cloud Optimized GeoTIFF
tiles on one pixel grid, with overlaps and nodata areas, made with GDAL in memory."""

import os

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()


def make_cog(path, array, origin, res, epsg=32631, nodata=None, blocksize=256, overviews=True):
    """Writes `array` (bands, rows, cols) as a COG with its top-left corner at `origin`."""
    bands, rows, cols = array.shape
    dtype = gdal_array_type(array.dtype)
    mem = gdal.GetDriverByName("MEM").Create("", cols, rows, bands, dtype)
    mem.SetGeoTransform((origin[0], res, 0, origin[1], 0, -res))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    mem.SetProjection(srs.ExportToWkt())
    for b in range(bands):
        band = mem.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(array[b])
    options = ["COMPRESS=DEFLATE", "PREDICTOR=2", f"BLOCKSIZE={blocksize}"]
    options.append("OVERVIEWS=AUTO" if overviews else "OVERVIEWS=NONE")
    gdal.GetDriverByName("COG").CreateCopy(path, mem, options=options)
    os.chmod(path, 0o644)
    return path


def gdal_array_type(dtype):
    return {
        np.dtype("uint8"): gdal.GDT_Byte,
        np.dtype("uint16"): gdal.GDT_UInt16,
        np.dtype("int16"): gdal.GDT_Int16,
        np.dtype("int32"): gdal.GDT_Int32,
        np.dtype("float32"): gdal.GDT_Float32,
        np.dtype("float64"): gdal.GDT_Float64,
    }[np.dtype(dtype)]


def tile_pixels(rng, bands, rows, cols, tile_index, dtype="uint8"):
    """Smooth gradients plus noise, different in every tile, never 0 (0 is the nodata value)."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    out = np.empty((bands, rows, cols), dtype=dtype)
    for b in range(bands):
        base = (xx * (b + 1) + yy * (3 - b) + tile_index * 37) % 200
        noise = rng.integers(0, 50, size=(rows, cols))
        out[b] = (base + noise + 1).astype(dtype)
    return out


def make_tile_grid(outdir, cols, rows, size, bands=3, overlap=0, nodata=0, nodata_every=0,
                   res=10.0, origin=(500000.0, 5000000.0), epsg=32631, seed=42, blocksize=256,
                   size_jitter=0):
    """A grid of cols x rows COG tiles of about `size` pixels, neighbours overlapping by `overlap`
    pixels. Every `nodata_every`-th tile gets a nodata triangle in a corner. With `size_jitter`,
    tile sizes vary so they are not multiples of the block size. Returns the paths in row-major
    order (the order a file list would give gdalbuildvrt)."""
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o755)
    rng = np.random.default_rng(seed)
    step = size - overlap
    paths = []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            w = size + (int(rng.integers(0, size_jitter + 1)) if size_jitter else 0)
            h = size + (int(rng.integers(0, size_jitter + 1)) if size_jitter else 0)
            data = tile_pixels(rng, bands, h, w, i)
            if nodata is not None and nodata_every and i % nodata_every == 0:
                yy, xx = np.mgrid[0:h, 0:w]
                data[:, (xx + yy) < min(w, h) // 2] = nodata
            x0 = origin[0] + c * step * res
            y0 = origin[1] - r * step * res
            path = os.path.join(outdir, f"tile_r{r:03d}_c{c:03d}.tif")
            make_cog(path, data, (x0, y0), res, epsg=epsg, nodata=nodata, blocksize=blocksize)
            paths.append(path)
    return paths
