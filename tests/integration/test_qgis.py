"""What a QGIS 3.22 desktop user sees (python3-qgis, offscreen): the sub-dataset chooser names
mosaics first, the mosaic renders like a VRT of the same files, and the items layer can be saved
as a GeoPackage or a shapefile."""

import os

import pytest
from osgeo import gdal

import sampledata

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
qgis_core = pytest.importorskip("qgis.core")
from qgis.core import (QgsApplication, QgsContrastEnhancement,  # noqa: E402
                       QgsCoordinateTransformContext, QgsMapRendererSequentialJob,
                       QgsMapSettings, QgsMultiBandColorRenderer, QgsProviderRegistry,
                       QgsProviderUtils,
                       QgsProviderSublayerDetails, QgsRasterLayer, QgsRectangle,
                       QgsVectorFileWriter, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize  # noqa: E402


@pytest.fixture(scope="module")
def qgis():
    app = QgsApplication([], False)
    app.initQgis()
    yield app  # not exitQgis(): QGIS 3.22 may crash tearing down in a process that goes on


@pytest.fixture(scope="module")
def tiles(datadir, db):
    d = os.path.join(datadir, "qgis_tiles")
    paths = sampledata.make_tile_grid(d, 3, 2, 256, overlap=16, nodata_every=2)
    db.register("qgis_rgb", paths, [d])
    return paths


def fixed_stretch(layer):
    """The same renderer on both layers: bands 1-3, 0..255 (no statistics involved)."""
    r = QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3)
    for band, setter in ((1, r.setRedContrastEnhancement), (2, r.setGreenContrastEnhancement),
                         (3, r.setBlueContrastEnhancement)):
        ce = QgsContrastEnhancement(layer.dataProvider().dataType(band))
        ce.setMinimumValue(0)
        ce.setMaximumValue(255)
        ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        setter(ce)
    layer.setRenderer(r)


def render(layer, extent, size):
    s = QgsMapSettings()
    s.setLayers([layer])
    s.setDestinationCrs(layer.crs())
    s.setOutputSize(QSize(size, size))
    s.setExtent(extent)
    job = QgsMapRendererSequentialJob(s)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    return bytes(img.constBits().asstring(img.sizeInBytes()))


def test_sub_dataset_chooser_names_the_mosaic_first(qgis, db, tiles):
    subs = QgsProviderRegistry.instance().querySublayers(f"PGMOSAIC:{db.conninfo}")
    rasters = [s for s in subs if s.providerKey() == "gdal"]
    assert [s.name() for s in rasters] == [f"PGMOSAIC:mosaic=qgis_rgb {db.conninfo}"]
    layer = rasters[0].toLayer(QgsProviderSublayerDetails.LayerOptions(
        QgsCoordinateTransformContext()))
    assert layer.isValid() and layer.name().startswith("PGMOSAIC:mosaic=qgis_rgb ")
    assert "qgis_rgb.items" in [s.name() for s in subs if s.providerKey() == "ogr"]


def test_path_form_gives_the_layer_the_mosaic_name(qgis, db, tiles):
    # QGIS names a layer added by its data source after the base name: for
    # "PGMOSAIC:host=127.0.0.1 ..." that was "PGMOSAIC:host=127.0.0"; the path form ends in the
    # mosaic.
    path = f"/vsipgmosaic/{db.conninfo}/qgis_rgb"
    assert QgsProviderUtils.suggestLayerNameFromFilePath(path) == "qgis_rgb"
    layer = QgsRasterLayer(path, QgsProviderUtils.suggestLayerNameFromFilePath(path), "gdal")
    assert layer.isValid() and layer.bandCount() == 3
    assert layer.extent() == QgsRasterLayer(db.mosaic("qgis_rgb"), "m", "gdal").extent()


def test_mosaic_renders_like_the_vrt_at_three_scales(qgis, db, tiles, tmp_path):
    vrt = str(tmp_path / "tiles.vrt")
    gdal.BuildVRT(vrt, tiles).FlushCache()
    mosaic = QgsRasterLayer(db.mosaic("qgis_rgb"), "mosaic", "gdal")
    reference = QgsRasterLayer(vrt, "vrt", "gdal")
    assert mosaic.isValid() and reference.isValid()
    assert mosaic.extent() == reference.extent()
    for layer in (mosaic, reference):
        fixed_stretch(layer)
    full = mosaic.extent()
    # one screen pixel per mosaic pixel over a corner, then the whole mosaic at 1/2 and 1/4
    corner = QgsRectangle(full.xMinimum(), full.yMaximum() - 2560, full.xMinimum() + 2560,
                          full.yMaximum())
    for extent, size in ((corner, 256), (full, int(full.width() / 20)),
                         (full, int(full.width() / 40))):
        a, b = render(mosaic, extent, size), render(reference, extent, size)
        assert len(a) == size * size * 4
        assert len(set(a)) > 16  # painted, not blank
        assert a == b, f"render of {extent.toString()} at {size} px differs from the VRT's"


def test_items_layer_saves_as_geopackage_and_shapefile(qgis, db, tiles, tmp_path):
    items = QgsVectorLayer(db.mosaic("qgis_rgb") + "|layername=items", "items", "ogr")
    assert items.isValid() and items.featureCount() == len(tiles)
    names = [f.name() for f in items.fields()]
    assert "statistics" in names and "attributes" in names
    for driver, ext in (("GPKG", "gpkg"), ("ESRI Shapefile", "shp")):
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = driver
        out = str(tmp_path / f"items.{ext}")
        err, msg = QgsVectorFileWriter.writeAsVectorFormatV3(
            items, out, QgsCoordinateTransformContext(), options)[:2]
        assert err == QgsVectorFileWriter.NoError, f"{driver}: {msg}"
        saved_ds = gdal.OpenEx(out, gdal.OF_VECTOR)
        saved = saved_ds.GetLayer(0)
        assert saved.GetFeatureCount() == len(tiles)
        if driver == "GPKG":
            f = saved.GetNextFeature()
            assert '"mean"' in f["statistics"]
