// What the unit tests of the compositing reader and of the overview build share: a mosaic on
// a 1 m grid of EPSG:32631 whose pixel (0, 0) has its corner at (0, 100).
#pragma once

#include <optional>
#include <string>

#include "cpl_conv.h"
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
