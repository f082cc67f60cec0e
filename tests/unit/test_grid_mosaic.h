// What the unit tests of the compositing reader, the overview build and zonal statistics share: a mosaic on
// a 1 m grid of EPSG:32631 whose pixel (0, 0) has its corner at (0, 100).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "cpl_conv.h"
#include "cpl_string.h"
#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "catalog.h"

inline std::string Wkt32631()
{
    OGRSpatialReference srs;
    srs.importFromEPSG(32631);
    char* wkt = nullptr;
    srs.exportToWkt(&wkt);
    std::string out = wkt;
    CPLFree(wkt);
    return out;
}

// A one-band mosaic "t" of width x height pixels of that grid.
inline pgmosaic::MosaicInfo GridMosaic(GDALDataType type, std::optional<double> nodata,
                                       int width = 100, int height = 100)
{
    pgmosaic::MosaicInfo m;
    m.name = "t";
    m.srid = 32631;
    m.srsWkt = Wkt32631();
    m.gt = {0, 1, 0, 100, 0, -1};
    m.width = width;
    m.height = height;
    m.bandCount = 1;
    m.dataType = type;
    m.nodata = nodata;
    return m;
}

// A one-band raster of `type` filled with `value`, its corner at mosaic pixel (col, row) of a
// 1 m grid anchored at (0, 100); GTiff creation options as "KEY=VALUE"; the file is
// /vsimem/<prefix>_<id>.tif.
inline pgmosaic::ItemRef MakeItem(int id, int col, int row, int w, int h, GDALDataType type,
                                  double value, std::optional<double> nodata = std::nullopt,
                                  const std::vector<std::string>& options = {},
                                  const std::string& prefix = "composite")
{
    const std::string path = "/vsimem/" + prefix + "_" + std::to_string(id) + ".tif";
    auto* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    CPLStringList createOptions;
    for (const std::string& o : options)
        createOptions.AddString(o.c_str());
    GDALDatasetUniquePtr ds(drv->Create(path.c_str(), w, h, 1, type, createOptions.List()));
    double gt[6] = {static_cast<double>(col), 1, 0, 100.0 - row, 0, -1};
    ds->SetGeoTransform(gt);
    ds->SetProjection(Wkt32631().c_str());
    GDALRasterBand* band = ds->GetRasterBand(1);
    if (nodata)
        band->SetNoDataValue(*nodata);
    band->Fill(value);
    pgmosaic::ItemRef item;
    item.id = id;
    item.path = path;
    item.srid = 32631;
    std::copy(gt, gt + 6, item.gt.begin());
    item.width = w;
    item.height = h;
    return item;
}
