"""Writes a QGIS 3.22 project file (.qgs) of raster layers for QGIS Server, as a desktop user
saves one: each layer by its data source (a pgmosaic path form /vsipgmosaic/<conninfo>/<mosaic>
or a file), RGB bands shown as they are (no contrast enhancement) or one band stretched
linearly from min to max, served in the project's CRS and web mercator.

Run in a process of its own (QGIS is initialised once per process):
    /usr/bin/python3 qgis_project.py OUT.qgs EPSG NAME=SOURCE[@MIN,MAX] ...
"""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (QgsApplication, QgsContrastEnhancement,  # noqa: E402
                       QgsCoordinateReferenceSystem, QgsMultiBandColorRenderer, QgsProject,
                       QgsRasterLayer, QgsSingleBandGrayRenderer)


def main(out, epsg, layers):
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem(f"EPSG:{epsg}"))
    for spec in layers:
        name, source = spec.split("=", 1)
        stretch = None
        if "@" in source:
            source, rng = source.rsplit("@", 1)
            stretch = [float(v) for v in rng.split(",")]
        layer = QgsRasterLayer(source, name, "gdal")
        if not layer.isValid():
            raise SystemExit(f"layer {name}: {source} is not valid: "
                             f"{layer.error().summary()}")
        provider = layer.dataProvider()
        if stretch:
            renderer = QgsSingleBandGrayRenderer(provider, 1)
            ce = QgsContrastEnhancement(provider.dataType(1))
            ce.setMinimumValue(stretch[0])
            ce.setMaximumValue(stretch[1])
            ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
            renderer.setContrastEnhancement(ce)
        else:
            renderer = QgsMultiBandColorRenderer(provider, 1, 2, 3)
        layer.setRenderer(renderer)
        project.addMapLayer(layer)
    project.writeEntry("WMSCrsList", "/", [f"EPSG:{epsg}", "EPSG:3857"])
    if not project.write(out):
        raise SystemExit(f"cannot write {out}")
    os.chmod(out, 0o644)
    # No exitQgis(): QGIS 3.22 may crash tearing down; the process ends here.
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
